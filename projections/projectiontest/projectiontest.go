// Package projectiontest is the conformance suite of [projections.Backend]
// implementations, run together with a [projections.Projector] over a real
// event store in the same database. A backend's test calls [Run] with a
// function that opens a fresh database; every case gets its own, so cases
// are independent and run in parallel. History is written by the domain
// commands through eventstore/aggregate, as the API writes it, and what
// the read model holds is compared with what replaying the domain
// aggregates gives. [BenchRebuild] measures a rebuild.
package projectiontest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/scope"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/projections"
)

// Env is one fresh database holding an event store and the read model.
type Env struct {
	// Store is the event store, empty.
	Store eventstore.Store
	// Backend is the read model in the same database, empty.
	Backend projections.Backend
	// Node opens another event store and backend on the same database, as
	// a second node of a cluster would; they are closed on cleanup.
	Node func(t testing.TB) (eventstore.Store, projections.Backend)
}

// Run runs every case against the backend; newEnv opens a fresh, empty
// database for each and closes it on cleanup.
func Run(t *testing.T, newEnv func(t testing.TB) Env) {
	cases := []struct {
		name string
		fn   func(t *testing.T, env Env)
	}{
		{"FoldMatchesReplayedAggregates", testFold},
		{"FoldEqualsAggregateFieldByField", testFoldEqualsAggregate},
		{"FoldRefusesWhatTheAggregateRefuses", testFoldRefusesWhatTheAggregateRefuses},
		{"ApplyIsIdempotent", testIdempotent},
		{"ApplyFillsGapsFromTheStore", testGap},
		{"ApplyRefusesEventsNotInTheStore", testNotInStore},
		{"TwoNodesApplyEachEventOnce", testTwoNodes},
		{"UpdatesNeverWriteOnTheSameCheckpoint", testUpdateGuard},
		{"RebuildEqualsIncremental", testRebuild},
		{"RebuildWhileAnotherNodeApplies", testRebuildRace},
		{"RebuildReportsWhatItRebuilt", testRebuildReportsWhatItRebuilt},
		{"TenantQueries", testTenantQueries},
		{"TenantLoginURLRoundTrips", testTenantLoginURL},
		{"ClientLookupsAndIsolation", testClientLookups},
		{"ClientFiltersAndPaging", testClientPaging},
		{"ClientSortsPageBothWays", testClientSorting},
		{"ClientSearchMatchesClientIDPrefix", testClientSearchByID},
		{"ClientCursorsOfAnotherOrderAreRefused", testBadCursors},
		{"ClientCursorOutlivesItsClient", testCursorOutlivesItsClient},
		{"InvalidQueries", testInvalidQueries},
		{"Catalogue", testCatalogue},
		{"WaitFor", testWaitFor},
		{"ObserversLearnBeforeWaitersWake", testObserve},
		{"CorruptEventChangesNothing", testCorrupt(client.EventTypeUpdated,
			`{"settings":{"client_name":42},"at":"2026-11-23T12:00:00Z"}`, domain.ErrCorruptEvent)},
		{"UnknownEventTypeChangesNothing", testCorrupt("client.teleported",
			`{"at":"2026-11-23T12:00:00Z"}`, domain.ErrUnknownEvent)},
		{"OtherAggregatesAreSkipped", testOtherAggregates},
		{"Status", testStatus},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, newEnv(t))
		})
	}
}

// logger logs to the test's output.
func logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// same fails unless the read model holds exactly want.
func same(t testing.TB, what string, got, want model) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	for slug, w := range want.Tenants {
		if g, ok := got.Tenants[slug]; !ok || !reflect.DeepEqual(g, w) {
			t.Errorf("%s: tenant %s\ngot  %+v\nwant %+v", what, slug, g, w)
		}
	}
	for slug := range got.Tenants {
		if _, ok := want.Tenants[slug]; !ok {
			t.Errorf("%s: tenant %s should not be there", what, slug)
		}
	}
	for id, w := range want.Clients {
		if g, ok := got.Clients[id]; !ok || !reflect.DeepEqual(g, w) {
			t.Errorf("%s: client %s\ngot  %s\nwant %s", what, id, describe(g), describe(w))
		}
	}
	for id := range got.Clients {
		if _, ok := want.Clients[id]; !ok {
			t.Errorf("%s: client %s should not be there", what, id)
		}
	}
	t.FailNow()
}

func describe(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func testFold(t *testing.T, env Env) {
	w := newWorld(t, env.Store)
	w.rich()
	want := w.want()
	if _, ok := want.Clients["legacy"]; ok || len(want.Clients) != 5 || len(want.Tenants) != 2 {
		t.Fatalf("the rich history does not hold what the test expects: %d clients, %d tenants", len(want.Clients), len(want.Tenants))
	}
	events := w.events()
	for _, size := range []int{1, 4, len(events)} {
		t.Run(fmt.Sprintf("batches of %d", size), func(t *testing.T) {
			if err := env.Backend.Reset(t.Context(), projections.Name); err != nil {
				t.Fatal(err)
			}
			p := projector(t, env.Backend, env.Store)
			apply(t, t.Context(), p, events, size)
			same(t, "after apply", w.read(env.Backend), want)
			if cp := checkpoint(t, env.Backend); cp != events[len(events)-1].Position {
				t.Fatalf("checkpoint %s, want %s", cp, events[len(events)-1].Position)
			}
		})
	}
}

func testIdempotent(t *testing.T, env Env) {
	w := newWorld(t, env.Store)
	w.rich()
	events := w.events()
	want := w.want()
	p := projector(t, env.Backend, env.Store)
	ctx := t.Context()
	n := len(events)
	batches := [][]eventstore.Event{
		events[:5], events[:5], events[3:10], events[:10], events[1:2], events[8:], events, events[n-1:], events[:3],
	}
	var prev eventstore.Position
	for i, b := range batches {
		if err := p.Apply(ctx, b); err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		cp := checkpoint(t, env.Backend)
		if cp.Less(prev) {
			t.Fatalf("batch %d moved the checkpoint back from %s to %s", i, prev, cp)
		}
		if last := b[len(b)-1].Position; cp.Less(last) {
			t.Fatalf("batch %d left the checkpoint at %s, below its last event %s", i, cp, last)
		}
		prev = cp
	}
	same(t, "after overlapping batches", w.read(env.Backend), want)

	// A second projector, fresh and knowing nothing, skips it all too.
	if err := projector(t, env.Backend, env.Store).Apply(ctx, events); err != nil {
		t.Fatal(err)
	}
	same(t, "after a redelivery to another projector", w.read(env.Backend), want)
}

func testGap(t *testing.T, env Env) {
	w := newWorld(t, env.Store)
	w.rich()
	events := w.events()
	p := projector(t, env.Backend, env.Store)
	ctx := t.Context()
	// Events 10 and 11 arrive first (another tenant's, say): 0..9 are
	// applied from the store before them, so nothing is skipped.
	if err := p.Apply(ctx, events[10:12]); err != nil {
		t.Fatal(err)
	}
	if cp := checkpoint(t, env.Backend); cp != events[11].Position {
		t.Fatalf("checkpoint %s, want %s", cp, events[11].Position)
	}
	for _, e := range events[:12] {
		if e.Stream.Type == "client" && e.Type == client.EventTypeRegistered {
			if _, err := env.Backend.Client(ctx, e.Stream.Tenant, e.Stream.ID); err != nil {
				t.Fatalf("client %s registered before the batch: %v", e.Stream.ID, err)
			}
		}
	}
	// Out of order within a batch, and the late events once more.
	late := slices.Clone(events[12:])
	slices.Reverse(late)
	if err := p.Apply(ctx, append(late, events[:12]...)); err != nil {
		t.Fatal(err)
	}
	same(t, "after events out of order", w.read(env.Backend), w.want())
}

func testNotInStore(t *testing.T, env Env) {
	w := newWorld(t, env.Store)
	w.createTenant("acme", "Acme")
	w.register("acme", "c1", settings(client.TypePublic, "One", "urn:acme/one"))
	events := w.events()
	p := projector(t, env.Backend, env.Store)
	ctx := t.Context()

	forged := events[1]
	forged.ID = newID()
	if err := p.Apply(ctx, []eventstore.Event{forged}); !errors.Is(err, projections.ErrInvalid) {
		t.Fatalf("an event the store holds under another id: err = %v, want ErrInvalid", err)
	}
	beyond := events[1]
	beyond.ID, beyond.Position.Commit, beyond.Position.Seq = newID(), beyond.Position.Commit+1000, beyond.Position.Seq+1000
	if err := p.Apply(ctx, []eventstore.Event{beyond}); err == nil {
		t.Fatal("an event beyond the store's head was applied")
	}
	unstored := events[1]
	unstored.Position = eventstore.Position{}
	if err := p.Apply(ctx, []eventstore.Event{unstored}); !errors.Is(err, projections.ErrInvalid) {
		t.Fatalf("an event without position: err = %v, want ErrInvalid", err)
	}
	// The refused forgeries do not stop what the store holds.
	if err := p.Apply(ctx, events); err != nil {
		t.Fatal(err)
	}
	same(t, "after the real events", w.read(env.Backend), w.want())
}

func testTwoNodes(t *testing.T, env Env) {
	w := newWorld(t, env.Store)
	w.rich()
	for i := range 20 {
		slug := fmt.Sprintf("t%02d", i%3)
		if i < 3 {
			w.createTenant(slug, "Tenant "+slug)
		}
		id := fmt.Sprintf("c%02d", i)
		w.register(slug, id, settings(client.TypePublic, "Client "+id, "urn:t/"+id))
		w.onClient(slug, id, func(c *client.Client, now time.Time) ([]domain.Event, error) {
			name := "Renamed " + id
			return c.Update(client.Patch{ClientName: &name}, scope.NewCatalogue(), now)
		})
	}
	events := w.events()
	want := w.want()

	store2, backend2 := env.Node(t)
	nodes := []*projections.Projector{
		projector(t, env.Backend, env.Store), projector(t, env.Backend, env.Store),
		projector(t, backend2, store2), projector(t, backend2, store2),
	}
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(nodes))
	for i, p := range nodes {
		wg.Go(func() {
			size := []int{1, 3, 7, 50}[i]
			for from := 0; from < len(events); from += size {
				if err := p.Apply(ctx, events[from:min(from+size, len(events))]); err != nil {
					errs <- fmt.Errorf("node %d: %w", i, err)
					return
				}
			}
		})
		wg.Go(func() {
			if err := p.CatchUp(ctx); err != nil {
				errs <- fmt.Errorf("node %d catching up: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		// A double application would fail the fold's version check here.
		t.Error(err)
	}
	got := w.read(env.Backend)
	same(t, "after two nodes applied the same events", got, want)
	same(t, "read through the other node", w.read(backend2), want)
	for id, v := range got.Clients {
		// Each event once in effect: a view's version is its stream's.
		stored, err := env.Store.ReadStream(ctx, clientStream(v.Tenant, id), 0)
		if err != nil {
			t.Fatal(err)
		}
		if v.Version != int64(len(stored)) {
			t.Errorf("client %s at version %d, its stream has %d events", id, v.Version, len(stored))
		}
	}
	if cp := checkpoint(t, backend2); cp != events[len(events)-1].Position {
		t.Fatalf("checkpoint %s, want %s", cp, events[len(events)-1].Position)
	}
}

// testUpdateGuard runs many Updates at once on two nodes, each moving the
// checkpoint one step and writing a view whose version is that step: a
// write made on a checkpoint that another writer had already moved would
// be lost, and leave the checkpoint and the version short.
func testUpdateGuard(t *testing.T, env Env) {
	_, backend2 := env.Node(t)
	const writers, each = 8, 10
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	step := func(ctx context.Context, cp eventstore.Position, _ projections.Loader) (*projections.Changes, error) {
		next := cp.Seq + 1
		return &projections.Changes{
			Tenants:    []projections.TenantView{{Slug: "guard", Name: fmt.Sprintf("step %d", next), Version: next, CreatedAt: now, UpdatedAt: now}},
			Checkpoint: eventstore.Position{Commit: 1, Seq: next},
			RecordedAt: now,
		}, nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers)
	for i := range 2 * writers {
		b := []projections.Backend{env.Backend, backend2}[i%2]
		wg.Go(func() {
			for range each {
				if err := b.Update(t.Context(), projections.Name, step); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	const total = 2 * writers * each
	if cp := checkpoint(t, env.Backend); cp != (eventstore.Position{Commit: 1, Seq: total}) {
		t.Errorf("checkpoint %s after %d one-step updates", cp, total)
	}
	v, err := backend2.Tenant(t.Context(), "guard")
	if err != nil {
		t.Fatal(err)
	}
	if v.Version != total || v.Name != fmt.Sprintf("step %d", total) {
		t.Errorf("view at version %d (%q) after %d one-step updates", v.Version, v.Name, total)
	}
}

func testRebuild(t *testing.T, env Env) {
	w := newWorld(t, env.Store)
	ctx := t.Context()
	p := projector(t, env.Backend, env.Store, projections.WithPageSize(7))
	// Build incrementally while the history grows.
	w.rich()
	apply(t, ctx, p, w.events(), 5)
	for i := range 15 {
		id := fmt.Sprintf("r%02d", i)
		w.register("acme", id, settings(client.TypeM2M, "Robot "+id, "urn:acme/"+id))
		if i%3 == 0 {
			w.onClient("acme", id, func(c *client.Client, now time.Time) ([]domain.Event, error) { return c.Delete(now) })
		}
		if i%4 == 0 {
			w.settle()
			if err := p.CatchUp(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	w.settle()
	if err := p.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	incremental := w.read(env.Backend)
	same(t, "incremental", incremental, w.want())
	head := checkpoint(t, env.Backend)

	if _, err := p.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	same(t, "rebuilt (pages of 7) against incremental", w.read(env.Backend), incremental)
	if cp := checkpoint(t, env.Backend); cp != head {
		t.Fatalf("rebuild left the checkpoint at %s, want %s", cp, head)
	}
	if _, err := projector(t, env.Backend, env.Store).Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	same(t, "rebuilt (pages of 1,000) against incremental", w.read(env.Backend), incremental)

	// After a rebuild, new events apply as usual.
	w.register("acme", "after", settings(client.TypePublic, "After", "urn:acme/after"))
	if err := p.Apply(ctx, w.events()); err != nil {
		t.Fatal(err)
	}
	same(t, "after a rebuild", w.read(env.Backend), w.want())
}

func testRebuildRace(t *testing.T, env Env) {
	w := newWorld(t, env.Store)
	w.rich()
	for i := range 30 {
		w.register("acme", fmt.Sprintf("x%02d", i), settings(client.TypePublic, "X", fmt.Sprintf("urn:acme/x%02d", i)))
	}
	events := w.events()
	ctx := t.Context()
	rebuilder := projector(t, env.Backend, env.Store, projections.WithPageSize(5))
	apply(t, ctx, rebuilder, events, len(events))
	store2, backend2 := env.Node(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for round := range 3 {
		wg.Go(func() {
			if _, err := rebuilder.Rebuild(ctx); err != nil {
				errs <- fmt.Errorf("rebuild %d: %w", round, err)
			}
		})
		wg.Go(func() {
			// A node that knows nothing keeps feeding events and
			// catching up while the other rebuilds.
			other := projector(t, backend2, store2, projections.WithPageSize(3))
			for from := 0; from < len(events); from += 4 {
				if err := other.Apply(ctx, events[from:min(from+4, len(events))]); err != nil {
					errs <- fmt.Errorf("apply %d: %w", round, err)
					return
				}
			}
			if err := other.CatchUp(ctx); err != nil {
				errs <- fmt.Errorf("catch up %d: %w", round, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := rebuilder.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	same(t, "after rebuilds raced with another node", w.read(env.Backend), w.want())
	if cp := checkpoint(t, env.Backend); cp != events[len(events)-1].Position {
		t.Fatalf("checkpoint %s, want %s", cp, events[len(events)-1].Position)
	}
}

func testTenantQueries(t *testing.T, env Env) {
	w := newWorld(t, env.Store)
	slugs := []string{"delta", "alpha", "echo", "charlie", "bravo", "foxtrot", "golf"}
	for _, s := range slugs {
		w.createTenant(s, strings.ToUpper(s[:1])+s[1:])
	}
	p := projector(t, env.Backend, env.Store)
	ctx := t.Context()
	if err := p.Apply(ctx, w.events()); err != nil {
		t.Fatal(err)
	}
	v, err := env.Backend.Tenant(ctx, "echo")
	if err != nil {
		t.Fatal(err)
	}
	// Created with its first signing key: two events.
	if v.Slug != "echo" || v.Name != "Echo" || v.Version != 2 || v.Suspended || v.CreatedAt.IsZero() || !v.CreatedAt.Equal(v.UpdatedAt) {
		t.Fatalf("tenant echo: %+v", v)
	}
	if k, ok := v.SigningKey(v.CreatedAt); !ok || k.KID != "echo-k1" || k.Sealed != "v1.test.echo-k1" || len(v.PublishedKeys(v.CreatedAt)) != 1 {
		t.Fatalf("tenant echo's keys: %v", v.Keys)
	}
	if _, err := env.Backend.Tenant(ctx, "hotel"); !isNotFound(err) {
		t.Fatalf("unknown tenant: err = %v, want ErrNotFound", err)
	}
	var got []string
	after := ""
	for {
		page, err := env.Backend.Tenants(ctx, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range page {
			got = append(got, v.Slug)
		}
		if len(page) < 3 {
			break
		}
		after = page[len(page)-1].Slug
	}
	want := slices.Sorted(slices.Values(slugs))
	if !slices.Equal(got, want) {
		t.Fatalf("tenants %v, want %v", got, want)
	}
}

// testTenantLoginURL follows a tenant's login URL through the column:
// set, changed, cleared, next to a tenant that never had one, read back
// one by one and by page after each step.
func testTenantLoginURL(t *testing.T, env Env) {
	w := newWorld(t, env.Store)
	w.createTenant("acme", "Acme")
	w.createTenant("globex", "Globex")
	p := projector(t, env.Backend, env.Store)
	ctx := t.Context()
	for i, loginURL := range []string{
		"https://login.acme.example/signin?brand=acme&x=%2F",
		"http://[::1]:3000/login",
		"",
		"https://login.acme.example/" + strings.Repeat("a", 1900),
	} {
		w.setLoginURL("acme", loginURL)
		if err := p.Apply(ctx, w.events()); err != nil {
			t.Fatal(err)
		}
		v, err := env.Backend.Tenant(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		if v.LoginURL != loginURL {
			t.Fatalf("step %d: login URL %q, want %q", i, v.LoginURL, loginURL)
		}
		page, err := env.Backend.Tenants(ctx, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) != 2 || page[0].LoginURL != loginURL || page[1].LoginURL != "" {
			t.Fatalf("step %d: tenants %+v", i, page)
		}
		same(t, fmt.Sprintf("step %d", i), w.read(env.Backend), w.want())
	}
}

func testClientLookups(t *testing.T, env Env) {
	w := newWorld(t, env.Store)
	w.rich()
	p := projector(t, env.Backend, env.Store)
	ctx := t.Context()
	if err := p.Apply(ctx, w.events()); err != nil {
		t.Fatal(err)
	}
	want := w.want()
	v, err := env.Backend.Client(ctx, "acme", "orders")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(v, want.Clients["orders"]) {
		t.Fatalf("client orders\ngot  %s\nwant %s", describe(v), describe(want.Clients["orders"]))
	}
	if v, err = env.Backend.ClientByID(ctx, "orders"); err != nil || !reflect.DeepEqual(v, want.Clients["orders"]) {
		t.Fatalf("client orders by id: %v\ngot  %s\nwant %s", err, describe(v), describe(want.Clients["orders"]))
	}
	if v.ClonedFrom != "" || want.Clients["orders-eu"].ClonedFrom != "orders" {
		t.Fatal("cloned_from is not kept")
	}
	for _, c := range []struct{ name, tenant, id string }{
		{"client of another tenant", "globex", "orders"},
		{"client of another tenant, reversed", "acme", "portal"},
		{"unknown tenant", "initech", "orders"},
		{"deleted client", "acme", "legacy"},
		{"unknown client", "acme", "nope"},
	} {
		if _, err := env.Backend.Client(ctx, c.tenant, c.id); !isNotFound(err) {
			t.Errorf("%s: err = %v, want ErrNotFound", c.name, err)
		}
	}
	for _, id := range []string{"legacy", "nope"} {
		if _, err := env.Backend.ClientByID(ctx, id); !isNotFound(err) {
			t.Errorf("client %s by id: err = %v, want ErrNotFound", id, err)
		}
	}
	for _, v := range walk(t, env.Backend, "globex", projections.ClientFilter{Limit: projections.MaxPage}) {
		if v.Tenant != "globex" {
			t.Errorf("globex lists client %s of %s", v.ClientID, v.Tenant)
		}
	}
	if got := walk(t, env.Backend, "initech", projections.ClientFilter{Limit: 10}); len(got) != 0 {
		t.Errorf("an unknown tenant lists %d clients", len(got))
	}
}

func testClientPaging(t *testing.T, env Env) {
	w := newWorld(t, env.Store)
	w.createTenant("acme", "Acme")
	w.createTenant("globex", "Globex")
	names := []string{"Orders", "Billing", "ÜBERSICHT Portal", "Search", "order history", "Shop", "Admin", "Reports"}
	types := []client.Type{client.TypePublic, client.TypeConfidential, client.TypeM2M}
	for i := range 23 {
		// Ids out of insertion order, with a mix of cases, so that
		// byte order is what is tested.
		id := fmt.Sprintf("%s-%02d", []string{"b", "A", "c", "a"}[i%4], (i*7)%23)
		name := names[i%len(names)]
		code := fmt.Sprintf("urn:acme/app-%d", i)
		w.register("acme", id, settings(types[i%3], name, code))
		if i%5 == 0 {
			w.onClient("acme", id, func(c *client.Client, now time.Time) ([]domain.Event, error) { return c.Deactivate("", now) })
		}
	}
	w.register("globex", "g-orders", settings(client.TypePublic, "Orders", "urn:globex/orders"))
	p := projector(t, env.Backend, env.Store)
	ctx := t.Context()
	if err := p.Apply(ctx, w.events()); err != nil {
		t.Fatal(err)
	}
	all := w.want()
	yes, no := true, false
	filters := []struct {
		name string
		f    projections.ClientFilter
		keep func(projections.ClientView) bool
	}{
		{"all", projections.ClientFilter{}, func(projections.ClientView) bool { return true }},
		{"m2m", projections.ClientFilter{Type: client.TypeM2M}, func(v projections.ClientView) bool { return v.Settings.Type == client.TypeM2M }},
		{"active", projections.ClientFilter{Active: &yes}, func(v projections.ClientView) bool { return v.Active }},
		{"inactive", projections.ClientFilter{Active: &no}, func(v projections.ClientView) bool { return !v.Active }},
		{"search name, any case", projections.ClientFilter{Search: "ORDER"}, func(v projections.ClientView) bool {
			return strings.Contains(strings.ToLower(v.Settings.ClientName), "order")
		}},
		{"search beyond ASCII", projections.ClientFilter{Search: "übersicht"}, func(v projections.ClientView) bool {
			return strings.HasPrefix(v.Settings.ClientName, "ÜBERSICHT")
		}},
		{"search code", projections.ClientFilter{Search: "APP-1"}, func(v projections.ClientView) bool {
			return strings.Contains(v.Settings.Code, "app-1")
		}},
		{"search and type and active", projections.ClientFilter{Search: "s", Type: client.TypePublic, Active: &yes}, func(v projections.ClientView) bool {
			return v.Settings.Type == client.TypePublic && v.Active &&
				(strings.Contains(strings.ToLower(v.Settings.ClientName), "s") || strings.Contains(v.Settings.Code, "s") ||
					strings.HasPrefix(v.ClientID, "s"))
		}},
		{"no match", projections.ClientFilter{Search: "zzz"}, func(projections.ClientView) bool { return false }},
		{"newline never matches", projections.ClientFilter{Search: "s\nurn"}, func(projections.ClientView) bool { return false }},
	}
	for _, c := range filters {
		var want []string
		for _, v := range all.Clients {
			if v.Tenant == "acme" && c.keep(v) {
				want = append(want, v.ClientID)
			}
		}
		slices.Sort(want)
		for _, limit := range []int{1, 4, projections.MaxPage} {
			f := c.f
			f.Limit = limit
			var got []string
			for _, v := range walk(t, env.Backend, "acme", f) {
				got = append(got, v.ClientID)
				if !reflect.DeepEqual(v, all.Clients[v.ClientID]) {
					t.Fatalf("%s: client %s differs from its aggregate", c.name, v.ClientID)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s, pages of %d:\ngot  %v\nwant %v", c.name, limit, got, want)
			}
		}
	}
	if n := len(walk(t, env.Backend, "acme", projections.ClientFilter{Limit: 23})); n != 23 {
		t.Fatalf("a page of exactly all 23 clients listed %d", n)
	}
}

func testInvalidQueries(t *testing.T, env Env) {
	ctx := t.Context()
	for _, limit := range []int{0, -1, projections.MaxPage + 1} {
		if _, _, err := env.Backend.Clients(ctx, "acme", projections.ClientFilter{Limit: limit}); !errors.Is(err, projections.ErrInvalid) {
			t.Errorf("clients with limit %d: err = %v, want ErrInvalid", limit, err)
		}
		if _, err := env.Backend.Tenants(ctx, "", limit); !errors.Is(err, projections.ErrInvalid) {
			t.Errorf("tenants with limit %d: err = %v, want ErrInvalid", limit, err)
		}
	}
	if _, _, err := env.Backend.Clients(ctx, "acme", projections.ClientFilter{Type: "robot", Limit: 1}); !errors.Is(err, projections.ErrInvalid) {
		t.Errorf("clients of type robot: err = %v, want ErrInvalid", err)
	}
	if cp, err := env.Backend.Checkpoint(ctx, "never-ran"); err != nil || !cp.IsZero() {
		t.Errorf("checkpoint of a projection that never ran: %s, %v", cp, err)
	}
}

func testCatalogue(t *testing.T, env Env) {
	w := newWorld(t, env.Store)
	w.createTenant("acme", "Acme")
	w.createTenant("globex", "Globex")
	api := func(name, code string, scopes ...string) client.Settings {
		s := settings(client.TypeM2M, name, code)
		s.APIScopes = scopes
		return s
	}
	w.register("acme", "orders", api("Orders", "urn:acme/orders", "read", "write"))
	w.register("acme", "billing", api("Billing", "urn:acme/billing", "invoices.read"))
	w.register("acme", "old", api("Old", "urn:acme/old", "legacy"))
	w.register("acme", "plain", settings(client.TypePublic, "Plain", "urn:acme/plain"))
	w.register("globex", "hr", api("HR", "urn:globex/hr", "read"))
	w.onClient("acme", "old", func(c *client.Client, now time.Time) ([]domain.Event, error) { return c.Delete(now) })
	w.onClient("acme", "billing", func(c *client.Client, now time.Time) ([]domain.Event, error) { return c.Deactivate("", now) })
	w.onClient("acme", "orders", func(c *client.Client, now time.Time) ([]domain.Event, error) {
		scopes := []string{"read", "admin"}
		return c.Update(client.Patch{APIScopes: &scopes}, scope.NewCatalogue(), now)
	})
	p := projector(t, env.Backend, env.Store)
	ctx := t.Context()
	if err := p.Apply(ctx, w.events()); err != nil {
		t.Fatal(err)
	}
	cat, err := env.Backend.Catalogue(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	want := append(append(scope.IdentityScopes(), scope.PlatformScopes()...),
		"urn:acme/orders:read", "urn:acme/orders:admin", "urn:acme/billing:invoices.read")
	slices.Sort(want)
	if got := cat.List(); !slices.Equal(got, want) {
		t.Fatalf("catalogue of acme:\ngot  %v\nwant %v", got, want)
	}
	if cat.Kind("urn:acme/orders:admin") != scope.KindAPI || cat.Has("urn:acme/orders:write") || cat.Has("urn:globex/hr:read") {
		t.Fatal("catalogue of acme holds the wrong API scopes")
	}
	empty, err := env.Backend.Catalogue(ctx, "initech")
	if err != nil {
		t.Fatal(err)
	}
	if empty.Len() != len(scope.IdentityScopes())+len(scope.PlatformScopes()) || !empty.Has(scope.OpenID) || !empty.Has(scope.Admin) {
		t.Fatalf("catalogue of a tenant without clients: %v", empty.List())
	}
}

func testWaitFor(t *testing.T, env Env) {
	w := newWorld(t, env.Store)
	w.createTenant("acme", "Acme")
	w.register("acme", "c1", settings(client.TypePublic, "One", "urn:acme/one"))
	events := w.events()
	last := events[len(events)-1].Position
	p := projector(t, env.Backend, env.Store)
	ctx := t.Context()

	t.Run("times out with the context's error", func(t *testing.T) {
		wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		if err := p.WaitFor(wctx, last); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want context.DeadlineExceeded", err)
		}
		if time.Since(start) < 90*time.Millisecond {
			t.Fatal("WaitFor returned before its deadline")
		}
	})
	t.Run("returns once applied here", func(t *testing.T) {
		done := make(chan error, 1)
		go func() {
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			done <- p.WaitFor(wctx, events[0].Position)
		}()
		if err := p.Apply(ctx, events[:1]); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
	t.Run("returns once another node applied", func(t *testing.T) {
		store2, backend2 := env.Node(t)
		other := projector(t, backend2, store2)
		done := make(chan error, 1)
		go func() {
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			done <- p.WaitFor(wctx, last)
		}()
		if err := other.Apply(ctx, events); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if p.Known() != last {
			t.Fatalf("known %s, want %s", p.Known(), last)
		}
	})
	t.Run("returns at once when reached", func(t *testing.T) {
		wctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := p.WaitFor(wctx, events[0].Position); err != nil {
			t.Fatalf("err = %v for a position already reached", err)
		}
	})
}

// testObserve checks that an observer hears of every event the projector
// applies, from Apply and from CatchUp, before a waiter for it returns:
// what caches the read model (the token path's cache) forgets a change
// before the writer is told the change is visible.
func testObserve(t *testing.T, env Env) {
	w := newWorld(t, env.Store)
	w.createTenant("acme", "Acme")
	w.register("acme", "c1", settings(client.TypePublic, "One", "urn:acme/one"))
	w.register("acme", "c2", settings(client.TypePublic, "Two", "urn:acme/two"))
	events := w.events()
	p := projector(t, env.Backend, env.Store)
	ctx := t.Context()
	var mu sync.Mutex
	var heard []string
	var late []eventstore.Position // batches heard of after waiters could see them
	var polls []error
	p.Observe(func(batch []eventstore.Event) {
		// A waiter polls the database's checkpoint, which already holds
		// the batch: what it reads must not wake anyone before this
		// observer is done.
		_, err := p.Position(ctx)
		mu.Lock()
		defer mu.Unlock()
		polls = append(polls, err)
		for _, e := range batch {
			heard = append(heard, e.ID)
		}
		if last := batch[len(batch)-1].Position; !p.Known().Less(last) {
			late = append(late, last)
		}
	})
	heardAll := func(events []eventstore.Event) error {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range events {
			if !slices.Contains(heard, e.ID) {
				return fmt.Errorf("the observer did not hear of %s (%s) before the waiter returned; it heard %v", e.ID, e.Type, heard)
			}
		}
		return nil
	}
	waitThenCheck := func(pos eventstore.Position, want []eventstore.Event) chan error {
		done := make(chan error, 1)
		go func() {
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := p.WaitFor(wctx, pos); err != nil {
				done <- err
				return
			}
			done <- heardAll(want)
		}()
		return done
	}
	half := len(events) / 2
	done := waitThenCheck(events[half-1].Position, events[:half])
	if err := p.Apply(ctx, events[:half]); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Apply: %v", err)
	}
	done = waitThenCheck(events[len(events)-1].Position, events)
	if err := p.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("CatchUp: %v", err)
	}
	if err := heardAll(events); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(polls...); err != nil {
		t.Errorf("read the checkpoint while observing: %v", err)
	}
	if len(late) > 0 {
		t.Errorf("the observer heard of the batches up to %v after waiters for them could return", late)
	}
	if p.Known() != events[len(events)-1].Position {
		t.Errorf("known %s after the observers, want %s", p.Known(), events[len(events)-1].Position)
	}
}

// testCorrupt stores an event that cannot be applied, between two good
// ones, and checks that every way of applying it fails, naming it, and
// changes nothing.
func testCorrupt(typ, data string, want error) func(t *testing.T, env Env) {
	return func(t *testing.T, env Env) {
		w := newWorld(t, env.Store)
		w.rich()
		p := projector(t, env.Backend, env.Store)
		ctx := t.Context()
		if err := p.Apply(ctx, w.events()); err != nil {
			t.Fatal(err)
		}
		before := w.read(env.Backend)
		cp := checkpoint(t, env.Backend)

		w.register("globex", "good", settings(client.TypePublic, "Good", "urn:globex/good"))
		st := clientStream("acme", "orders")
		stored, err := env.Store.ReadStream(ctx, st, 0)
		if err != nil {
			t.Fatal(err)
		}
		bad := []eventstore.Event{{ID: newID(), Type: typ, Schema: 1, Data: json.RawMessage(data), Meta: w.meta()}}
		if w.last, err = env.Store.Append(ctx, st, int64(len(stored)), bad); err != nil {
			t.Fatal(err)
		}
		w.register("globex", "after", settings(client.TypePublic, "After", "urn:globex/after"))
		all := w.events()
		for _, run := range []struct {
			name string
			fn   func() error
		}{
			{"apply", func() error { return p.Apply(ctx, all) }},
			{"catch up", func() error { return p.CatchUp(ctx) }},
			{"another projector", func() error { return projector(t, env.Backend, env.Store).Apply(ctx, all) }},
		} {
			err := run.fn()
			var ee *projections.EventError
			if !errors.As(err, &ee) || !errors.Is(err, want) || ee.EventID != bad[0].ID || ee.Position != bad[0].Position {
				t.Fatalf("%s: err = %v, want an *EventError for event %s wrapping %v", run.name, err, bad[0].ID, want)
			}
			if got := checkpoint(t, env.Backend); got != cp {
				t.Fatalf("%s moved the checkpoint from %s to %s", run.name, cp, got)
			}
			same(t, run.name+" changed the read model", w.read(env.Backend), before)
		}
		// The events before the bad one apply; the projection stops there.
		i := slices.IndexFunc(all, func(e eventstore.Event) bool { return e.ID == bad[0].ID })
		if err := p.Apply(ctx, all[:i]); err != nil {
			t.Fatal(err)
		}
		if got := checkpoint(t, env.Backend); got != all[i-1].Position {
			t.Fatalf("checkpoint %s, want %s just before the bad event", got, all[i-1].Position)
		}
		if _, err := env.Backend.Client(ctx, "globex", "good"); err != nil {
			t.Fatalf("the event before the bad one: %v", err)
		}
		if err := p.Apply(ctx, all); !errors.Is(err, want) {
			t.Fatalf("apply past the bad event: err = %v, want %v", err, want)
		}
		if _, err := env.Backend.Client(ctx, "globex", "after"); !isNotFound(err) {
			t.Fatalf("the event after the bad one was applied: %v", err)
		}
	}
}

func testOtherAggregates(t *testing.T, env Env) {
	w := newWorld(t, env.Store)
	w.createTenant("acme", "Acme")
	key := eventstore.Event{ID: newID(), Type: "signing_key.created", Schema: 3, Data: json.RawMessage(`{"kid":"k1"}`), Meta: w.meta()}
	pos, err := env.Store.Append(t.Context(), eventstore.StreamID{Tenant: "acme", Type: "signing_key", ID: "k1"}, eventstore.NoStream, []eventstore.Event{key})
	if err != nil {
		t.Fatal(err)
	}
	w.last = pos
	p := projector(t, env.Backend, env.Store)
	if err := p.Apply(t.Context(), w.events()); err != nil {
		t.Fatal(err)
	}
	if cp := checkpoint(t, env.Backend); cp != pos {
		t.Fatalf("checkpoint %s, want %s past the skipped event", cp, pos)
	}
	same(t, "after an event of another aggregate", w.read(env.Backend), w.want())
}

func testStatus(t *testing.T, env Env) {
	w := newWorld(t, env.Store)
	p := projector(t, env.Backend, env.Store)
	ctx := t.Context()
	st, err := p.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Name != projections.Name || !st.CaughtUp || st.Lag != 0 || !st.Position.IsZero() || !st.Head.IsZero() {
		t.Fatalf("status of an empty store: %+v", st)
	}
	w.rich()
	w.settle()
	time.Sleep(5 * time.Millisecond) // so that the events are measurably old
	if st, err = p.Status(ctx); err != nil {
		t.Fatal(err)
	}
	if st.CaughtUp || st.Lag <= 0 || !st.Position.IsZero() || st.Head != w.last {
		t.Fatalf("status before applying anything: %+v, head should be %s", st, w.last)
	}
	if err := p.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err = p.Status(ctx); err != nil {
		t.Fatal(err)
	}
	if !st.CaughtUp || st.Lag != 0 || st.Position != w.last || st.Head != w.last {
		t.Fatalf("status after catching up: %+v, want caught up at %s", st, w.last)
	}
	w.register("acme", "late", settings(client.TypePublic, "Late", "urn:acme/late"))
	w.settle()
	if st, err = p.Status(ctx); err != nil {
		t.Fatal(err)
	}
	if st.CaughtUp || st.Lag <= 0 {
		t.Fatalf("status behind by one event: %+v", st)
	}
}
