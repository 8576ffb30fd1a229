// Package webhookstest is the conformance suite of [webhooks.Store]. Each
// backend's tests call [Run] with a function that opens a fresh, empty
// store.
package webhookstest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/clavisiam/clavis/domain/webhook"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/projections/webhooks"
)

// Run runs the store suite; newStore returns a fresh, empty store, closed
// when t ends.
func Run(t *testing.T, newStore func(t testing.TB) webhooks.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s webhooks.Store)
	}{
		{"EmptyStore", testEmpty},
		{"ApplyMovesCheckpointAndWritesEndpoints", testApply},
		{"StaleApplyWritesNothing", testStaleApply},
		{"ConcurrentAppliesOneWins", testConcurrentApply},
		{"InvalidApplyWritesNothing", testInvalidApply},
		{"NewEndpointStartsAtStart", testStart},
		{"UpdateKeepsDelivery", testUpdateKeepsDelivery},
		{"ReplayMovesCursorGrowsEpochClearsFailures", testReplay},
		{"ResumeClearsFailuresKeepsCursor", testResume},
		{"DeletedEndpointIsNotFoundNorAcquired", testDeleted},
		{"EndpointsInCreationOrder", testOrder},
		{"TenantsAreIsolated", testTenants},
		{"StatesOfKnownEndpoints", testStates},
		{"AcquireFreeExpiredAndOwn", testAcquire},
		{"AcquireUpToLimit", testAcquireLimit},
		{"AcquireSkipsInactive", testAcquireInactive},
		{"AcquireInvalid", testAcquireInvalid},
		{"ConcurrentOwnersGetDisjointEndpoints", testAcquireRace},
		{"ReleaseOnlyOwnLease", testRelease},
		{"RecordFencedByLease", testRecordLease},
		{"RecordFencedByEpoch", testRecordEpoch},
		{"RecordNeverMovesCursorBack", testRecordCursor},
		{"RecordAppendsAttempts", testRecordAttempts},
		{"AttemptsPageNewestFirst", testAttemptsPages},
		{"AttemptsLimits", testAttemptsLimits},
		{"LogAddsAttempts", testLog},
		{"PruneByAgeAndKeep", testPrune},
		{"ResetEmptiesStore", testReset},
		{"ResetEndpointsKeepsDeliveries", testResetEndpoints},
		{"SeenStartOrResumeLeavesDelivery", testSeenStart},
		{"CancelledContext", testCancelled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

// t0 is the suite's now.
var t0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func pos(n int) eventstore.Position { return eventstore.Position{Commit: uint64(n), Seq: int64(n)} }

// state is endpoint id's state at version.
func state(id string, version int64) webhook.State {
	return webhook.State{
		ID:        id,
		Settings:  webhook.Settings{URL: "https://hooks.example.com/" + id, Types: []string{"client.*"}, Description: "endpoint " + id},
		Active:    true,
		Secrets:   []webhook.Secret{{ID: "s1", Sealed: "sealed-" + id, CreatedAt: t0}},
		CreatedAt: t0,
		UpdatedAt: t0.Add(time.Duration(version) * time.Second),
		Version:   version,
	}
}

// created is the change of endpoint id created at p.
func created(tenant, id string, p eventstore.Position) webhooks.Change {
	start := p
	return webhooks.Change{Tenant: tenant, State: state(id, 1), Position: p, Start: &start}
}

// changed is a later change of endpoint id, at p, of version.
func changed(tenant, id string, version int64, p eventstore.Position) webhooks.Change {
	return webhooks.Change{Tenant: tenant, State: state(id, version), Position: p}
}

// apply applies changes from the store's checkpoint to to.
func apply(t testing.TB, s webhooks.Store, to eventstore.Position, changes ...webhooks.Change) {
	t.Helper()
	from := checkpoint(t, s)
	if err := s.Apply(t.Context(), from, to, changes); err != nil {
		t.Fatalf("Apply(%s, %s): %v", from, to, err)
	}
}

func checkpoint(t testing.TB, s webhooks.Store) eventstore.Position {
	t.Helper()
	p, err := s.Checkpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func endpoint(t testing.TB, s webhooks.Store, tenant, id string) webhooks.Endpoint {
	t.Helper()
	e, err := s.Endpoint(t.Context(), tenant, id)
	if err != nil {
		t.Fatalf("Endpoint(%s, %s): %v", tenant, id, err)
	}
	return e
}

func endpoints(t testing.TB, s webhooks.Store, tenant string) []webhooks.Endpoint {
	t.Helper()
	es, err := s.Endpoints(t.Context(), tenant)
	if err != nil {
		t.Fatalf("Endpoints(%s): %v", tenant, err)
	}
	return es
}

func ids(es []webhooks.Endpoint) []string {
	out := make([]string, 0, len(es))
	for _, e := range es {
		out = append(out, e.Tenant+"/"+e.State.ID)
	}
	return out
}

func acquire(t testing.TB, s webhooks.Store, owner string, now time.Time, limit int) []string {
	t.Helper()
	es, err := s.Acquire(t.Context(), owner, now, now.Add(30*time.Second), limit)
	if err != nil {
		t.Fatalf("Acquire(%s): %v", owner, err)
	}
	for _, e := range es {
		if e.Delivery.Owner != owner {
			t.Errorf("Acquire(%s) returned %s/%s owned by %q", owner, e.Tenant, e.State.ID, e.Delivery.Owner)
		}
	}
	out := ids(es)
	slices.Sort(out)
	return out
}

func attempts(t testing.TB, s webhooks.Store, tenant, id string, before int64, limit int) []webhooks.Attempt {
	t.Helper()
	as, err := s.Attempts(t.Context(), tenant, id, before, limit)
	if err != nil {
		t.Fatalf("Attempts(%s, %s, %d, %d): %v", tenant, id, before, limit, err)
	}
	return as
}

// attempt is a delivery attempt of the event at cursor n, made at.
func attempt(tenant, id string, n int, at time.Time, status int) webhooks.Attempt {
	a := webhooks.Attempt{Tenant: tenant, Webhook: id, MessageID: fmt.Sprintf("evt-%d", n), EventType: "client.created",
		Cursor: pos(n).String(), Trigger: webhooks.TriggerDelivery, At: at, Status: status, Latency: 42 * time.Millisecond}
	if status < 200 || status > 299 {
		a.Error = fmt.Sprintf("status %d", status)
		a.NextRetry = at.Add(time.Minute)
	}
	return a
}

// stripIDs returns as without their store-assigned IDs.
func stripIDs(as []webhooks.Attempt) []webhooks.Attempt {
	out := slices.Clone(as)
	for i := range out {
		out[i].ID = 0
	}
	return out
}

func testEmpty(t *testing.T, s webhooks.Store) {
	ctx := t.Context()
	if p := checkpoint(t, s); !p.IsZero() {
		t.Errorf("Checkpoint = %s, want zero", p)
	}
	if es := endpoints(t, s, "acme"); len(es) != 0 {
		t.Errorf("Endpoints = %v, want none", ids(es))
	}
	if _, err := s.Endpoint(ctx, "acme", "w1"); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("Endpoint: %v, want ErrNotFound", err)
	}
	st, err := s.States(ctx, "acme", []string{"w1"})
	if err != nil || len(st) != 0 {
		t.Errorf("States = %v, %v; want none", st, err)
	}
	if got := acquire(t, s, "node-1", t0, 10); len(got) != 0 {
		t.Errorf("Acquire = %v, want none", got)
	}
	if as := attempts(t, s, "acme", "w1", 0, 10); len(as) != 0 {
		t.Errorf("Attempts = %v, want none", as)
	}
}

func testApply(t *testing.T, s webhooks.Store) {
	apply(t, s, pos(3), created("acme", "w1", pos(2)))
	if p := checkpoint(t, s); p != pos(3) {
		t.Errorf("Checkpoint = %s, want %s", p, pos(3))
	}
	got := endpoint(t, s, "acme", "w1")
	want := webhooks.Endpoint{Tenant: "acme", State: state("w1", 1), Position: pos(2),
		Delivery: webhooks.Delivery{Cursor: pos(2), Epoch: got.Delivery.Epoch}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Endpoint (-want +got):\n%s", diff)
	}
	// An idle page moves the checkpoint alone.
	apply(t, s, pos(7))
	if p := checkpoint(t, s); p != pos(7) {
		t.Errorf("Checkpoint after an idle page = %s, want %s", p, pos(7))
	}
	apply(t, s, pos(9), changed("acme", "w1", 2, pos(8)))
	got = endpoint(t, s, "acme", "w1")
	if diff := cmp.Diff(state("w1", 2), got.State); diff != "" || got.Position != pos(8) {
		t.Errorf("Endpoint after an update at %s: position %s, state (-want +got):\n%s", pos(8), got.Position, diff)
	}
}

func testStaleApply(t *testing.T, s webhooks.Store) {
	ctx := t.Context()
	apply(t, s, pos(1), created("acme", "w1", pos(1)))
	for _, from := range []eventstore.Position{{}, pos(2)} {
		err := s.Apply(ctx, from, pos(5), []webhooks.Change{created("acme", "w2", pos(4)), changed("acme", "w1", 2, pos(5))})
		if !errors.Is(err, webhooks.ErrStale) {
			t.Errorf("Apply from %s with the checkpoint at %s: %v, want ErrStale", from, pos(1), err)
		}
	}
	if p := checkpoint(t, s); p != pos(1) {
		t.Errorf("Checkpoint = %s, want %s", p, pos(1))
	}
	if _, err := s.Endpoint(ctx, "acme", "w2"); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("Endpoint w2 after stale applies: %v, want ErrNotFound", err)
	}
	if v := endpoint(t, s, "acme", "w1").State.Version; v != 1 {
		t.Errorf("w1's version after stale applies = %d, want 1", v)
	}
}

func testConcurrentApply(t *testing.T, s webhooks.Store) {
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = s.Apply(t.Context(), eventstore.Position{}, pos(1), []webhooks.Change{created("acme", fmt.Sprintf("w%d", i), pos(1))})
		})
	}
	close(start)
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, webhooks.ErrStale):
			t.Errorf("Apply %d: %v, want nil or ErrStale", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d concurrent applies from the same checkpoint succeeded, want 1", won)
	}
	if es := endpoints(t, s, "acme"); len(es) != 1 {
		t.Errorf("Endpoints = %v, want the winner's one", ids(es))
	}
}

func testInvalidApply(t *testing.T, s webhooks.Store) {
	ctx := t.Context()
	noStart := created("acme", "w1", pos(1))
	noStart.Start = nil
	cases := map[string]struct {
		from, to eventstore.Position
		changes  []webhooks.Change
	}{
		"to not after from":       {pos(0), pos(0), nil},
		"new endpoint, no start":  {pos(0), pos(1), []webhooks.Change{noStart}},
		"no tenant":               {pos(0), pos(1), []webhooks.Change{created("", "w1", pos(1))}},
		"no id":                   {pos(0), pos(1), []webhooks.Change{created("acme", "", pos(1))}},
		"one bad among good ones": {pos(0), pos(2), []webhooks.Change{created("acme", "w2", pos(1)), created("acme", "", pos(2))}},
	}
	for name, c := range cases {
		if err := s.Apply(ctx, c.from, c.to, c.changes); !errors.Is(err, webhooks.ErrInvalid) {
			t.Errorf("%s: Apply: %v, want ErrInvalid", name, err)
		}
	}
	if p := checkpoint(t, s); !p.IsZero() {
		t.Errorf("Checkpoint after invalid applies = %s, want zero", p)
	}
	if es := endpoints(t, s, "acme"); len(es) != 0 {
		t.Errorf("Endpoints after invalid applies = %v, want none", ids(es))
	}
}

func testStart(t *testing.T, s webhooks.Store) {
	c := created("acme", "w1", pos(4))
	start := pos(3)
	c.Start = &start
	apply(t, s, pos(4), c)
	d := endpoint(t, s, "acme", "w1").Delivery
	if d.Cursor != start || d.Failures != 0 || !d.FailingSince.IsZero() || !d.NextAttempt.IsZero() || d.Owner != "" {
		t.Errorf("new endpoint's delivery = %+v, want a clean one at %s", d, start)
	}
}

// failing has owner deliver endpoint id up to cursor and fail three
// times at the next event, and returns the delivery recorded.
func failing(t testing.TB, s webhooks.Store, owner, tenant, id string, cursor eventstore.Position, now time.Time) webhooks.Delivery {
	t.Helper()
	if _, err := s.Acquire(t.Context(), owner, now, now.Add(time.Minute), 100); err != nil {
		t.Fatal(err)
	}
	d := endpoint(t, s, tenant, id).Delivery
	d.Cursor, d.Failures, d.FailingSince, d.NextAttempt = cursor, 3, now.Add(-time.Hour), now.Add(5*time.Minute)
	d.LastAttempt, d.LastStatus, d.LastError = now, 503, "status 503"
	if err := s.Record(t.Context(), owner, tenant, id, now, d, nil); err != nil {
		t.Fatalf("Record: %v", err)
	}
	return d
}

func testUpdateKeepsDelivery(t *testing.T, s webhooks.Store) {
	apply(t, s, pos(1), created("acme", "w1", pos(1)))
	before := failing(t, s, "node-1", "acme", "w1", pos(5), t0)
	apply(t, s, pos(9), changed("acme", "w1", 2, pos(9)))
	got := endpoint(t, s, "acme", "w1").Delivery
	before.Owner, before.LeaseUntil = "node-1", t0.Add(time.Minute)
	if diff := cmp.Diff(before, got); diff != "" {
		t.Errorf("delivery after an update (-want +got):\n%s", diff)
	}
}

func testReplay(t *testing.T, s webhooks.Store) {
	apply(t, s, pos(1), created("acme", "w1", pos(1)))
	before := failing(t, s, "node-1", "acme", "w1", pos(6), t0)
	c := changed("acme", "w1", 2, pos(9))
	from := pos(2)
	c.Start = &from
	apply(t, s, pos(9), c)
	got := endpoint(t, s, "acme", "w1").Delivery
	want := webhooks.Delivery{Cursor: from, Epoch: before.Epoch + 1, LastAttempt: before.LastAttempt, LastStatus: 503,
		LastError: "status 503", Owner: "node-1", LeaseUntil: t0.Add(time.Minute)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("delivery after a replay (-want +got):\n%s", diff)
	}
	// A replay forward moves the cursor forward.
	c = changed("acme", "w1", 3, pos(10))
	from = pos(9)
	c.Start = &from
	apply(t, s, pos(10), c)
	if got := endpoint(t, s, "acme", "w1").Delivery; got.Cursor != from || got.Epoch != before.Epoch+2 {
		t.Errorf("delivery after a replay forward: cursor %s, epoch %d; want %s, %d", got.Cursor, got.Epoch, from, before.Epoch+2)
	}
}

func testResume(t *testing.T, s webhooks.Store) {
	apply(t, s, pos(1), created("acme", "w1", pos(1)))
	before := failing(t, s, "node-1", "acme", "w1", pos(6), t0)
	c := changed("acme", "w1", 2, pos(9))
	c.Resume = true
	apply(t, s, pos(9), c)
	got := endpoint(t, s, "acme", "w1").Delivery
	want := webhooks.Delivery{Cursor: pos(6), Epoch: before.Epoch + 1, LastAttempt: before.LastAttempt, LastStatus: 503,
		LastError: "status 503", Owner: "node-1", LeaseUntil: t0.Add(time.Minute)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("delivery after a resume (-want +got):\n%s", diff)
	}
}

func testDeleted(t *testing.T, s webhooks.Store) {
	ctx := t.Context()
	apply(t, s, pos(2), created("acme", "w1", pos(1)), created("acme", "w2", pos(2)))
	del := changed("acme", "w1", 2, pos(3))
	del.State.Deleted, del.State.Active = true, false
	apply(t, s, pos(3), del)
	if _, err := s.Endpoint(ctx, "acme", "w1"); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("Endpoint of a deleted endpoint: %v, want ErrNotFound", err)
	}
	if got := ids(endpoints(t, s, "acme")); !slices.Equal(got, []string{"acme/w2"}) {
		t.Errorf("Endpoints = %v, want [acme/w2]", got)
	}
	if got := acquire(t, s, "node-1", t0, 10); !slices.Equal(got, []string{"acme/w2"}) {
		t.Errorf("Acquire = %v, want [acme/w2]", got)
	}
	st, err := s.States(ctx, "acme", []string{"w1"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]webhook.State{"w1": del.State}, st); diff != "" {
		t.Errorf("States of a deleted endpoint (-want +got):\n%s", diff)
	}
}

func testOrder(t *testing.T, s webhooks.Store) {
	apply(t, s, pos(1), created("acme", "w-b", pos(1)))
	apply(t, s, pos(3), created("acme", "w-c", pos(2)), created("acme", "w-a", pos(3)))
	// A later change does not move an endpoint in the order.
	apply(t, s, pos(4), changed("acme", "w-b", 2, pos(4)))
	want := []string{"acme/w-b", "acme/w-c", "acme/w-a"}
	if got := ids(endpoints(t, s, "acme")); !slices.Equal(got, want) {
		t.Errorf("Endpoints = %v, want %v (the order of creation)", got, want)
	}
	es := endpoints(t, s, "acme")
	if es[0].State.Version != 2 || es[0].Position != pos(4) {
		t.Errorf("w-b in the list: version %d at %s, want 2 at %s", es[0].State.Version, es[0].Position, pos(4))
	}
}

func testTenants(t *testing.T, s webhooks.Store) {
	ctx := t.Context()
	apply(t, s, pos(2), created("acme", "w1", pos(1)), created("globex", "w1", pos(2)))
	apply(t, s, pos(3), created("globex", "w2", pos(3)))
	del := changed("acme", "w1", 2, pos(4))
	del.State.Deleted = true
	apply(t, s, pos(4), del)
	if got := ids(endpoints(t, s, "acme")); len(got) != 0 {
		t.Errorf("acme's endpoints = %v, want none (its w1 is deleted, globex's is not its)", got)
	}
	if got := ids(endpoints(t, s, "globex")); !slices.Equal(got, []string{"globex/w1", "globex/w2"}) {
		t.Errorf("globex's endpoints = %v", got)
	}
	if _, err := s.Endpoint(ctx, "acme", "w2"); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("Endpoint(acme, globex's w2): %v, want ErrNotFound", err)
	}
	if e := endpoint(t, s, "globex", "w1"); e.Tenant != "globex" || e.State.Deleted || e.Delivery.Cursor != pos(2) {
		t.Errorf("globex's w1 = %+v, want its own, alive, at %s", e, pos(2))
	}
	// Deliveries and logs are per tenant too.
	now := t0
	if _, err := s.Acquire(ctx, "node-1", now, now.Add(time.Minute), 10); err != nil {
		t.Fatal(err)
	}
	if err := s.Record(ctx, "node-1", "globex", "w1", now, webhooks.Delivery{Cursor: pos(9), Epoch: endpoint(t, s, "globex", "w1").Delivery.Epoch},
		[]webhooks.Attempt{attempt("globex", "w1", 9, now, 200)}); err != nil {
		t.Fatal(err)
	}
	if as := attempts(t, s, "acme", "w1", 0, 10); len(as) != 0 {
		t.Errorf("acme's w1 attempts = %v, want none (globex's are not its)", as)
	}
	if as := attempts(t, s, "globex", "w1", 0, 10); len(as) != 1 {
		t.Errorf("globex's w1 attempts = %v, want one", as)
	}
	st, err := s.States(ctx, "acme", []string{"w1", "w2"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st["w2"]; ok || len(st) != 1 {
		t.Errorf("States(acme, w1 w2) = %v, want acme's w1 alone", st)
	}
}

func testStates(t *testing.T, s webhooks.Store) {
	apply(t, s, pos(3), created("acme", "w1", pos(1)), created("acme", "w2", pos(2)), created("acme", "w3", pos(3)))
	apply(t, s, pos(4), changed("acme", "w2", 2, pos(4)))
	st, err := s.States(t.Context(), "acme", []string{"w2", "w3", "nope"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]webhook.State{"w2": state("w2", 2), "w3": state("w3", 1)}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("States (-want +got):\n%s", diff)
	}
	if st, err := s.States(t.Context(), "acme", nil); err != nil || len(st) != 0 {
		t.Errorf("States of no ids = %v, %v; want none", st, err)
	}
}

func testAcquire(t *testing.T, s webhooks.Store) {
	ctx := t.Context()
	apply(t, s, pos(2), created("acme", "w1", pos(1)), created("globex", "w1", pos(2)))
	all := []string{"acme/w1", "globex/w1"}
	if got := acquire(t, s, "node-1", t0, 10); !slices.Equal(got, all) {
		t.Errorf("node-1 acquires free endpoints: %v, want %v", got, all)
	}
	e := endpoint(t, s, "acme", "w1")
	if !e.Delivery.LeaseUntil.Equal(t0.Add(30 * time.Second)) {
		t.Errorf("lease until %s, want %s", e.Delivery.LeaseUntil, t0.Add(30*time.Second))
	}
	if got := acquire(t, s, "node-2", t0.Add(10*time.Second), 10); len(got) != 0 {
		t.Errorf("node-2 acquires leased endpoints: %v, want none", got)
	}
	// node-1 renews its own.
	if got := acquire(t, s, "node-1", t0.Add(20*time.Second), 10); !slices.Equal(got, all) {
		t.Errorf("node-1 renews: %v, want %v", got, all)
	}
	if e := endpoint(t, s, "acme", "w1"); !e.Delivery.LeaseUntil.Equal(t0.Add(50 * time.Second)) {
		t.Errorf("renewed lease until %s, want %s", e.Delivery.LeaseUntil, t0.Add(50*time.Second))
	}
	if got := acquire(t, s, "node-2", t0.Add(40*time.Second), 10); len(got) != 0 {
		t.Errorf("node-2 acquires renewed endpoints: %v, want none", got)
	}
	// Expired at now: node-2 takes them over, and node-1's record fails.
	later := t0.Add(50 * time.Second)
	if got := acquire(t, s, "node-2", later, 10); !slices.Equal(got, all) {
		t.Errorf("node-2 acquires expired leases: %v, want %v", got, all)
	}
	if err := s.Record(ctx, "node-1", "acme", "w1", later, e.Delivery, nil); !errors.Is(err, webhooks.ErrLeaseLost) {
		t.Errorf("node-1 records after losing the lease: %v, want ErrLeaseLost", err)
	}
	if got := acquire(t, s, "node-1", later, 10); len(got) != 0 {
		t.Errorf("node-1 after node-2 took over: %v, want none", got)
	}
}

func testAcquireLimit(t *testing.T, s webhooks.Store) {
	var cs []webhooks.Change
	for i := range 5 {
		cs = append(cs, created("acme", fmt.Sprintf("w%d", i), pos(i+1)))
	}
	apply(t, s, pos(5), cs...)
	first := acquire(t, s, "node-1", t0, 2)
	if len(first) != 2 {
		t.Fatalf("Acquire with limit 2 = %v", first)
	}
	if again := acquire(t, s, "node-1", t0.Add(time.Second), 2); !slices.Equal(again, first) {
		t.Errorf("Acquire again with limit 2 = %v, want its own %v renewed", again, first)
	}
	if more := acquire(t, s, "node-1", t0.Add(2*time.Second), 3); len(more) != 3 || !slices.Contains(more, first[0]) || !slices.Contains(more, first[1]) {
		t.Errorf("Acquire with limit 3 = %v, want %v and one more", more, first)
	}
	rest := acquire(t, s, "node-2", t0.Add(3*time.Second), 10)
	if len(rest) != 2 {
		t.Errorf("node-2 = %v, want the two left", rest)
	}
}

func testAcquireInactive(t *testing.T, s webhooks.Store) {
	off := created("acme", "w-off", pos(2))
	off.State.Active, off.State.Reason = false, "paused"
	apply(t, s, pos(2), created("acme", "w-on", pos(1)), off)
	if got := acquire(t, s, "node-1", t0, 10); !slices.Equal(got, []string{"acme/w-on"}) {
		t.Errorf("Acquire = %v, want the active one", got)
	}
	// Deactivated while held: no longer held at the next acquire.
	c := changed("acme", "w-on", 2, pos(3))
	c.State.Active = false
	apply(t, s, pos(3), c)
	if got := acquire(t, s, "node-1", t0.Add(time.Second), 10); len(got) != 0 {
		t.Errorf("Acquire after the deactivation = %v, want none", got)
	}
	// Activated again: acquired again.
	c = changed("acme", "w-on", 3, pos(4))
	c.Resume = true
	apply(t, s, pos(4), c)
	if got := acquire(t, s, "node-2", t0.Add(2*time.Second), 10); !slices.Equal(got, []string{"acme/w-on"}) {
		t.Errorf("Acquire after the activation = %v, want [acme/w-on]", got)
	}
}

func testAcquireInvalid(t *testing.T, s webhooks.Store) {
	ctx := t.Context()
	apply(t, s, pos(1), created("acme", "w1", pos(1)))
	cases := map[string]struct {
		owner      string
		now, until time.Time
		limit      int
	}{
		"no owner":            {"", t0, t0.Add(time.Second), 1},
		"limit 0":             {"node-1", t0, t0.Add(time.Second), 0},
		"until not after now": {"node-1", t0, t0, 1},
	}
	for name, c := range cases {
		if _, err := s.Acquire(ctx, c.owner, c.now, c.until, c.limit); !errors.Is(err, webhooks.ErrInvalid) {
			t.Errorf("%s: Acquire: %v, want ErrInvalid", name, err)
		}
	}
	if o := endpoint(t, s, "acme", "w1").Delivery.Owner; o != "" {
		t.Errorf("owner after invalid acquires = %q", o)
	}
}

func testAcquireRace(t *testing.T, s webhooks.Store) {
	const endpointsN, owners, limit = 24, 6, 5
	var cs []webhooks.Change
	for i := range endpointsN {
		cs = append(cs, created(fmt.Sprintf("t%d", i%3), fmt.Sprintf("w%02d", i), pos(i+1)))
	}
	apply(t, s, pos(endpointsN), cs...)
	got := make([][]string, owners)
	errs := make([]error, owners)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range owners {
		wg.Go(func() {
			<-start
			es, err := s.Acquire(t.Context(), fmt.Sprintf("node-%d", i), t0, t0.Add(time.Minute), limit)
			got[i], errs[i] = ids(es), err
		})
	}
	close(start)
	wg.Wait()
	held := map[string]int{}
	total := 0
	for i := range owners {
		if errs[i] != nil {
			t.Fatalf("Acquire of node-%d: %v", i, errs[i])
		}
		if len(got[i]) > limit {
			t.Errorf("node-%d holds %d endpoints, more than the limit %d", i, len(got[i]), limit)
		}
		for _, id := range got[i] {
			if prev, ok := held[id]; ok {
				t.Errorf("%s acquired by node-%d and node-%d", id, prev, i)
			}
			held[id] = i
			total++
		}
	}
	// What the store says agrees with what each was told.
	for i := range owners {
		for _, id := range got[i] {
			tenant, wid, _ := strings.Cut(id, "/")
			if o := endpoint(t, s, tenant, wid).Delivery.Owner; o != fmt.Sprintf("node-%d", i) {
				t.Errorf("%s's owner is %q, but node-%d was given it", id, o, i)
			}
		}
	}
	if want := min(endpointsN, owners*limit); total != want {
		t.Errorf("%d endpoints acquired in all, want %d", total, want)
	}
}

func testRelease(t *testing.T, s webhooks.Store) {
	ctx := t.Context()
	apply(t, s, pos(2), created("acme", "w1", pos(1)), created("acme", "w2", pos(2)))
	acquire(t, s, "node-1", t0, 10)
	if err := s.Release(ctx, "node-2", "acme", "w1"); err != nil {
		t.Fatal(err)
	}
	if o := endpoint(t, s, "acme", "w1").Delivery.Owner; o != "node-1" {
		t.Errorf("owner after another's release = %q, want node-1", o)
	}
	if err := s.Release(ctx, "node-1", "acme", "w1"); err != nil {
		t.Fatal(err)
	}
	if d := endpoint(t, s, "acme", "w1").Delivery; d.Owner != "" || !d.LeaseUntil.IsZero() {
		t.Errorf("lease after release = %q until %s, want none", d.Owner, d.LeaseUntil)
	}
	if got := acquire(t, s, "node-2", t0.Add(time.Second), 10); !slices.Equal(got, []string{"acme/w1"}) {
		t.Errorf("node-2 acquires = %v, want the released one", got)
	}
	if err := s.Release(ctx, "node-1", "acme", "nope"); err != nil {
		t.Errorf("Release of an unknown endpoint: %v", err)
	}
}

func testRecordLease(t *testing.T, s webhooks.Store) {
	ctx := t.Context()
	apply(t, s, pos(1), created("acme", "w1", pos(1)))
	acquire(t, s, "node-1", t0, 10) // until t0+30s
	d := endpoint(t, s, "acme", "w1").Delivery
	d.Cursor = pos(5)
	as := []webhooks.Attempt{attempt("acme", "w1", 5, t0, 200)}
	cases := map[string]struct {
		owner, tenant string
		now           time.Time
	}{
		"another owner":     {"node-2", "acme", t0},
		"expired":           {"node-1", "acme", t0.Add(30 * time.Second)},
		"another tenant":    {"node-1", "globex", t0},
		"long after expiry": {"node-1", "acme", t0.Add(time.Hour)},
	}
	for name, c := range cases {
		if err := s.Record(ctx, c.owner, c.tenant, "w1", c.now, d, as); !errors.Is(err, webhooks.ErrLeaseLost) {
			t.Errorf("%s: Record: %v, want ErrLeaseLost", name, err)
		}
	}
	if got := endpoint(t, s, "acme", "w1").Delivery.Cursor; got != pos(1) {
		t.Errorf("cursor after refused records = %s, want %s", got, pos(1))
	}
	if got := attempts(t, s, "acme", "w1", 0, 10); len(got) != 0 {
		t.Errorf("attempts after refused records = %v, want none", got)
	}
	if err := s.Record(ctx, "node-1", "acme", "w1", t0.Add(29*time.Second), d, as); err != nil {
		t.Errorf("Record within the lease: %v", err)
	}
}

func testRecordEpoch(t *testing.T, s webhooks.Store) {
	ctx := t.Context()
	apply(t, s, pos(1), created("acme", "w1", pos(1)))
	acquire(t, s, "node-1", t0, 10)
	old := endpoint(t, s, "acme", "w1").Delivery
	c := changed("acme", "w1", 2, pos(3))
	from := pos(2)
	c.Start = &from
	apply(t, s, pos(3), c)
	d := old
	d.Cursor, d.Failures = pos(7), 0
	if err := s.Record(ctx, "node-1", "acme", "w1", t0, d, []webhooks.Attempt{attempt("acme", "w1", 7, t0, 200)}); !errors.Is(err, webhooks.ErrStale) {
		t.Errorf("Record from the epoch before a replay: %v, want ErrStale", err)
	}
	got := endpoint(t, s, "acme", "w1").Delivery
	if got.Cursor != from || got.Epoch != old.Epoch+1 {
		t.Errorf("delivery after a stale record: cursor %s, epoch %d; want %s, %d", got.Cursor, got.Epoch, from, old.Epoch+1)
	}
	if as := attempts(t, s, "acme", "w1", 0, 10); len(as) != 0 {
		t.Errorf("attempts after a stale record = %v, want none", as)
	}
	d.Epoch = got.Epoch
	if err := s.Record(ctx, "node-1", "acme", "w1", t0, d, nil); err != nil {
		t.Errorf("Record at the new epoch: %v", err)
	}
}

func testRecordCursor(t *testing.T, s webhooks.Store) {
	ctx := t.Context()
	apply(t, s, pos(1), created("acme", "w1", pos(1)))
	acquire(t, s, "node-1", t0, 10)
	d := endpoint(t, s, "acme", "w1").Delivery
	d.Cursor = pos(10)
	if err := s.Record(ctx, "node-1", "acme", "w1", t0, d, nil); err != nil {
		t.Fatal(err)
	}
	d.Cursor, d.Failures, d.FailingSince, d.LastAttempt, d.LastStatus, d.LastError = pos(5), 1, t0, t0, 500, "status 500"
	if err := s.Record(ctx, "node-1", "acme", "w1", t0.Add(time.Second), d, nil); err != nil {
		t.Fatal(err)
	}
	got := endpoint(t, s, "acme", "w1").Delivery
	want := d
	want.Cursor, want.Owner, want.LeaseUntil = pos(10), "node-1", t0.Add(30*time.Second)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("delivery after recording an older cursor (-want +got):\n%s", diff)
	}
}

func testRecordAttempts(t *testing.T, s webhooks.Store) {
	ctx := t.Context()
	apply(t, s, pos(1), created("acme", "w1", pos(1)))
	acquire(t, s, "node-1", t0, 10)
	d := endpoint(t, s, "acme", "w1").Delivery
	d.Owner, d.LeaseUntil = "someone", t0.Add(time.Hour) // ignored
	first := []webhooks.Attempt{attempt("acme", "w1", 2, t0, 500), attempt("acme", "w1", 2, t0.Add(time.Second), 200)}
	d.Cursor, d.LastAttempt, d.LastStatus = pos(2), t0.Add(time.Second), 200
	if err := s.Record(ctx, "node-1", "acme", "w1", t0.Add(time.Second), d, first); err != nil {
		t.Fatal(err)
	}
	second := []webhooks.Attempt{attempt("acme", "w1", 3, t0.Add(2*time.Second), 200)}
	d.Cursor, d.LastAttempt = pos(3), t0.Add(2*time.Second)
	if err := s.Record(ctx, "node-1", "acme", "w1", t0.Add(2*time.Second), d, second); err != nil {
		t.Fatal(err)
	}
	got := attempts(t, s, "acme", "w1", 0, 10)
	want := []webhooks.Attempt{second[0], first[1], first[0]}
	if diff := cmp.Diff(want, stripIDs(got)); diff != "" {
		t.Errorf("attempts, newest first (-want +got):\n%s", diff)
	}
	for i := 1; i < len(got); i++ {
		if got[i].ID >= got[i-1].ID {
			t.Errorf("attempt IDs %d then %d: not descending", got[i-1].ID, got[i].ID)
		}
	}
	if e := endpoint(t, s, "acme", "w1").Delivery; e.Owner != "node-1" || !e.LeaseUntil.Equal(t0.Add(30*time.Second)) {
		t.Errorf("lease after record = %q until %s, want node-1's unchanged", e.Owner, e.LeaseUntil)
	}
}

func testAttemptsPages(t *testing.T, s webhooks.Store) {
	ctx := t.Context()
	var as, other []webhooks.Attempt
	for i := range 25 {
		as = append(as, attempt("acme", "w1", i+1, t0.Add(time.Duration(i)*time.Second), 200))
		other = append(other, attempt("acme", "w2", i+1, t0.Add(time.Duration(i)*time.Second), 200), attempt("globex", "w1", i+1, t0, 200))
	}
	// Interleaved with other endpoints' attempts.
	for i := range as {
		ids, err := s.Log(ctx, []webhooks.Attempt{as[i], other[2*i], other[2*i+1]})
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) != 3 || ids[0] >= ids[1] || ids[1] >= ids[2] {
			t.Fatalf("Log returned IDs %v, want 3 growing ones", ids)
		}
	}
	var got []webhooks.Attempt
	before := int64(0)
	for {
		page := attempts(t, s, "acme", "w1", before, 10)
		if len(page) > 10 {
			t.Fatalf("page of %d with limit 10", len(page))
		}
		got = append(got, page...)
		if len(page) < 10 {
			break
		}
		before = page[len(page)-1].ID
	}
	want := slices.Clone(as)
	slices.Reverse(want)
	if diff := cmp.Diff(want, stripIDs(got)); diff != "" {
		t.Errorf("paged attempts (-want +got):\n%s", diff)
	}
}

func testAttemptsLimits(t *testing.T, s webhooks.Store) {
	ctx := t.Context()
	if _, err := s.Log(ctx, []webhooks.Attempt{attempt("acme", "w1", 1, t0, 200)}); err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{0, -1, webhooks.MaxLimit + 1} {
		if _, err := s.Attempts(ctx, "acme", "w1", 0, limit); !errors.Is(err, webhooks.ErrInvalid) {
			t.Errorf("Attempts with limit %d: %v, want ErrInvalid", limit, err)
		}
	}
	if got := attempts(t, s, "acme", "w1", 0, webhooks.MaxLimit); len(got) != 1 {
		t.Errorf("Attempts with limit MaxLimit = %d, want 1", len(got))
	}
	if got := attempts(t, s, "acme", "w1", 0, 1); len(got) != 1 {
		t.Errorf("Attempts with limit 1 = %d, want 1", len(got))
	}
	if got := attempts(t, s, "acme", "w1", got0(t, s), 10); len(got) != 0 {
		t.Errorf("Attempts before the only one = %v, want none", got)
	}
}

func got0(t testing.TB, s webhooks.Store) int64 {
	t.Helper()
	return attempts(t, s, "acme", "w1", 0, 1)[0].ID
}

func testLog(t *testing.T, s webhooks.Store) {
	ctx := t.Context()
	apply(t, s, pos(1), created("acme", "w1", pos(1)))
	ping := webhooks.Attempt{Tenant: "acme", Webhook: "w1", MessageID: "msg_ping", EventType: "webhook.ping", Trigger: webhooks.TriggerPing,
		At: t0, Status: 0, Latency: 10 * time.Second, Error: "timeout"}
	resend := attempt("acme", "w1", 1, t0.Add(time.Second), 204)
	resend.Trigger = webhooks.TriggerResend
	ids, err := s.Log(ctx, []webhooks.Attempt{ping, resend})
	if err != nil {
		t.Fatal(err)
	}
	logged := attempts(t, s, "acme", "w1", 0, 10)
	if diff := cmp.Diff([]webhooks.Attempt{resend, ping}, stripIDs(logged)); diff != "" {
		t.Errorf("logged attempts (-want +got):\n%s", diff)
	}
	// Log returns the IDs it gave, in the order of its attempts.
	if len(logged) != 2 || !slices.Equal(ids, []int64{logged[1].ID, logged[0].ID}) {
		t.Errorf("Log returned IDs %v; the log holds %+v", ids, logged)
	}
	// The log does not touch the delivery.
	if d := endpoint(t, s, "acme", "w1").Delivery; d.Cursor != pos(1) || !d.LastAttempt.IsZero() {
		t.Errorf("delivery after Log = %+v", d)
	}
	for name, a := range map[string]webhooks.Attempt{"no tenant": {Webhook: "w1", At: t0}, "no webhook": {Tenant: "acme", At: t0}} {
		if _, err := s.Log(ctx, []webhooks.Attempt{resend, a}); !errors.Is(err, webhooks.ErrInvalid) {
			t.Errorf("%s: Log: %v, want ErrInvalid", name, err)
		}
	}
	if n := len(attempts(t, s, "acme", "w1", 0, 10)); n != 2 {
		t.Errorf("%d attempts after invalid logs, want 2", n)
	}
}

func testPrune(t *testing.T, s webhooks.Store) {
	ctx := t.Context()
	// w1: 10 attempts, one a minute; w2: 3, recent; globex's w1: 4, old.
	var as []webhooks.Attempt
	for i := range 10 {
		as = append(as, attempt("acme", "w1", i, t0.Add(time.Duration(i)*time.Minute), 200))
	}
	for i := range 3 {
		as = append(as, attempt("acme", "w2", i, t0.Add(time.Hour), 200))
	}
	for i := range 4 {
		as = append(as, attempt("globex", "w1", i, t0.Add(-time.Hour), 200))
	}
	if _, err := s.Log(ctx, as); err != nil {
		t.Fatal(err)
	}
	// Older than t0+5m: w1's first five and globex's four.
	n, err := s.Prune(ctx, t0.Add(5*time.Minute), 100)
	if err != nil || n != 9 {
		t.Errorf("Prune by age = %d, %v; want 9", n, err)
	}
	if got := stripIDs(attempts(t, s, "acme", "w1", 0, 100)); len(got) != 5 || !got[4].At.Equal(t0.Add(5*time.Minute)) {
		t.Errorf("w1 after pruning by age: %d left, oldest %v", len(got), got)
	}
	// Keep two of each.
	n, err = s.Prune(ctx, time.Time{}, 2)
	if err != nil || n != 4 {
		t.Errorf("Prune keeping 2 = %d, %v; want 4", n, err)
	}
	want := []webhooks.Attempt{as[9], as[8]}
	if diff := cmp.Diff(want, stripIDs(attempts(t, s, "acme", "w1", 0, 100))); diff != "" {
		t.Errorf("w1 after keeping 2 (-want +got):\n%s", diff)
	}
	if got := attempts(t, s, "acme", "w2", 0, 100); len(got) != 2 {
		t.Errorf("w2 after keeping 2: %d left", len(got))
	}
	if n, err := s.Prune(ctx, time.Time{}, 2); err != nil || n != 0 {
		t.Errorf("Prune again = %d, %v; want 0", n, err)
	}
	if _, err := s.Prune(ctx, time.Time{}, -1); !errors.Is(err, webhooks.ErrInvalid) {
		t.Errorf("Prune keeping -1: %v, want ErrInvalid", err)
	}
}

func testReset(t *testing.T, s webhooks.Store) {
	ctx := t.Context()
	apply(t, s, pos(2), created("acme", "w1", pos(1)), created("globex", "w1", pos(2)))
	acquire(t, s, "node-1", t0, 10)
	if _, err := s.Log(ctx, []webhooks.Attempt{attempt("acme", "w1", 1, t0, 200)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	testEmpty(t, s)
	if st, err := s.States(ctx, "acme", []string{"w1"}); err != nil || len(st) != 0 {
		t.Errorf("States after Reset = %v, %v; want none", st, err)
	}
	// The projection starts again from the start.
	apply(t, s, pos(2), created("acme", "w1", pos(1)))
	if e := endpoint(t, s, "acme", "w1"); e.Delivery.Cursor != pos(1) || e.Delivery.Owner != "" {
		t.Errorf("endpoint after Reset and Apply = %+v", e)
	}
}

func testResetEndpoints(t *testing.T, s webhooks.Store) {
	ctx := t.Context()
	replay := changed("acme", "w1", 2, pos(3))
	from := pos(2)
	replay.Start = &from
	resume := changed("acme", "w1", 3, pos(4))
	resume.Resume = true
	history := [][]webhooks.Change{{created("acme", "w1", pos(1))}, {replay}, {resume}, {created("globex", "w1", pos(5))}}
	for i, cs := range history {
		apply(t, s, pos(i+2), cs...)
	}
	want := failing(t, s, "node-1", "acme", "w1", pos(8), t0)
	want.Owner, want.LeaseUntil = "node-1", t0.Add(time.Minute)
	logged := []webhooks.Attempt{attempt("acme", "w1", 8, t0, 200)}
	if _, err := s.Log(ctx, logged); err != nil {
		t.Fatal(err)
	}
	if err := s.ResetEndpoints(ctx); err != nil {
		t.Fatal(err)
	}
	if p := checkpoint(t, s); !p.IsZero() {
		t.Errorf("Checkpoint after ResetEndpoints = %s, want zero", p)
	}
	if es := endpoints(t, s, "acme"); len(es) != 0 {
		t.Errorf("Endpoints after ResetEndpoints = %v, want none", ids(es))
	}
	if got := acquire(t, s, "node-2", t0.Add(2*time.Minute), 10); len(got) != 0 {
		t.Errorf("Acquire with no endpoints = %v, want none", got)
	}
	// The same events again: the deliveries stay where they are.
	for i, cs := range history {
		apply(t, s, pos(i+2), cs...)
	}
	got := endpoint(t, s, "acme", "w1")
	if diff := cmp.Diff(want, got.Delivery); diff != "" {
		t.Errorf("delivery after the events again (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(resume.State, got.State); diff != "" {
		t.Errorf("state after the events again (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(logged, stripIDs(attempts(t, s, "acme", "w1", 0, 10))); diff != "" {
		t.Errorf("attempts after ResetEndpoints (-want +got):\n%s", diff)
	}
	if d := endpoint(t, s, "globex", "w1").Delivery; d.Cursor != pos(5) {
		t.Errorf("globex's w1 cursor = %s, want %s", d.Cursor, pos(5))
	}
	// A new replay still restarts it.
	again := changed("acme", "w1", 4, pos(9))
	from = pos(6)
	again.Start = &from
	apply(t, s, pos(9), again)
	if d := endpoint(t, s, "acme", "w1").Delivery; d.Cursor != from || d.Epoch != want.Epoch+1 || d.Failures != 0 {
		t.Errorf("after a new replay: %+v; want cursor %s, epoch %d, no failures", d, from, want.Epoch+1)
	}
}

func testSeenStart(t *testing.T, s webhooks.Store) {
	apply(t, s, pos(5), created("acme", "w1", pos(5)))
	before := failing(t, s, "node-1", "acme", "w1", pos(7), t0)
	before.Owner, before.LeaseUntil = "node-1", t0.Add(time.Minute)
	// Changes at or before the creation's position: seen already.
	replay := changed("acme", "w1", 2, pos(5))
	from := pos(1)
	replay.Start = &from
	resume := changed("acme", "w1", 3, pos(4))
	resume.Resume = true
	apply(t, s, pos(6), replay, resume)
	if diff := cmp.Diff(before, endpoint(t, s, "acme", "w1").Delivery); diff != "" {
		t.Errorf("delivery after seen starts (-before +after):\n%s", diff)
	}
}

func testCancelled(t *testing.T, s webhooks.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Apply(ctx, eventstore.Position{}, pos(1), []webhooks.Change{created("acme", "w1", pos(1))}); !errors.Is(err, context.Canceled) {
		t.Errorf("Apply: %v, want context.Canceled", err)
	}
	if _, err := s.Checkpoint(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Checkpoint: %v, want context.Canceled", err)
	}
	if _, err := s.Acquire(ctx, "node-1", t0, t0.Add(time.Second), 1); !errors.Is(err, context.Canceled) {
		t.Errorf("Acquire: %v, want context.Canceled", err)
	}
	if _, err := s.Endpoints(ctx, "acme"); !errors.Is(err, context.Canceled) {
		t.Errorf("Endpoints: %v, want context.Canceled", err)
	}
	if p := checkpoint(t, s); !p.IsZero() {
		t.Errorf("checkpoint after a cancelled apply = %s", p)
	}
}
