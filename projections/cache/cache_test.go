package cache_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/sqlite"
	"github.com/clavisiam/clavis/internal/testnode"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/projections/cache"
	"github.com/clavisiam/clavis/tenants"
)

// world is a tenant with one client in a real SQLite read model.
type world struct {
	store     *sqlite.Store
	rm        projections.ReadModel
	projector *projections.Projector
	clients   *tenants.Clients
	tenants   *tenants.Tenants
	clientID  string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	n := testnode.New(t)
	created, err := n.Tenants.Create(t.Context(), tenants.Request{Actor: "test"}, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	w := &world{store: n.Store, rm: n.ReadModel, projector: n.Projector, clients: n.Clients, tenants: n.Tenants,
		clientID: created.AdminClient.ClientID}
	w.catchUp(t)
	return w
}

// catchUp applies the store to the read model and returns what it applied.
func (w *world) catchUp(t *testing.T) []eventstore.Event {
	t.Helper()
	before, err := w.projector.Position(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.projector.CatchUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	events, err := w.store.ReadAll(t.Context(), before, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return events
}

func TestCacheEvictsOnEvents(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := t.Context()
	c, err := cache.New(w.rm, time.Hour, 100)
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.ClientByID(ctx, w.clientID)
	if err != nil || !v.Active {
		t.Fatalf("client = %+v, %v", v, err)
	}
	if _, err := c.Tenant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ClientByID(ctx, "nope"); !errors.Is(err, projections.ErrNotFound) {
		t.Fatalf("unknown client: %v", err)
	}

	// The read model changes; the cache answers what it holds until the
	// events reach it.
	if _, err := w.clients.Deactivate(ctx, tenants.Request{Actor: "test"}, "acme", w.clientID, "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.tenants.Suspend(ctx, tenants.Request{Actor: "test"}, "acme", "unpaid"); err != nil {
		t.Fatal(err)
	}
	events := w.catchUp(t)
	if v, _ := c.ClientByID(ctx, w.clientID); !v.Active {
		t.Fatal("the cache did not hold the client: this test proves nothing")
	}
	c.Invalidate(events)
	if v, _ := c.ClientByID(ctx, w.clientID); v.Active {
		t.Error("still active after its deactivation reached the cache")
	}
	if v, _ := c.Tenant(ctx, "acme"); !v.Suspended {
		t.Error("still not suspended after its suspension reached the cache")
	}
}

func TestCacheMissesAreCachedAndEvicted(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := t.Context()
	c, _ := cache.New(w.rm, time.Hour, 100)
	s := client.DefaultSettings(client.TypeM2M)
	s.ClientName, s.Code = "Late", "urn:acme/late"
	reg, err := w.clients.Register(ctx, tenants.Request{Actor: "test"}, "acme", s)
	if err != nil {
		t.Fatal(err)
	}
	// Looked up before the read model has it: a miss, and cached.
	if _, err := c.ClientByID(ctx, reg.Client.ClientID); !errors.Is(err, projections.ErrNotFound) {
		t.Fatalf("before the projection: %v", err)
	}
	events := w.catchUp(t)
	if _, err := c.ClientByID(ctx, reg.Client.ClientID); !errors.Is(err, projections.ErrNotFound) {
		t.Fatalf("the miss was not cached: %v", err)
	}
	// Its registration evicts the miss.
	c.Invalidate(events)
	if v, err := c.ClientByID(ctx, reg.Client.ClientID); err != nil || v.Settings.Code != "urn:acme/late" {
		t.Fatalf("after the registration reached the cache: %+v, %v", v, err)
	}
}

func TestCacheExpiresAndBounds(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := t.Context()
	c, _ := cache.New(w.rm, time.Minute, 3)
	now := time.Now()
	cache.SetNow(c, func() time.Time { return now })
	if _, err := c.ClientByID(ctx, w.clientID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.clients.Deactivate(ctx, tenants.Request{Actor: "test"}, "acme", w.clientID, "gone"); err != nil {
		t.Fatal(err)
	}
	w.catchUp(t) // but nothing tells the cache
	if v, _ := c.ClientByID(ctx, w.clientID); !v.Active {
		t.Fatal("not cached")
	}
	now = now.Add(time.Minute)
	if v, _ := c.ClientByID(ctx, w.clientID); v.Active {
		t.Error("an entry outlived its time to live")
	}
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		_, _ = c.ClientByID(ctx, id)
	}
	if _, n := c.Len(); n > 3 {
		t.Errorf("%d clients held, at most 3 allowed", n)
	}
	if _, err := cache.New(nil, time.Minute, 1); err == nil {
		t.Error("New accepted no reader")
	}
}

func TestCacheOrigins(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := t.Context()
	c, _ := cache.New(w.rm, time.Hour, 100)
	if got, err := c.Origins(ctx, "acme"); err != nil || len(got) != 0 {
		t.Fatalf("origins of a tenant whose clients allow none: %v, %v", got, err)
	}
	s := client.DefaultSettings(client.TypePublic)
	s.ClientName, s.Code = "SPA", "urn:acme/spa"
	s.RedirectURIs, s.AllowedCORSOrigins = []string{"https://spa.example.com/cb"}, []string{"https://spa.example.com"}
	if _, err := w.clients.Register(ctx, tenants.Request{Actor: "test"}, "acme", s); err != nil {
		t.Fatal(err)
	}
	events := w.catchUp(t)
	if got, _ := c.Origins(ctx, "acme"); len(got) != 0 {
		t.Fatal("the origins were not cached: this test proves nothing")
	}
	c.Invalidate(events)
	if got, _ := c.Origins(ctx, "acme"); !got["https://spa.example.com"] || len(got) != 1 {
		t.Errorf("after the registration reached the cache: %v", got)
	}
	if got, _ := c.Origins(ctx, "beta"); len(got) != 0 {
		t.Errorf("another tenant: %v", got)
	}
}

func TestCacheRefusesKeysThatCannotBeIDs(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	c, _ := cache.New(w.rm, time.Hour, 100)
	for _, id := range []string{strings.Repeat("x", 200), "has space", ""} {
		if _, err := c.ClientByID(t.Context(), id); !errors.Is(err, projections.ErrNotFound) {
			t.Errorf("client %q: %v", id, err)
		}
	}
	for _, slug := range []string{strings.Repeat("y", 300), "NOT-A-SLUG"} {
		if _, err := c.Tenant(t.Context(), slug); !errors.Is(err, projections.ErrNotFound) {
			t.Errorf("tenant %q: %v", slug, err)
		}
		if o, err := c.Origins(t.Context(), slug); err != nil || len(o) != 0 {
			t.Errorf("origins of %q: %v %v", slug, o, err)
		}
	}
	if tenants, clients := c.Len(); tenants != 0 || clients != 0 {
		t.Errorf("held %d tenants and %d clients for keys that cannot be ids", tenants, clients)
	}
	c.Invalidate(nil) // everything, and nothing to fail on
}

// BenchmarkCacheMemory reports the live heap one cached client costs:
// 10,000 m2m clients with one secret each are read into the cache.
func BenchmarkCacheMemory(b *testing.B) {
	ctx := context.Background()
	node := testnode.New(b)
	rm, ts, cs := node.ReadModel, node.Tenants, node.Clients
	req := tenants.Request{Actor: "bench"}
	if _, err := ts.Create(ctx, req, "acme", "Acme"); err != nil {
		b.Fatal(err)
	}
	node.CatchUp(b)
	const n = 10000
	ids := make([]string, 0, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				s := client.DefaultSettings(client.TypeM2M)
				s.ClientName, s.Code = fmt.Sprintf("C%d", i), fmt.Sprintf("urn:acme/c%d", i)
				res, err := cs.Register(ctx, req, "acme", s)
				if err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				ids = append(ids, res.Client.ClientID)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	node.CatchUp(b)
	b.ResetTimer()
	for range b.N {
		c, _ := cache.New(rm, time.Hour, 2*n)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for _, id := range ids {
			if _, err := c.ClientByID(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/n, "bytes/client")
		runtime.KeepAlive(c)
	}
}
