// Package node builds one Clavis node from its configuration: the event
// store, the NATS bus (or the embedded server), the relay and the feed
// between them, the read model and its projector, the command services,
// the OAuth 2.0 provider and the HTTP server over all of them. `clavis
// serve` and the tests that start a node both build it here, so that a
// test runs what the binary runs.
package node

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/relay"
	"github.com/clavisiam/clavis/eventstore/traced"
	httpapi "github.com/clavisiam/clavis/http"
	"github.com/clavisiam/clavis/http/console"
	"github.com/clavisiam/clavis/http/guess"
	"github.com/clavisiam/clavis/http/oauth"
	"github.com/clavisiam/clavis/http/oauth/bucket"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/projections/auditlog"
	"github.com/clavisiam/clavis/projections/cache"
	"github.com/clavisiam/clavis/projections/feed"
	"github.com/clavisiam/clavis/projections/wake"
	"github.com/clavisiam/clavis/projections/webhooks"
	"github.com/clavisiam/clavis/projections/webhooks/deliver"
	"github.com/clavisiam/clavis/tenants"
	"github.com/clavisiam/clavis/tenants/signing"
)

// shutdownTimeout bounds the wait for requests in flight on shutdown.
const shutdownTimeout = 10 * time.Second

// Node is one Clavis node, wired: its store and the HTTP server over it,
// and the pieces between them that tests and metrics look at.
type Node struct {
	log   *slog.Logger
	Store Backend
	HTTP  *httpapi.Server
	// RootToken is the platform operator's bearer token, resolved at start
	// (given, reused from its file, or generated).
	RootToken string
	// Projector keeps the read model in the store's database; the admin
	// API waits on it for read-your-writes.
	Projector *projections.Projector
	// bus is the NATS connection (and the embedded server); Relay carries
	// committed events to it and Feed brings them to the projector.
	bus   *bus
	Relay *relay.Relay
	Feed  *feed.Feed
	// stopRevocations ends the follower of the revocation bucket.
	stopRevocations context.CancelFunc
	// Admin holds the command services and the read model the API uses.
	Admin httpapi.Admin
	// Audit is the tenants' audit log, kept in the store's database from
	// the event store itself; auditWake wakes it when the projector has
	// applied events.
	Audit     *auditlog.Log
	auditWake chan struct{}
	// Wake tells the readers of a tenant's events on this node (the
	// events API, its streams, the webhook deliverers) that the tenant
	// has something new: what this node applied and what the feed
	// brought from the others.
	Wake *wake.Hub
	// Webhooks projects the webhook streams into WebhookStore, which also
	// holds the endpoints' delivery cursors and attempt log.
	Webhooks     *webhooks.Projection
	WebhookStore webhooks.Store
	webhookWake  chan struct{}
	// WebhookCommands is the webhook command service. Deliverer pushes
	// the tenants' events to their webhook endpoints, sends pings and
	// resends on the admin API's request, and disables, through
	// WebhookCommands, endpoints that fail for too long.
	WebhookCommands *tenants.Webhooks
	Deliverer       *deliver.Deliverer
}

// Option adjusts what no setting of Config reaches: a program that
// embeds a node, such as a test, tunes the OAuth 2.0 provider with it.
type Option func(*options)

type options struct {
	events    []func(*httpapi.Events)
	oauth     []oauth.Option
	auditKeys auditlog.Keys
	audit     []auditlog.Option
	deliver   []deliver.Option
	guesses   []guess.Option
}

// WithGuesses adds opts to the options of the node's guess limiter (its
// limits and clock), which the OAuth provider, the admin API and the
// console share.
func WithGuesses(opts ...guess.Option) Option {
	return func(o *options) { o.guesses = append(o.guesses, opts...) }
}

// WithOAuth adds opts to the OAuth 2.0 provider's options, after the
// ones cfg implies, so that they win over them.
func WithOAuth(opts ...oauth.Option) Option {
	return func(o *options) { o.oauth = append(o.oauth, opts...) }
}

// WithEvents adjusts the events API's settings (its heartbeat and
// limits) before the HTTP app is built.
func WithEvents(adjust func(*httpapi.Events)) Option {
	return func(o *options) { o.events = append(o.events, adjust) }
}

// The token path's cache: how long an entry may live without an event
// evicting it (what a deactivation may take to apply while NATS is away),
// and how many tenants and clients it holds.
const (
	tokenCacheTTL  = 10 * time.Second
	tokenCacheSize = 200_000
)

// New builds a node from cfg: it resolves the root token, opens (and,
// if cfg.Migrate, migrates) the store, and builds the HTTP app. It is the
// one constructor: serve and the component tests both build the node
// here. The caller runs it with Run, or releases it with Close.
func New(ctx context.Context, cfg Config, log *slog.Logger, opts ...Option) (*Node, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	token, err := LoadRootToken(cfg, log)
	if err != nil {
		return nil, err
	}
	keys, err := LoadMasterKeys(cfg, log)
	if err != nil {
		return nil, err
	}
	store, err := OpenStore(ctx, cfg, log)
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
	fail := func(err error) (*Node, error) {
		b.close()
		store.Close()
		return nil, err
	}
	// The audit log lives in the store's database; the relay publishes
	// its checkpoints, for it is the public stream's one writer.
	auditStore, err := AuditStore(store)
	if err != nil {
		return fail(err)
	}
	rl, err := relay.New(store, b.nc, b.names, relay.WithLogger(log), relay.WithReplicas(cfg.NATSReplicas),
		relay.WithAnnouncer(checkpointAnnouncer(auditStore, b.names)))
	if err != nil {
		return fail(err)
	}
	// Commands append through a store that traces each append, wakes
	// the relay on every node and this node's readers of the tenant's
	// events.
	hub := wake.New()
	commands := traced.Store(relay.Waking(wakingAppends{Store: store, hub: hub}, b.nc, b.names, rl.Wake))
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
	projector.Observe(hub.Observe)
	fd.Observe(hub.Observe)
	// What this node applies it evicts before the admin API, waiting on
	// the projector, answers the write: read-your-writes holds for the
	// token path too. The feed evicts what other nodes applied.
	projector.Observe(hot.Invalidate)
	js, err := jetstream.New(b.nc)
	if err != nil {
		return fail(err)
	}
	// Revocations live in NATS, followed until the app closes.
	rctx, stopRevocations := context.WithCancel(context.Background())
	revoked := bucket.NewRevocations(rctx, js, b.names.RevokedBucket(), cfg.NATSReplicas, log)
	fail = func(err error) (*Node, error) {
		stopRevocations()
		b.close()
		store.Close()
		return nil, err
	}
	// The audit log reads the event store itself; the projector only
	// tells it when there is something new, so it never depends on NATS
	// delivering.
	if o.auditKeys == nil {
		o.auditKeys = admin.Tenants // each tenant's own audit key
	}
	audit, err := auditLog(auditStore, store, rl, log, o)
	if err != nil {
		return fail(err)
	}
	auditWake := make(chan struct{}, 1)
	projector.Observe(func([]eventstore.Event) {
		select {
		case auditWake <- struct{}{}:
		default:
		}
	})
	whp, whs, webhookWake, observeWebhooks, err := webhookProjection(store, log)
	if err != nil {
		return fail(err)
	}
	projector.Observe(observeWebhooks)
	webhookCommands, err := tenants.NewWebhooks(commands, keys, whs, tenants.WithLogger(log))
	if err != nil {
		return fail(fmt.Errorf("build webhook service: %w", err))
	}
	deliverer, err := webhookDeliverer(cfg, whs, store, webhookCommands.Disabler(), keys, hub, log, o.deliver)
	if err != nil {
		return fail(err)
	}
	webhookRoutes := webhookAdmin(webhookCommands, whs, whp, deliverer)
	assertions := bucket.NewAssertions(js, b.names.AssertionsBucket(), cfg.NATSReplicas)
	grants := bucket.NewGrants(js, b.names.GrantsPrefix(), cfg.NATSReplicas, cfg.GrantsMaxBytes)
	// One guess limiter for every credential: a source's failures count
	// together at the OAuth endpoints, the admin API and the console.
	guesses, err := guess.New(o.guesses...)
	if err != nil {
		return fail(err)
	}
	popts := []oauth.Option{oauth.WithRevocations(revoked), oauth.WithAssertions(assertions), oauth.WithGrants(grants), oauth.WithGuesses(guesses)}
	if cfg.DevLogin {
		log.Warn("the development login page is on: anyone may sign in as anyone at tenants without a login application")
		popts = append(popts, oauth.WithDevLogin())
	}
	popts = append(popts, rateLimits(cfg)...)
	if cfg.JWKSAllowPrivate {
		log.Warn("jwks_uri key sets are fetched from private networks too: whoever may register a client can make this node call them")
		popts = append(popts, oauth.WithKeySetFetching(oauth.KeySetFetching{AllowPrivateNetworks: true}))
	}
	provider, err := oauth.New(hot, keys, cfg.PublicURL, log, append(popts, o.oauth...)...)
	if err != nil {
		return fail(err)
	}
	// Tenant admin tokens: access tokens of a tenant's own token endpoint.
	admin.Auth = httpapi.Authenticators(admin.Auth, httpapi.AccessTokens(provider))
	proxies, err := httpapi.ParseTrustedProxies(cfg.TrustedProxies)
	if err != nil {
		return fail(fmt.Errorf("trusted proxies: %w", err))
	}
	events := httpapi.Events{Wake: hub}
	for _, adjust := range o.events {
		adjust(&events)
	}
	srv, err := httpapi.New(httpapi.Config{}, store, log, httpapi.WithAdmin(admin), httpapi.WithOAuth(provider), httpapi.WithCORS(hot), httpapi.WithAuditLog(audit), webhookRoutes,
		httpapi.WithEvents(events), httpapi.WithReadiness(
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
		), httpapi.WithTrustedProxies(proxies), httpapi.WithGuesses(guesses), httpapi.WithConsole(console.Config{
			Tenants: admin.Tenants, Clients: admin.Clients, ReadModel: admin.ReadModel, Waiter: projector,
			RootToken: token, PublicURL: cfg.PublicURL, Key: consoleKey(keys.HMACSecret()), OldKeys: oldConsoleKeys(keys),
			AuditLog: audit, WebhookCommands: webhookCommands, WebhookReads: whs, SignedOut: revoked, Log: log,
		}))
	if err != nil {
		return fail(fmt.Errorf("build http app: %w", err))
	}
	return &Node{log: log, Store: store, HTTP: srv, RootToken: token, Projector: projector, bus: b, Relay: rl, Feed: fd, Admin: admin,
		stopRevocations: stopRevocations, Audit: audit, auditWake: auditWake, Wake: hub,
		Webhooks: whp, WebhookStore: whs, webhookWake: webhookWake, WebhookCommands: webhookCommands, Deliverer: deliverer}, nil
}

// maxReadyLag is how far behind the store the read model may be while
// the node still calls itself ready.
const maxReadyLag = 5 * time.Second

// adminAPI builds what the admin API needs: the read model in the store's
// own database, the projector that keeps it (the API's read-your-writes
// Waiter), the command services appending through commands, and the root
// token's authenticator. Nothing here touches the database yet.
func adminAPI(cfg Config, store Backend, commands eventstore.Store, token string, keys *signing.Keyring, log *slog.Logger) (httpapi.Admin, *projections.Projector, error) {
	rm, err := ReadModel(store)
	if err != nil {
		return httpapi.Admin{}, nil, err
	}
	projector, err := projections.NewProjector(rm, store, log)
	if err != nil {
		return httpapi.Admin{}, nil, err
	}
	ts, err := tenants.NewTenants(commands, keys, tenants.WithLogger(log),
		tenants.WithPublicURL(cfg.PublicURL), tenants.WithTenantViews(rm))
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
func warnPending(ctx context.Context, store Backend, log *slog.Logger) {
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

// Run serves HTTP on ln until ctx ends (or serving fails), then shuts
// the server down gracefully, waiting up to shutdownTimeout for requests
// in flight, and closes the store. It returns nil after a clean stop.
func (n *Node) Run(ctx context.Context, ln net.Listener) error {
	// The read model first catches up from the store, so that the node is
	// ready at once; then the feed keeps it current from NATS.
	if err := n.Projector.CatchUp(ctx); err != nil && ctx.Err() == nil {
		n.log.Warn("the read model could not catch up with the event store", "error", err)
	}
	n.ensureAuditKeys(ctx)
	if reg, err := registerMetrics(n); err != nil {
		n.log.Warn("metrics unavailable", "error", err)
	} else {
		defer reg.Unregister()
	}
	pctx, stopPipeline := context.WithCancel(context.WithoutCancel(ctx))
	var pipeline sync.WaitGroup
	pipeline.Go(func() { _ = n.Relay.Run(pctx) })
	pipeline.Go(func() { _ = n.Feed.Run(pctx) })
	pipeline.Go(func() { n.Audit.Run(pctx, n.auditWake) })
	pipeline.Go(func() { n.Webhooks.Run(pctx, n.webhookWake) })
	pipeline.Go(func() { _ = n.Deliverer.Run(pctx) })
	served := make(chan error, 1)
	go func() { served <- n.HTTP.Serve(ln) }()

	var serveErr error
	select {
	case serveErr = <-served:
		// Serving failed on its own; still stop cleanly below.
	case <-ctx.Done():
		n.log.Info("shutting down")
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	shutErr := n.HTTP.Shutdown(sctx)
	if serveErr == nil {
		serveErr = <-served
	}
	stopPipeline()
	pipeline.Wait()
	err := errors.Join(serveErr, shutErr, n.Close())
	if err == nil {
		n.log.Info("stopped")
	}
	return err
}

// Close releases the NATS connection (and the embedded server) and the
// store. Run closes the node itself; Close is for a node never run.
func (n *Node) Close() error {
	n.stopRevocations()
	n.bus.close()
	if err := n.Store.Close(); err != nil {
		return fmt.Errorf("close event store: %w", err)
	}
	return nil
}

// consoleKey is the key that seals the console's cookies: derived from
// the master key's HMAC secret, so that every node derives the same one.
func consoleKey(hmacSecret []byte) []byte {
	sum := sha256.Sum256(append([]byte("clavis console\x00"), hmacSecret...))
	return sum[:]
}

// oldConsoleKeys are the console's keys of the master keys being replaced.
func oldConsoleKeys(keys *signing.Keyring) [][]byte {
	var out [][]byte
	for _, secret := range keys.RotatedHMACSecrets() {
		out = append(out, consoleKey(secret))
	}
	return out
}

// rateLimits are the provider's options for the flow and refresh rates
// cfg sets, each burst being that many seconds' worth of its rate.
func rateLimits(cfg Config) []oauth.Option {
	burst := func(rate float64, seconds int) int { return max(int(math.Ceil(rate*float64(seconds))), 1) }
	var opts []oauth.Option
	if cfg.FlowRatePerAddress > 0 || cfg.FlowRatePerClient > 0 {
		l := oauth.DefaultFlowLimits
		if r := cfg.FlowRatePerAddress; r > 0 {
			l.PerAddress, l.AddressBurst = rate.Limit(r), burst(r, 30)
		}
		if r := cfg.FlowRatePerClient; r > 0 {
			l.PerClient, l.ClientBurst = rate.Limit(r), burst(r, 10)
		}
		opts = append(opts, oauth.WithFlowLimits(l))
	}
	if r := cfg.RefreshRatePerClient; r > 0 {
		l := oauth.DefaultRefreshLimit
		l.PerClient, l.Burst = rate.Limit(r), burst(r, 10)
		opts = append(opts, oauth.WithRefreshLimit(l))
	}
	return opts
}
