package node

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/clavisiam/clavis/eventstore/natsserver"
	"github.com/clavisiam/clavis/eventstore/subject"
)

// bus is the node's NATS connection, and the embedded server when there
// is no external one.
type bus struct {
	nc     *nats.Conn
	server *server.Server
	names  subject.Names
}

// openBus connects to the NATS server cfg names, or starts the embedded
// one with JetStream under {data-dir}/nats. An external server that is
// down at start is not fatal: the connection keeps retrying, commands keep
// succeeding, and the relay catches up once NATS is reachable.
func openBus(cfg Config, log *slog.Logger) (*bus, error) {
	names, err := subject.NewNames(cfg.NATSPrefix)
	if err != nil {
		return nil, err
	}
	opts := []nats.Option{
		nats.Name("clavis " + cfg.Version),
		// Replies to the node carry secret hashes, sealed keys and grants:
		// they go to an inbox only the node's user may subscribe to.
		nats.CustomInboxPrefix(names.InboxPrefix()),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		// A server that hangs (paused, swapping, partitioned without a
		// reset) keeps the TCP connection open: only unanswered pings
		// tell. The node leaves it once maxPingsOut pings in a row went
		// unanswered, within (maxPingsOut+1)×pingInterval = 9 s, not the
		// four minutes of nats.go's defaults (see pingInterval).
		nats.PingInterval(pingInterval),
		nats.MaxPingsOutstanding(maxPingsOut),
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
		// Local subscribers connect without credentials and may only
		// subscribe to the public events; the node itself uses a password kept beside
		// the root token (mode 0600), so an operator can use it too.
		password, _, err := secretFile(filepath.Join(cfg.DataDir, NATSPasswordFile), log)
		if err != nil {
			return nil, err
		}
		b.server, err = natsserver.Start(dir, natsserver.WithListen(cfg.NATSListen), natsserver.WithLogger(log), natsserver.WithPassword(password), natsserver.WithNames(names))
		if err != nil {
			return nil, err
		}
		if cfg.NATSListen != "off" {
			log.Info("embedded NATS listening; without credentials it serves the public events only, live",
				"url", b.server.ClientURL(), "user", natsserver.InternalUser, "password_file", filepath.Join(cfg.DataDir, NATSPasswordFile))
		}
		opts = append(opts, nats.InProcessServer(b.server), nats.UserInfo(natsserver.InternalUser, password))
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

// A node pings its NATS server every pingInterval and leaves it for
// another once maxPingsOut pings are unanswered: a hung server is left
// at most (maxPingsOut+1)×pingInterval = 9 s after its last answer. That
// is under the ten seconds a NATS cluster takes to elect new stream
// leaders away from a server that stopped answering, so the node is on a
// live server by the time the buckets and streams are served again,
// while a server that stalls for a few seconds under load (a long fsync,
// a garbage collection: up to 6 s) keeps its clients. A ping is a few
// bytes: a node's pings cost nothing.
const (
	pingInterval = 3 * time.Second
	maxPingsOut  = 2
)

// NATSPasswordFile holds the embedded NATS server's password for its
// internal user, in the data dir.
const NATSPasswordFile = "nats-password"

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
