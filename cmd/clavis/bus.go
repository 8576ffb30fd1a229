package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/clavisiam/clavis/eventstore/relay"
)

// bus is the node's NATS connection, and the embedded server when there
// is no external one.
type bus struct {
	nc     *nats.Conn
	server *server.Server
	names  relay.Names
}

// openBus connects to the NATS server cfg names, or starts the embedded
// one with JetStream under {data-dir}/nats. An external server that is
// down at start is not fatal: the connection keeps retrying, commands keep
// succeeding, and the relay catches up once NATS is reachable.
func openBus(cfg Config, log *slog.Logger) (*bus, error) {
	names, err := relay.NewNames(cfg.NATSPrefix)
	if err != nil {
		return nil, err
	}
	opts := []nats.Option{
		nats.Name("clavis " + version),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("NATS connection lost; events wait in the store", "error", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("NATS connection restored", "server", nc.ConnectedUrlRedacted())
		}),
	}
	b := &bus{names: names}
	if cfg.NATSURL == "" {
		dir := filepath.Join(cfg.DataDir, "nats")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create nats store dir: %w", err)
		}
		b.server, err = relay.StartServer(relay.ServerConfig{StoreDir: dir, Listen: cfg.NATSListen, Logger: log})
		if err != nil {
			return nil, err
		}
		if cfg.NATSListen != "off" {
			log.Info("embedded NATS listening", "url", b.server.ClientURL())
		}
		opts = append(opts, nats.InProcessServer(b.server))
		b.nc, err = nats.Connect("", opts...)
	} else {
		opts = append(opts, nats.RetryOnFailedConnect(true))
		if cfg.NATSCreds != "" {
			opts = append(opts, nats.UserCredentials(cfg.NATSCreds))
		}
		if cfg.NATSTLSCA != "" {
			opts = append(opts, nats.RootCAs(cfg.NATSTLSCA))
		}
		if cfg.NATSTLSCert != "" {
			opts = append(opts, nats.ClientCert(cfg.NATSTLSCert, cfg.NATSTLSKey))
		}
		b.nc, err = nats.Connect(cfg.NATSURL, opts...)
	}
	if err != nil {
		b.close()
		return nil, fmt.Errorf("connect to nats: %w", err)
	}
	return b, nil
}

// close drains the connection and stops the embedded server.
func (b *bus) close() {
	if b.nc != nil {
		_ = b.nc.Drain()
		b.nc.Close()
	}
	if b.server != nil {
		b.server.Shutdown()
		b.server.WaitForShutdown()
	}
}
