package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/relay"
	"github.com/clavisiam/clavis/eventstore/traced"
	httpapi "github.com/clavisiam/clavis/http"
	"github.com/clavisiam/clavis/http/oauth"
	"github.com/clavisiam/clavis/http/oauth/bucket"
	"github.com/clavisiam/clavis/internal/gctune"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/projections/cache"
	"github.com/clavisiam/clavis/projections/feed"
	"github.com/clavisiam/clavis/tenants"
	"github.com/clavisiam/clavis/tenants/signing"
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
	// projector keeps the read model in the store's database; the admin
	// API waits on it for read-your-writes.
	projector *projections.Projector
	// bus is the NATS connection (and the embedded server); relay carries
	// committed events to it and feed brings them to the projector.
	bus   *bus
	relay *relay.Relay
	feed  *feed.Feed
	// stopRevocations ends the follower of the revocation bucket.
	stopRevocations context.CancelFunc
	// admin holds the command services and the read model the API uses.
	admin httpapi.Admin
}

// The token path's cache: how long an entry may live without an event
// evicting it (what a deactivation may take to apply while NATS is away),
// and how many tenants and clients it holds.
const (
	tokenCacheTTL  = 10 * time.Second
	tokenCacheSize = 200_000
)

// newApp builds a node from cfg: it resolves the root token, opens (and,
// if cfg.Migrate, migrates) the store, and builds the HTTP app. It is the
// one constructor: serve and the component tests both build the app here.
// The caller runs it with run, or releases it with close.
func newApp(ctx context.Context, cfg Config, log *slog.Logger) (*app, error) {
	token, err := rootToken(cfg, log)
	if err != nil {
		return nil, err
	}
	keys, err := masterKeys(cfg, log)
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
	b, err := openBus(cfg, log)
	if err != nil {
		store.Close()
		return nil, err
	}
	fail := func(err error) (*app, error) {
		b.close()
		store.Close()
		return nil, err
	}
	rl, err := relay.New(store, b.nc, b.names, relay.WithLogger(log), relay.WithReplicas(cfg.NATSReplicas))
	if err != nil {
		return fail(err)
	}
	// Commands append through a store that traces each append and wakes
	// the relay on every node.
	commands := traced.Store(relay.Waking(store, b.nc, b.names, rl.Wake))
	admin, projector, err := adminAPI(cfg, store, commands, token, keys, log)
	if err != nil {
		return fail(fmt.Errorf("build admin api: %w", err))
	}
	fd, err := feed.New(store, b.nc, b.names, projector, log)
	if err != nil {
		return fail(err)
	}
	// The token path reads tenants and clients from memory; the feed
	// evicts what its events change.
	hot, err := cache.New(admin.ReadModel, tokenCacheTTL, tokenCacheSize)
	if err != nil {
		return fail(err)
	}
	fd.Observe(hot.Invalidate)
	js, err := jetstream.New(b.nc)
	if err != nil {
		return fail(err)
	}
	// Revocations live in NATS, followed until the app closes.
	rctx, stopRevocations := context.WithCancel(context.Background())
	revoked := bucket.NewRevocations(rctx, js, b.names.RevokedBucket(), cfg.NATSReplicas, log)
	fail = func(err error) (*app, error) {
		stopRevocations()
		b.close()
		store.Close()
		return nil, err
	}
	assertions := bucket.NewAssertions(js, b.names.AssertionsBucket(), cfg.NATSReplicas)
	grants := bucket.NewGrants(js, b.names.GrantsPrefix(), cfg.NATSReplicas, cfg.GrantsMaxBytes)
	opts := []oauth.Option{oauth.WithRevocations(revoked), oauth.WithAssertions(assertions), oauth.WithGrants(grants)}
	if cfg.DevLogin {
		log.Warn("the development login page is on: anyone may sign in as anyone at tenants without a login application")
		opts = append(opts, oauth.WithDevLogin())
	}
	if cfg.JWKSAllowPrivate {
		log.Warn("jwks_uri key sets are fetched from private networks too: whoever may register a client can make this node call them")
		opts = append(opts, oauth.WithKeySetFetching(oauth.KeySetFetching{AllowPrivateNetworks: true}))
	}
	provider, err := oauth.New(hot, keys, cfg.PublicURL, log, opts...)
	if err != nil {
		return fail(err)
	}
	// Tenant admin tokens: access tokens of a tenant's own token endpoint.
	admin.Auth = httpapi.Authenticators(admin.Auth, httpapi.AccessTokens(provider))
	srv, err := httpapi.New(httpapi.Config{}, store, log, httpapi.WithAdmin(admin), httpapi.WithOAuth(provider), httpapi.WithCORS(hot), httpapi.WithReadiness(
		httpapi.ReadyCheck{Name: "revocations loaded", Check: func(context.Context) error {
			if !revoked.Loaded() {
				return errors.New("the revoked tokens are not loaded from NATS yet")
			}
			return nil
		}},
		httpapi.ReadyCheck{Name: "NATS connection", Check: func(context.Context) error {
			if !b.nc.IsConnected() {
				return errors.New("not connected to NATS")
			}
			return nil
		}},
		httpapi.ReadyCheck{Name: "projections caught up", Check: func(ctx context.Context) error {
			st, err := projector.Status(ctx)
			if err != nil {
				return err
			}
			if !st.CaughtUp && st.Lag > maxReadyLag {
				return fmt.Errorf("read model %s behind the store", st.Lag)
			}
			return nil
		}},
	))
	if err != nil {
		return fail(fmt.Errorf("build http app: %w", err))
	}
	return &app{log: log, store: store, http: srv, rootToken: token, projector: projector, bus: b, relay: rl, feed: fd, admin: admin,
		stopRevocations: stopRevocations}, nil
}

// maxReadyLag is how far behind the store the read model may be while
// the node still calls itself ready.
const maxReadyLag = 5 * time.Second

// adminAPI builds what the admin API needs: the read model in the store's
// own database, the projector that keeps it (the API's read-your-writes
// Waiter), the command services appending through commands, and the root
// token's authenticator. Nothing here touches the database yet.
func adminAPI(cfg Config, store backend, commands eventstore.Store, token string, keys *signing.Keyring, log *slog.Logger) (httpapi.Admin, *projections.Projector, error) {
	rm, err := readModel(store)
	if err != nil {
		return httpapi.Admin{}, nil, err
	}
	projector, err := projections.NewProjector(rm, store, log)
	if err != nil {
		return httpapi.Admin{}, nil, err
	}
	ts, err := tenants.NewTenants(commands, keys, tenants.WithLogger(log))
	if err != nil {
		return httpapi.Admin{}, nil, err
	}
	cs, err := tenants.NewClients(commands, tenants.WithLogger(log), tenants.WithCatalogues(rm), tenants.WithSecretSealer(keys))
	if err != nil {
		return httpapi.Admin{}, nil, err
	}
	auth, err := httpapi.RootToken(token)
	if err != nil {
		return httpapi.Admin{}, nil, err
	}
	return httpapi.Admin{Tenants: ts, Clients: cs, ReadModel: rm, Waiter: projector, Auth: auth, PublicURL: cfg.PublicURL}, projector, nil
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
	// The read model first catches up from the store, so that the node is
	// ready at once; then the feed keeps it current from NATS.
	if err := a.projector.CatchUp(ctx); err != nil && ctx.Err() == nil {
		a.log.Warn("the read model could not catch up with the event store", "error", err)
	}
	if reg, err := registerMetrics(a); err != nil {
		a.log.Warn("metrics unavailable", "error", err)
	} else {
		defer reg.Unregister()
	}
	pctx, stopPipeline := context.WithCancel(context.WithoutCancel(ctx))
	var pipeline sync.WaitGroup
	pipeline.Go(func() { _ = a.relay.Run(pctx) })
	pipeline.Go(func() { _ = a.feed.Run(pctx) })
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
	stopPipeline()
	pipeline.Wait()
	err := errors.Join(serveErr, shutErr, a.close())
	if err == nil {
		a.log.Info("stopped")
	}
	return err
}

// close releases the NATS connection (and the embedded server) and the
// store.
func (a *app) close() error {
	a.stopRevocations()
	a.bus.close()
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
