package webhooks_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/webhook"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/aggregate"
	espg "github.com/clavisiam/clavis/eventstore/postgres"
	"github.com/clavisiam/clavis/eventstore/postgres/pgtest"
	essqlite "github.com/clavisiam/clavis/eventstore/sqlite"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/projections/postgres"
	"github.com/clavisiam/clavis/projections/sqlite"
	"github.com/clavisiam/clavis/projections/webhooks"
)

var dbURL string

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &dbURL)) }

// env is an event store and a webhook store in one fresh database;
// another opens a second webhook store on that database, as another node
// does.
type env struct {
	events  eventstore.Store
	store   webhooks.Store
	another func(t testing.TB) (eventstore.Store, webhooks.Store)
	ids     *atomic.Int64
	now     time.Time
	last    *appended
}

// appended is the position of the latest append. A reader of the
// PostgreSQL store sees an event only once every transaction that began
// before it has ended (Head too), and other tests' transactions run in
// the same database: tests wait for this, not for Head.
type appended struct {
	mu  sync.Mutex
	pos eventstore.Position
}

func (a *appended) add(p eventstore.Position) eventstore.Position {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pos.Less(p) {
		a.pos = p
	}
	return p
}

func (a *appended) get() eventstore.Position {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pos
}

var backends = map[string]func(t testing.TB) env{
	"sqlite": func(t testing.TB) env {
		path := filepath.Join(t.TempDir(), "clavis.db")
		open := func(t testing.TB) (eventstore.Store, webhooks.Store) {
			t.Helper()
			s, err := essqlite.Open(t.Context(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s, sqlite.NewWebhookStore(s.DB())
		}
		es, ws := open(t)
		return env{events: es, store: ws, another: open, ids: new(atomic.Int64), now: time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC), last: new(appended)}
	},
	"postgres": func(t testing.TB) env {
		url := pgtest.Schema(t, dbURL)
		open := func(t testing.TB) (eventstore.Store, webhooks.Store) {
			t.Helper()
			s, err := espg.Open(t.Context(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s, postgres.NewWebhookStore(s.Pool())
		}
		es, ws := open(t)
		return env{events: es, store: ws, another: open, ids: new(atomic.Int64), now: time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC), last: new(appended)}
	},
}

// forEach runs fn on each backend.
func forEach(t *testing.T, fn func(t *testing.T, e env)) {
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, open(t))
		})
	}
}

func (e env) newID() string { return fmt.Sprintf("evt-%d", e.ids.Add(1)) }

// command runs a command on endpoint id of tenant, through the domain, and
// returns the position of its last event.
func (e env) command(t testing.TB, tenant, id string, decide func(w *webhook.Webhook) ([]domain.Event, error)) eventstore.Position {
	t.Helper()
	res, err := aggregate.Execute(t.Context(), e.events, aggregate.Command[*webhook.Webhook]{
		Stream: webhooks.Stream(tenant, id),
		Decode: webhook.Decode,
		Replay: webhook.Replay,
		Decide: decide,
		Meta:   eventstore.Metadata{Actor: "root", OccurredAt: e.now},
		NewID:  e.newID,
	})
	if err != nil {
		t.Fatalf("command on %s/%s: %v", tenant, id, err)
	}
	if res.Position.IsZero() {
		t.Fatalf("command on %s/%s appended nothing", tenant, id)
	}
	return e.last.add(res.Position)
}

// create creates endpoint id of tenant; "w1" and "w2" hold slots 1 and
// 2 of their tenant, the others none.
func (e env) create(t testing.TB, tenant, id string) eventstore.Position {
	t.Helper()
	slot := map[string]int{"w1": 1, "w2": 2}[id]
	return e.command(t, tenant, id, func(*webhook.Webhook) ([]domain.Event, error) {
		return webhook.CreateInSlot(id, slot, webhook.Settings{URL: "https://hooks.example.com/" + tenant + "/" + id}, webhook.NewSecret{ID: "s1", Sealed: "sealed-" + id}, e.now)
	})
}

// clientEvent appends an event of another aggregate, which the projection
// passes over.
func (e env) clientEvent(t testing.TB, tenant string) eventstore.Position {
	t.Helper()
	ev := []eventstore.Event{{ID: e.newID(), Type: "client.registered", Schema: 1, Data: []byte(`{"note":"not a webhook event"}`),
		Meta: eventstore.Metadata{Actor: "root", OccurredAt: e.now}}}
	p, err := e.events.Append(t.Context(), eventstore.StreamID{Tenant: tenant, Type: "client", ID: e.newID()}, eventstore.NoStream, ev)
	if err != nil {
		t.Fatal(err)
	}
	return e.last.add(p)
}

func newProjection(t testing.TB, store webhooks.Store, events eventstore.Store, opts ...webhooks.Option) *webhooks.Projection {
	t.Helper()
	p, err := webhooks.NewProjection(store, events, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// catchUp has p apply every event appended so far.
func (e env) catchUp(t testing.TB, p *webhooks.Projection) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := p.WaitFor(ctx, e.last.get()); err != nil {
		t.Fatalf("WaitFor(%s): %v", e.last.get(), err)
	}
}

// folded is endpoint id of tenant as the domain folds its stream.
func (e env) folded(t testing.TB, tenant, id string) webhook.State {
	t.Helper()
	events, _, err := aggregate.Load(t.Context(), e.events, webhooks.Stream(tenant, id), webhook.Decode)
	if err != nil {
		t.Fatal(err)
	}
	w, err := webhook.Replay(events)
	if err != nil {
		t.Fatal(err)
	}
	return w.State()
}

func listed(t testing.TB, s webhooks.Store, tenant string) []string {
	t.Helper()
	es, err := s.Endpoints(t.Context(), tenant)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.State.ID)
	}
	return out
}

func endpoint(t testing.TB, s webhooks.Store, tenant, id string) webhooks.Endpoint {
	t.Helper()
	e, err := s.Endpoint(t.Context(), tenant, id)
	if err != nil {
		t.Fatalf("Endpoint(%s, %s): %v", tenant, id, err)
	}
	return e
}

// history appends a history over two tenants, with client events in
// between, and returns the positions that matter.
type positions struct {
	acmeW1, acmeW2, globexW1, replayTo, acmeW1Last eventstore.Position
}

func (e env) history(t testing.TB, step func()) positions {
	var p positions
	p.acmeW1 = e.create(t, "acme", "w1")
	step()
	e.clientEvent(t, "acme")
	p.globexW1 = e.create(t, "globex", "w1") // the same id in another tenant
	step()
	p.replayTo = e.clientEvent(t, "globex")
	e.command(t, "acme", "w1", func(w *webhook.Webhook) ([]domain.Event, error) {
		return w.Update(webhook.Settings{URL: "https://hooks.example.com/v2", Types: []string{"client.*"}}, e.now)
	})
	step()
	p.acmeW2 = e.create(t, "acme", "w2")
	e.command(t, "acme", "w2", func(w *webhook.Webhook) ([]domain.Event, error) { return w.Deactivate("paused", false, e.now) })
	step()
	e.clientEvent(t, "acme")
	e.command(t, "acme", "w1", func(w *webhook.Webhook) ([]domain.Event, error) {
		return w.RotateSecret(webhook.NewSecret{ID: "s2", Sealed: "sealed-2"}, time.Hour, e.now)
	})
	p.acmeW1Last = e.command(t, "acme", "w1", func(w *webhook.Webhook) ([]domain.Event, error) { return w.Replay(p.replayTo.String(), e.now) })
	step()
	e.command(t, "globex", "w1", func(w *webhook.Webhook) ([]domain.Event, error) { return w.Delete(e.now) })
	e.clientEvent(t, "globex")
	step()
	return p
}

// checkHistory checks what s holds after the history.
func (e env) checkHistory(t testing.TB, s webhooks.Store, p positions) {
	t.Helper()
	if got, want := listed(t, s, "acme"), []string{"w1", "w2"}; !slices.Equal(got, want) {
		t.Errorf("acme's endpoints = %v, want %v", got, want)
	}
	if got := listed(t, s, "globex"); len(got) != 0 {
		t.Errorf("globex's endpoints = %v, want none (its w1 is deleted)", got)
	}
	if _, err := s.Endpoint(t.Context(), "globex", "w1"); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("globex's deleted w1: %v, want ErrNotFound", err)
	}
	w1 := endpoint(t, s, "acme", "w1")
	if diff := cmp.Diff(e.folded(t, "acme", "w1"), w1.State); diff != "" {
		t.Errorf("acme's w1 (-folded by the domain +projected):\n%s", diff)
	}
	if w1.State.Slot != 1 {
		t.Errorf("acme's w1 holds slot %d, want 1", w1.State.Slot)
	}
	if w1.Position != p.acmeW1Last || w1.Delivery.Cursor != p.replayTo || w1.Tenant != "acme" {
		t.Errorf("acme's w1 at %s, cursor %s; want at %s, cursor %s (the replay's)", w1.Position, w1.Delivery.Cursor, p.acmeW1Last, p.replayTo)
	}
	w2 := endpoint(t, s, "acme", "w2")
	if diff := cmp.Diff(e.folded(t, "acme", "w2"), w2.State); diff != "" {
		t.Errorf("acme's w2 (-folded by the domain +projected):\n%s", diff)
	}
	if w2.State.Active || w2.Delivery.Cursor != p.acmeW2 {
		t.Errorf("acme's w2: active %v, cursor %s; want inactive at its creation %s", w2.State.Active, w2.Delivery.Cursor, p.acmeW2)
	}
	cp, err := s.Checkpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if last := e.last.get(); cp.Less(last) {
		t.Errorf("checkpoint %s, want at least the last event's %s (client events move it too)", cp, last)
	}
}

func TestProjectionFoldsHistory(t *testing.T) {
	forEach(t, func(t *testing.T, e env) {
		p := newProjection(t, e.store, e.events)
		pos := e.history(t, func() {})
		e.catchUp(t, p)
		e.checkHistory(t, e.store, pos)
	})
}

func TestRebuildEqualsIncrementalAndKeepsDeliveries(t *testing.T) {
	forEach(t, func(t *testing.T, e env) {
		p := newProjection(t, e.store, e.events, webhooks.WithPageSize(2))
		pos := e.history(t, func() { e.catchUp(t, p) })
		e.checkHistory(t, e.store, pos)
		// acme's w1 has had everything delivered.
		held, err := e.store.Acquire(t.Context(), "node-1", e.now, e.now.Add(time.Minute), 10)
		if err != nil || len(held) != 1 {
			t.Fatalf("Acquire = %v, %v", held, err)
		}
		d := held[0].Delivery
		d.Cursor, d.LastAttempt, d.LastStatus = e.last.get(), e.now, 204
		sent := []webhooks.Attempt{{MessageID: "evt-1", EventType: "client.registered", Cursor: d.Cursor.String(), Trigger: webhooks.TriggerDelivery, At: e.now, Status: 204}}
		if err := e.store.Record(t.Context(), "node-1", "acme", "w1", e.now, d, sent); err != nil {
			t.Fatal(err)
		}
		incremental := all(t, e.store)
		if err := p.Rebuild(t.Context()); err != nil {
			t.Fatal(err)
		}
		e.catchUp(t, p) // what the rebuild could not see yet
		e.checkHistory(t, e.store, webhooksAfterDelivery(pos, d.Cursor))
		if diff := cmp.Diff(incremental, all(t, e.store)); diff != "" {
			t.Errorf("rebuilt (-incremental +rebuilt):\n%s", diff)
		}
		as, err := e.store.Attempts(t.Context(), "acme", "w1", 0, 10)
		if err != nil || len(as) != 1 {
			t.Errorf("attempts after the rebuild = %v, %v; want the one sent", as, err)
		}
	})
}

// webhooksAfterDelivery is pos with acme's w1 delivered up to cursor.
func webhooksAfterDelivery(pos positions, cursor eventstore.Position) positions {
	pos.replayTo = cursor
	return pos
}

func all(t testing.TB, s webhooks.Store) []webhooks.Endpoint {
	t.Helper()
	var out []webhooks.Endpoint
	for _, tenant := range []string{"acme", "globex"} {
		es, err := s.Endpoints(t.Context(), tenant)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, es...)
	}
	st, err := s.States(t.Context(), "globex", []string{"w1"})
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, webhooks.Endpoint{Tenant: "globex", State: st["w1"]})
	return out
}

func TestReplayRestartsDeliveries(t *testing.T) {
	forEach(t, func(t *testing.T, e env) {
		p := newProjection(t, e.store, e.events)
		created := e.create(t, "acme", "w1")
		later := e.clientEvent(t, "acme")
		e.clientEvent(t, "acme")
		e.catchUp(t, p)
		now := e.now
		held, err := e.store.Acquire(t.Context(), "node-1", now, now.Add(time.Minute), 10)
		if err != nil || len(held) != 1 {
			t.Fatalf("Acquire = %v, %v", held, err)
		}
		d := held[0].Delivery
		d.Cursor, d.Failures, d.FailingSince, d.NextAttempt = later, 4, now, now.Add(time.Hour)
		if err := e.store.Record(t.Context(), "node-1", "acme", "w1", now, d, nil); err != nil {
			t.Fatal(err)
		}
		e.command(t, "acme", "w1", func(w *webhook.Webhook) ([]domain.Event, error) { return w.Replay("", e.now) })
		e.catchUp(t, p)
		got := endpoint(t, e.store, "acme", "w1").Delivery
		if !got.Cursor.IsZero() || got.Failures != 0 || !got.NextAttempt.IsZero() || got.Epoch <= d.Epoch {
			t.Errorf("after a replay from the start: %+v; want the zero cursor, no failures, an epoch above %d", got, d.Epoch)
		}
		if err := e.store.Record(t.Context(), "node-1", "acme", "w1", now, d, nil); !errors.Is(err, webhooks.ErrStale) {
			t.Errorf("Record from before the replay: %v, want ErrStale", err)
		}
		e.command(t, "acme", "w1", func(w *webhook.Webhook) ([]domain.Event, error) { return w.Replay(created.String(), e.now) })
		e.catchUp(t, p)
		if got := endpoint(t, e.store, "acme", "w1").Delivery.Cursor; got != created {
			t.Errorf("after a replay from %s: cursor %s", created, got)
		}
	})
}

func TestActivationResumes(t *testing.T) {
	forEach(t, func(t *testing.T, e env) {
		p := newProjection(t, e.store, e.events)
		e.create(t, "acme", "w1")
		at := e.clientEvent(t, "acme")
		e.catchUp(t, p)
		now := e.now
		held, err := e.store.Acquire(t.Context(), "node-1", now, now.Add(time.Minute), 10)
		if err != nil || len(held) != 1 {
			t.Fatalf("Acquire = %v, %v", held, err)
		}
		d := held[0].Delivery
		d.Cursor, d.Failures, d.FailingSince, d.NextAttempt = at, 40, now.Add(-72*time.Hour), now.Add(time.Hour)
		if err := e.store.Record(t.Context(), "node-1", "acme", "w1", now, d, nil); err != nil {
			t.Fatal(err)
		}
		e.command(t, "acme", "w1", func(w *webhook.Webhook) ([]domain.Event, error) {
			return w.Deactivate("failing for three days", true, e.now)
		})
		e.catchUp(t, p)
		if held, err := e.store.Acquire(t.Context(), "node-1", now.Add(time.Second), now.Add(time.Minute), 10); err != nil || len(held) != 0 {
			t.Errorf("Acquire of a deactivated endpoint = %v, %v; want none", held, err)
		}
		if got := endpoint(t, e.store, "acme", "w1"); got.State.Active || !got.State.Automatic || got.Delivery.Failures != 40 {
			t.Errorf("deactivated: %+v", got)
		}
		e.command(t, "acme", "w1", func(w *webhook.Webhook) ([]domain.Event, error) { return w.Activate(e.now) })
		e.catchUp(t, p)
		got := endpoint(t, e.store, "acme", "w1")
		if !got.State.Active || got.Delivery.Cursor != at || got.Delivery.Failures != 0 || !got.Delivery.FailingSince.IsZero() || got.Delivery.Epoch <= d.Epoch {
			t.Errorf("activated: %+v; want active, cursor %s kept, no failures, an epoch above %d", got, at, d.Epoch)
		}
		if held, err := e.store.Acquire(t.Context(), "node-2", now.Add(2*time.Second), now.Add(time.Minute), 10); err != nil || len(held) != 1 {
			t.Errorf("Acquire after the activation = %v, %v; want it", held, err)
		}
	})
}

func TestDeletedEndpointIsGone(t *testing.T) {
	forEach(t, func(t *testing.T, e env) {
		p := newProjection(t, e.store, e.events)
		e.create(t, "acme", "w1")
		e.create(t, "acme", "w2")
		e.command(t, "acme", "w1", func(w *webhook.Webhook) ([]domain.Event, error) { return w.Delete(e.now) })
		e.catchUp(t, p)
		if got := listed(t, e.store, "acme"); !slices.Equal(got, []string{"w2"}) {
			t.Errorf("endpoints = %v, want [w2]", got)
		}
		held, err := e.store.Acquire(t.Context(), "node-1", e.now, e.now.Add(time.Minute), 10)
		if err != nil || len(held) != 1 || held[0].State.ID != "w2" {
			t.Errorf("Acquire = %v, %v; want w2 alone", held, err)
		}
	})
}

func TestCorruptEventStopsProjection(t *testing.T) {
	cases := map[string]struct {
		typ  string
		data string
		want error
	}{
		"corrupt payload": {webhook.EventTypeUpdated, `{"settings":{"url":7}}`, domain.ErrCorruptEvent},
		"unknown type":    {"webhook.exploded", `{}`, domain.ErrUnknownEvent},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			forEach(t, func(t *testing.T, e env) {
				p := newProjection(t, e.store, e.events, webhooks.WithPageSize(1))
				e.create(t, "acme", "w1")
				before := e.clientEvent(t, "acme")
				bad := eventstore.Event{ID: "bad-event", Type: c.typ, Schema: 1, Data: []byte(c.data), Meta: eventstore.Metadata{Actor: "root", OccurredAt: e.now}}
				if _, err := e.events.Append(t.Context(), webhooks.Stream("acme", "w1"), 1, []eventstore.Event{bad}); err != nil {
					t.Fatal(err)
				}
				last := e.create(t, "acme", "w2")
				ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
				defer cancel()
				err := p.WaitFor(ctx, last)
				var ee *projections.EventError
				if !errors.As(err, &ee) || ee.EventID != "bad-event" || !errors.Is(err, c.want) {
					t.Fatalf("WaitFor past the bad event: %v; want an EventError naming bad-event, matching %v", err, c.want)
				}
				if err := p.CatchUp(t.Context()); !errors.As(err, &ee) {
					t.Errorf("CatchUp: %v, want the EventError again", err)
				}
				if cp, err := e.store.Checkpoint(t.Context()); err != nil || cp != before {
					t.Errorf("checkpoint %s, %v; want it stopped before the bad event, at %s", cp, err, before)
				}
				if _, err := e.store.Endpoint(t.Context(), "acme", "w2"); !errors.Is(err, webhooks.ErrNotFound) {
					t.Errorf("w2, after the bad event: %v, want ErrNotFound (never skipped)", err)
				}
			})
		})
	}
}

func TestWaitForCatchesUp(t *testing.T) {
	forEach(t, func(t *testing.T, e env) {
		p := newProjection(t, e.store, e.events)
		at := e.create(t, "acme", "w1")
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if err := p.WaitFor(ctx, at); err != nil {
			t.Fatalf("WaitFor: %v", err)
		}
		endpoint(t, e.store, "acme", "w1")
		// Another node's projection moved the checkpoint: this one sees it.
		events2, store2 := e.another(t)
		other := newProjection(t, store2, events2)
		at = e.create(t, "acme", "w2")
		e.catchUp(t, other)
		if err := p.WaitFor(ctx, at); err != nil {
			t.Fatalf("WaitFor after another node applied: %v", err)
		}
		// A position nothing reaches: bounded by the context.
		short, cancel2 := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel2()
		beyond := eventstore.Position{Commit: at.Commit + 1000, Seq: at.Seq + 1000}
		if err := p.WaitFor(short, beyond); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("WaitFor beyond the head: %v, want context.DeadlineExceeded", err)
		}
	})
}

func TestRunFollowsTheStore(t *testing.T) {
	forEach(t, func(t *testing.T, e env) {
		p := newProjection(t, e.store, e.events)
		ctx, cancel := context.WithCancel(t.Context())
		wake := make(chan struct{}, 1)
		done := make(chan struct{})
		go func() { defer close(done); p.Run(ctx, wake) }()
		defer func() { cancel(); <-done }()
		e.create(t, "acme", "w1")
		wake <- struct{}{}
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, err := e.store.Endpoint(t.Context(), "acme", "w1"); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("Run did not apply the endpoint within 10 s")
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// TestProjectionsRace runs two projections, as two nodes do, on one
// PostgreSQL database while endpoints are changed: each catches up
// without error, and what they wrote is what one would have.
func TestProjectionsRace(t *testing.T) {
	e := backends["postgres"](t)
	events2, store2 := e.another(t)
	p1 := newProjection(t, e.store, e.events, webhooks.WithPageSize(3))
	p2 := newProjection(t, store2, events2, webhooks.WithPageSize(3))
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, p := range []*webhooks.Projection{p1, p2} {
		wg.Go(func() {
			for ctx.Err() == nil {
				if err := p.CatchUp(ctx); err != nil && ctx.Err() == nil {
					errs <- err
					return
				}
			}
		})
	}
	pos := e.history(t, func() {})
	for i := range 10 {
		tenant := []string{"acme", "globex"}[i%2]
		id := fmt.Sprintf("x%d", i)
		e.create(t, tenant, id)
		e.clientEvent(t, tenant)
		e.command(t, tenant, id, func(w *webhook.Webhook) ([]domain.Event, error) { return w.Deactivate("", false, e.now) })
	}
	// Both have applied every event, then stop.
	wctx, wcancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer wcancel()
	for _, p := range []*webhooks.Projection{p1, p2} {
		if err := p.WaitFor(wctx, e.last.get()); err != nil {
			t.Fatalf("WaitFor: %v", err)
		}
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a racing projection failed: %v", err)
	}
	if got := listed(t, e.store, "acme"); !slices.Equal(got, []string{"w1", "w2", "x0", "x2", "x4", "x6", "x8"}) {
		t.Errorf("acme's endpoints = %v", got)
	}
	for i := range 10 {
		tenant := []string{"acme", "globex"}[i%2]
		id := fmt.Sprintf("x%d", i)
		if diff := cmp.Diff(e.folded(t, tenant, id), endpoint(t, e.store, tenant, id).State); diff != "" {
			t.Errorf("%s/%s (-folded +projected):\n%s", tenant, id, diff)
		}
	}
	if got := endpoint(t, e.store, "acme", "w1"); got.Delivery.Cursor != pos.replayTo {
		t.Errorf("acme's w1 cursor %s, want %s", got.Delivery.Cursor, pos.replayTo)
	}
}

func TestNewProjectionOptions(t *testing.T) {
	e := backends["sqlite"](t)
	for name, opts := range map[string][]webhooks.Option{
		"nil option":          {nil},
		"page size 0":         {webhooks.WithPageSize(0)},
		"page size too large": {webhooks.WithPageSize(eventstore.MaxRead + 1)},
	} {
		if _, err := webhooks.NewProjection(e.store, e.events, nil, opts...); !errors.Is(err, webhooks.ErrInvalidOption) {
			t.Errorf("%s: %v, want ErrInvalidOption", name, err)
		}
	}
	if _, err := webhooks.NewProjection(nil, e.events, nil); !errors.Is(err, webhooks.ErrInvalidOption) {
		t.Errorf("no store: %v, want ErrInvalidOption", err)
	}
}
