// Package cache keeps the tenants and clients the token path reads in
// memory, so that issuing or checking a token costs no database round
// trip once its client has been seen.
//
// Entries are evicted when events of their tenant or client reach this
// node (the projection feed calls [Cache.Invalidate] with every batch it
// applied, whoever applied it first), so a deactivation or a suspension
// takes effect here as soon as NATS delivers it; a time to live bounds
// staleness when NATS is away. Misses are cached too (an unknown client
// id costs one read, not one per request), and evicted the same way when
// the client appears.
package cache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/scope"
	"github.com/clavisiam/clavis/domain/tenant"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/projections"
)

// Reader is what the cache reads through: the read model.
type Reader interface {
	Tenant(ctx context.Context, slug string) (projections.TenantView, error)
	ClientByID(ctx context.Context, clientID string) (projections.ClientView, error)
	Clients(ctx context.Context, tenant string, f projections.ClientFilter) ([]projections.ClientView, string, error)
}

// Stream types whose events evict entries (tenants.StreamTypeTenant and
// StreamTypeClient).
const (
	streamTenant = "tenant"
	streamClient = "client"
)

// Cache is a read-through cache of tenants and clients. It is safe for
// concurrent use.
type Cache struct {
	rm  Reader
	ttl time.Duration
	max int
	now func() time.Time

	// epoch counts invalidations: a read that started before one is not
	// stored, since it may predate the event.
	epoch atomic.Uint64

	mu      sync.RWMutex
	tenants map[string]entry[projections.TenantView]
	clients map[string]entry[projections.ClientView]
	origins map[string]entry[map[string]bool] // by tenant
}

type entry[V any] struct {
	view    V
	missing bool // the read model has none
	expires time.Time
}

// New returns a cache over rm whose entries live at most ttl and that
// holds at most max entries of each kind (beyond, it forgets an arbitrary
// tenth of them).
func New(rm Reader, ttl time.Duration, max int) (*Cache, error) {
	if rm == nil || ttl <= 0 || max <= 0 {
		return nil, errors.New("cache: a reader, a positive time to live and a positive size are required")
	}
	return &Cache{rm: rm, ttl: ttl, max: max, now: time.Now,
		tenants: map[string]entry[projections.TenantView]{}, clients: map[string]entry[projections.ClientView]{},
		origins: map[string]entry[map[string]bool]{}}, nil
}

// Tenant returns tenant slug as the read model has it (or had it, at most
// the time to live ago, and no event of it has arrived since). A string
// that cannot be a slug is not found at once: callers' keys are never
// cached unchecked.
func (c *Cache) Tenant(ctx context.Context, slug string) (projections.TenantView, error) {
	if !tenant.ValidSlug(slug) {
		return projections.TenantView{}, projections.ErrNotFound
	}
	return get(ctx, c, c.tenants, slug, c.rm.Tenant)
}

// ClientByID returns client clientID, as [Cache.Tenant] does tenants.
func (c *Cache) ClientByID(ctx context.Context, clientID string) (projections.ClientView, error) {
	if clientID == "" || len(clientID) > client.MaxClientIDLength || !scope.ValidToken(clientID) {
		return projections.ClientView{}, projections.ErrNotFound
	}
	return get(ctx, c, c.clients, clientID, c.rm.ClientByID)
}

// Origins returns the CORS origins the active clients of tenant allow,
// for preflight requests, which name no client. Any event of one of the
// tenant's clients evicts it.
func (c *Cache) Origins(ctx context.Context, slug string) (map[string]bool, error) {
	if !tenant.ValidSlug(slug) {
		return nil, nil
	}
	return get(ctx, c, c.origins, slug, c.readOrigins)
}

func (c *Cache) readOrigins(ctx context.Context, tenant string) (map[string]bool, error) {
	origins := map[string]bool{}
	active := true
	f := projections.ClientFilter{Active: &active, Limit: projections.MaxPage}
	for {
		page, next, err := c.rm.Clients(ctx, tenant, f)
		if err != nil {
			return nil, err
		}
		for _, v := range page {
			for _, o := range v.Settings.AllowedCORSOrigins {
				origins[o] = true
			}
		}
		if next == "" {
			return origins, nil
		}
		f.After = next
	}
}

func get[V any](ctx context.Context, c *Cache, m map[string]entry[V], key string, read func(context.Context, string) (V, error)) (V, error) {
	now := c.now()
	c.mu.RLock()
	e, ok := m[key]
	c.mu.RUnlock()
	if ok && now.Before(e.expires) {
		if e.missing {
			var zero V
			return zero, projections.ErrNotFound
		}
		return e.view, nil
	}
	epoch := c.epoch.Load()
	v, err := read(ctx, key)
	missing := errors.Is(err, projections.ErrNotFound)
	if err != nil && !missing {
		return v, err
	}
	c.mu.Lock()
	if c.epoch.Load() == epoch {
		if len(m) >= c.max {
			forget(m, c.max/10+1, now)
		}
		m[key] = entry[V]{view: v, missing: missing, expires: now.Add(c.ttl)}
	}
	c.mu.Unlock()
	return v, err
}

// forget drops every expired entry of m, and arbitrary others (map
// order is random) until n are gone.
func forget[V any](m map[string]entry[V], n int, now time.Time) {
	for k, e := range m {
		if !now.Before(e.expires) {
			delete(m, k)
			n--
		}
	}
	for k := range m {
		if n <= 0 {
			return
		}
		delete(m, k)
		n--
	}
}

// Invalidate evicts the tenants and clients events belong to; nil evicts
// everything. The feed calls it once the read model holds the events,
// and with nil after catching up from the event store.
func (c *Cache) Invalidate(events []eventstore.Event) {
	if events == nil {
		c.epoch.Add(1)
		c.mu.Lock()
		clear(c.tenants)
		clear(c.clients)
		clear(c.origins)
		c.mu.Unlock()
		return
	}
	if len(events) == 0 {
		return
	}
	c.epoch.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range events {
		switch e.Stream.Type {
		case streamTenant:
			delete(c.tenants, e.Stream.ID)
		case streamClient:
			delete(c.clients, e.Stream.ID)
			delete(c.origins, e.Stream.Tenant)
		}
	}
}

// Len reports how many tenants and clients the cache holds.
func (c *Cache) Len() (tenants, clients int) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.tenants), len(c.clients)
}
