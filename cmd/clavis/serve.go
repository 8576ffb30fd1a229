package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	httpapi "github.com/clavisiam/clavis/http"
)

// shutdownTimeout bounds the wait for requests in flight on shutdown.
const shutdownTimeout = 10 * time.Second

// app is one Clavis node, wired: its store and the HTTP server over it.
type app struct {
	log   *slog.Logger
	store backend
	http  *httpapi.Server
	// rootToken is the platform operator's bearer token, resolved at start
	// (given, reused from its file, or generated).
	rootToken string
}

// newApp builds a node from cfg: it resolves the root token, opens (and,
// if cfg.Migrate, migrates) the store, and builds the HTTP app. It is the
// one constructor: serve and the component tests both build the app here.
// The caller runs it with run, or releases it with close.
func newApp(ctx context.Context, cfg Config, log *slog.Logger) (*app, error) {
	token, err := rootToken(cfg, log)
	if err != nil {
		return nil, err
	}
	store, err := openStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	if !cfg.Migrate {
		warnPending(ctx, store, log)
	}
	srv, err := httpapi.New(httpapi.Config{}, store, log)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("build http app: %w", err)
	}
	return &app{log: log, store: store, http: srv, rootToken: token}, nil
}

// warnPending logs when migrations are off and some are not applied: the
// store will fail until someone runs `clavis migrate up`.
func warnPending(ctx context.Context, store backend, log *slog.Logger) {
	st, err := store.MigrationStatus(ctx)
	if err != nil {
		log.Warn("could not read the migration status", "error", err)
		return
	}
	var pending []int64
	for _, m := range st {
		if !m.Applied {
			pending = append(pending, m.Version)
		}
	}
	if len(pending) > 0 {
		log.Warn("migrations are off and some are pending; run clavis migrate up", "pending", pending)
	}
}

// run serves HTTP on ln until ctx ends (or serving fails), then shuts
// the server down gracefully, waiting up to shutdownTimeout for requests
// in flight, and closes the store. It returns nil after a clean stop.
func (a *app) run(ctx context.Context, ln net.Listener) error {
	served := make(chan error, 1)
	go func() { served <- a.http.Serve(ln) }()

	var serveErr error
	select {
	case serveErr = <-served:
		// Serving failed on its own; still stop cleanly below.
	case <-ctx.Done():
		a.log.Info("shutting down")
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	shutErr := a.http.Shutdown(sctx)
	if serveErr == nil {
		serveErr = <-served
	}
	err := errors.Join(serveErr, shutErr, a.close())
	if err == nil {
		a.log.Info("stopped")
	}
	return err
}

// close releases the store.
func (a *app) close() error {
	if err := a.store.Close(); err != nil {
		return fmt.Errorf("close event store: %w", err)
	}
	return nil
}

// serve is `clavis serve`: it listens on cfg.Addr, builds the app, logs
// the address it really got, and serves until ctx ends (SIGINT or SIGTERM
// in main). It listens first so that a taken port fails before any
// migration runs, and so that a public URL derived from a port-0 address
// names the port actually taken. A stop that arrives while starting is
// not an error.
func serve(ctx context.Context, cfg Config, log *slog.Logger, _ io.Writer) error {
	log.Info("starting clavis", "version", version)
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
	a, err := newApp(ctx, cfg, log)
	if err != nil {
		ln.Close()
		if ctx.Err() != nil {
			log.Info("stopped while starting", "error", err)
			return nil
		}
		return err
	}
	log.Info("listening", "addr", ln.Addr().String(), "public_url", cfg.PublicURL)
	return a.run(ctx, ln)
}
