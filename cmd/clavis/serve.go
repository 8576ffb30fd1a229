package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/clavisiam/clavis/internal/gctune"
	"github.com/clavisiam/clavis/internal/node"
)

// serve is `clavis serve`: it listens on cfg.Addr, builds the app, logs
// the address it really got, and serves until ctx ends (SIGINT or SIGTERM
// in main). It listens first so that a taken port fails before any
// migration runs, and so that a public URL derived from a port-0 address
// names the port actually taken. A stop that arrives while starting is
// not an error.
func serve(ctx context.Context, cfg Config, log *slog.Logger, _ io.Writer) error {
	log.Info("starting clavis", "version", version)
	defer gctune.Start(os.Getenv)()
	shutdownTelemetry, err := setupTelemetry(ctx)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := shutdownTelemetry(sctx); err != nil {
			log.Warn("telemetry did not flush", "error", err)
		}
	}()
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		if ctx.Err() != nil {
			log.Info("stopped while starting", "error", err)
			return nil
		}
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	if cfg.PublicURL == defaultPublicURL(cfg.Addr) {
		cfg.PublicURL = defaultPublicURL(ln.Addr().String())
	}
	log.Debug("configuration", "config", cfg)
	cfg.Version = version
	n, err := node.New(ctx, cfg.Config, log)
	if err != nil {
		ln.Close()
		if ctx.Err() != nil {
			log.Info("stopped while starting", "error", err)
			return nil
		}
		return err
	}
	log.Info("listening", "addr", ln.Addr().String(), "public_url", cfg.PublicURL)
	return n.Run(ctx, ln)
}
