// Package storetest is the conformance suite for [eventstore.Store]
// backends. A backend's test calls [Run] with a [Harness]; every subtest gets
// a fresh, empty store, so the cases are independent and may run in
// parallel. A case is added here before the code that makes it pass.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clavisiam/clavis/eventstore"
)

// Harness tells the suite how to drive one backend.
type Harness struct {
	// New returns a fresh, empty store; the harness closes it on cleanup.
	New func(t *testing.T) eventstore.Store

	// Hold starts an append to stream and keeps its transaction open,
	// having written everything, until the returned commit is called. It
	// lets the suite commit transactions out of order deterministically.
	Hold func(ctx context.Context, s eventstore.Store, stream eventstore.StreamID, expected int64, events []eventstore.Event) (commit func() error, err error)

	// SerializedWriters is true for backends that let one write
	// transaction run at a time (SQLite): there a held append blocks every
	// other append instead of letting it commit first.
	SerializedWriters bool
}

// Run runs every conformance case against the backend.
func Run(t *testing.T, h Harness) {
	cases := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"AppendAssignsVersionsAndPositions", testAppendAssigns},
		{"ReadStreamRoundTripsEnvelope", testRoundTrip},
		{"ReadStreamAfterVersion", testReadStreamAfter},
		{"ExpectedVersionMismatchConflicts", testExpectedVersion},
		{"ConcurrentWritersOneWins", testConcurrentWritersOneWins},
		{"NoLostUpdates", testNoLostUpdates},
		{"BatchIsAtomic", testBatchAtomic},
		{"DuplicateEventIDRefused", testDuplicateID},
		{"InvalidAppendsRefused", testInvalidAppends},
		{"ClaimsAreUnique", testClaimsUnique},
		{"ClaimsAreTenantScoped", testClaimsTenantScoped},
		{"ClaimTakenWritesNothing", testClaimTakenWritesNothing},
		{"ConcurrentClaimsOneWins", testConcurrentClaims},
		{"ReleasedClaimCanBeTaken", testClaimRelease},
		{"ReleaseByOtherStreamKeepsClaim", testClaimReleaseNotOwner},
		{"ClaimCheckNeedsAFreeValue", testClaimCheck},
		{"ClaimCheckNeverOverlapsAClaim", testConcurrentClaimCheck},
		{"ReadAllInOrderWithPaging", testReadAllPaging},
		{"ReadTenantIsolation", testReadTenant},
		{"LateCommitIsNotSkipped", testLateCommit},
		{"ResumingReaderSeesEveryEventOnce", testResumingReader},
		{"LargePayloads", testLargePayloads},
		{"HeadFollowsAppends", testHead},
		{"CancelledContext", testCancelledContext},
		{"ClosedStoreRefusesAppends", testClosed},
		{"SnapshotsRoundTrip", testSnapshots},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, h)
		})
	}
}

func open(t *testing.T, h Harness) eventstore.Store {
	t.Helper()
	s := h.New(t)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

var (
	idMu  sync.Mutex
	idSeq int
)

// newID returns an event id unique within the test binary.
func newID() string {
	idMu.Lock()
	defer idMu.Unlock()
	idSeq++
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", idSeq)
}

func stream(tenant, id string) eventstore.StreamID {
	return eventstore.StreamID{Tenant: tenant, Type: "client", ID: id}
}

// ev builds n events of the given type whose data records their index.
func ev(typ string, n int) []eventstore.Event {
	out := make([]eventstore.Event, n)
	for i := range out {
		out[i] = eventstore.Event{
			ID:     newID(),
			Type:   typ,
			Schema: 1,
			Data:   json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)),
			Meta: eventstore.Metadata{
				Actor:      "test",
				OccurredAt: time.Date(2026, 11, 23, 12, 0, 0, 123456000, time.UTC),
			},
		}
	}
	return out
}

func mustAppend(t *testing.T, s eventstore.Store, st eventstore.StreamID, expected int64, events []eventstore.Event, claims ...eventstore.Claim) eventstore.Position {
	t.Helper()
	pos, err := s.Append(t.Context(), st, expected, events, claims...)
	if err != nil {
		t.Fatalf("append to %s at %d: %v", st, expected, err)
	}
	return pos
}

func readStream(t *testing.T, s eventstore.Store, st eventstore.StreamID) []eventstore.Event {
	t.Helper()
	got, err := s.ReadStream(t.Context(), st, 0)
	if err != nil {
		t.Fatalf("read stream %s: %v", st, err)
	}
	return got
}

// settle waits until readers can see everything up to pos. Readers of a
// backend that runs writers concurrently see an event only once every
// transaction that started before it has ended, in any test.
func settle(t *testing.T, s eventstore.Store, pos eventstore.Position) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		head, err := s.Head(t.Context())
		if err != nil {
			t.Fatalf("read head: %v", err)
		}
		if !head.Less(pos) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("head stayed at %s, below %s", head, pos)
		}
		time.Sleep(time.Millisecond)
	}
}

// readAll drains the store from the start in pages of size page.
func readAll(t *testing.T, s eventstore.Store, page int) []eventstore.Event {
	t.Helper()
	var all []eventstore.Event
	var after eventstore.Position
	for {
		got, err := s.ReadAll(t.Context(), after, page)
		if err != nil {
			t.Fatalf("read all after %s: %v", after, err)
		}
		all = append(all, got...)
		if len(got) < page {
			return all
		}
		after = got[len(got)-1].Position
	}
}

func assertOrdered(t *testing.T, events []eventstore.Event) {
	t.Helper()
	for i := 1; i < len(events); i++ {
		if !events[i-1].Position.Less(events[i].Position) {
			t.Fatalf("event %d at %s does not come after event %d at %s", i, events[i].Position, i-1, events[i-1].Position)
		}
	}
}

func testAppendAssigns(t *testing.T, h Harness) {
	s := open(t, h)
	st := stream("acme", "c1")
	events := ev("client.registered", 3)
	last := mustAppend(t, s, st, eventstore.NoStream, events)

	got := readStream(t, s, st)
	if len(got) != 3 {
		t.Fatalf("read %d events, want 3", len(got))
	}
	for i, e := range got {
		if e.Version != int64(i+1) {
			t.Errorf("event %d has version %d, want %d", i, e.Version, i+1)
		}
		if e.Stream != st {
			t.Errorf("event %d has stream %v, want %v", i, e.Stream, st)
		}
		if e.RecordedAt.IsZero() || !e.RecordedAt.Equal(events[i].RecordedAt) {
			t.Errorf("event %d was recorded at %v, append said %v", i, e.RecordedAt, events[i].RecordedAt)
		}
		if e.Position != events[i].Position || e.Version != events[i].Version {
			t.Errorf("event %d is at %s v%d, append said %s v%d", i, e.Position, e.Version, events[i].Position, events[i].Version)
		}
		if e.Position.Commit != got[0].Position.Commit {
			t.Errorf("event %d has commit %d, the batch's first has %d", i, e.Position.Commit, got[0].Position.Commit)
		}
	}
	assertOrdered(t, got)
	if got[2].Position != last {
		t.Errorf("append returned %s, last event is at %s", last, got[2].Position)
	}
	last2 := mustAppend(t, s, st, 3, ev("client.updated", 1))
	if !last.Less(last2) {
		t.Errorf("second append at %s is not after the first at %s", last2, last)
	}
}

func testRoundTrip(t *testing.T, h Harness) {
	s := open(t, h)
	st := stream("acme", "c1")
	data := json.RawMessage(`{"b": 2,  "a": [1, 2.50, "x\u00e9"], "nested": {"z": null}}`)
	meta := eventstore.Metadata{
		Actor:         "client:admin",
		CorrelationID: "corr-1",
		CausationID:   "cause-1",
		OccurredAt:    time.Date(2026, 1, 2, 3, 4, 5, 678901000, time.UTC),
		TraceParent:   "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		Reason:        "ticket 42: rotate after the \u00e9 leak",
		Source:        "2001:db8::7",
		UserAgent:     "curl/8.5.0 (x86_64) \u00e9 \t " + strings.Repeat("\u00e9", 200),
	}
	in := eventstore.Event{ID: newID(), Type: "client.registered", Schema: 3, Data: data, Meta: meta}
	mustAppend(t, s, st, eventstore.NoStream, []eventstore.Event{in})
	got := readStream(t, s, st)
	if len(got) != 1 {
		t.Fatalf("read %d events, want 1", len(got))
	}
	e := got[0]
	if e.ID != in.ID || e.Type != in.Type || e.Schema != 3 {
		t.Errorf("envelope = %q %q %d, want %q %q 3", e.ID, e.Type, e.Schema, in.ID, in.Type)
	}
	if string(e.Data) != string(data) {
		t.Errorf("data = %s, want byte-for-byte %s", e.Data, data)
	}
	if !e.Meta.OccurredAt.Equal(meta.OccurredAt) {
		t.Errorf("occurred_at = %v, want %v", e.Meta.OccurredAt, meta.OccurredAt)
	}
	e.Meta.OccurredAt = meta.OccurredAt
	if e.Meta != meta {
		t.Errorf("metadata = %+v, want %+v", e.Meta, meta)
	}

	// A batch takes another path in some backends; its metadata comes
	// back as well, each event its own.
	batch := ev("client.updated", 3)
	for i := range batch {
		batch[i].Meta = meta
		batch[i].Meta.Source = fmt.Sprintf("203.0.113.%d", i)
		batch[i].Meta.UserAgent = fmt.Sprintf("agent %d", i)
	}
	batch[1].Meta.Source, batch[1].Meta.UserAgent = "", ""
	mustAppend(t, s, st, 1, batch)
	got = readStream(t, s, st)
	if len(got) != 4 {
		t.Fatalf("read %d events, want 4", len(got))
	}
	for i, e := range got[1:] {
		want := batch[i].Meta
		if e.Meta.Source != want.Source || e.Meta.UserAgent != want.UserAgent || e.Meta.Reason != want.Reason || e.Meta.Actor != want.Actor {
			t.Errorf("batch event %d metadata = %+v, want %+v", i, e.Meta, want)
		}
	}
}

func testReadStreamAfter(t *testing.T, h Harness) {
	s := open(t, h)
	st := stream("acme", "c1")
	mustAppend(t, s, st, eventstore.NoStream, ev("e", 5))
	got, err := s.ReadStream(t.Context(), st, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Version != 4 || got[1].Version != 5 {
		t.Fatalf("read after 3 gave %d events starting at %v, want versions 4 and 5", len(got), got)
	}
	none, err := s.ReadStream(t.Context(), stream("acme", "missing"), 0)
	if err != nil || len(none) != 0 {
		t.Fatalf("missing stream gave %d events, %v; want none, nil", len(none), err)
	}
}

func testExpectedVersion(t *testing.T, h Harness) {
	s := open(t, h)
	st := stream("acme", "c1")
	last := mustAppend(t, s, st, eventstore.NoStream, ev("e", 2))

	for _, expected := range []int64{eventstore.NoStream, 1, 3, 10} {
		_, err := s.Append(t.Context(), st, expected, ev("e", 1))
		var ce *eventstore.ConflictError
		if !errors.Is(err, eventstore.ErrConflict) || !errors.As(err, &ce) {
			t.Fatalf("append at %d to a stream at 2: err = %v, want a *ConflictError", expected, err)
		}
		if ce.Stream != st || ce.Expected != expected || ce.Actual != 2 {
			t.Errorf("conflict = %+v, want stream %v expected %d actual 2", ce, st, expected)
		}
	}
	if got := readStream(t, s, st); len(got) != 2 {
		t.Fatalf("stream has %d events after refused appends, want 2", len(got))
	}
	settle(t, s, last)
	if got := readAll(t, s, 100); len(got) != 2 {
		t.Fatalf("store has %d events after refused appends, want 2", len(got))
	}
}

func testConcurrentWritersOneWins(t *testing.T, h Harness) {
	s := open(t, h)
	st := stream("acme", "c1")
	mustAppend(t, s, st, eventstore.NoStream, ev("e", 1))

	const writers = 16
	errs := make([]error, writers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range writers {
		wg.Go(func() {
			<-start
			_, errs[i] = s.Append(t.Context(), st, 1, ev("e", 1))
		})
	}
	close(start)
	wg.Wait()

	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, eventstore.ErrConflict):
			var ce *eventstore.ConflictError
			if !errors.As(err, &ce) {
				t.Errorf("conflict %v is not a *ConflictError", err)
			}
		default:
			t.Errorf("writer failed with %v, want nil or ErrConflict", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d writers won, want exactly 1", wins)
	}
	if got := readStream(t, s, st); len(got) != 2 {
		t.Fatalf("stream has %d events, want 2", len(got))
	}
}

func testNoLostUpdates(t *testing.T, h Harness) {
	s := open(t, h)
	st := stream("acme", "counter")
	const writers, each = 8, 10
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := 0; i < each; {
				cur, err := s.ReadStream(t.Context(), st, 0)
				if err != nil {
					t.Error(err)
					return
				}
				e := ev("incremented", 1)
				e[0].Data = json.RawMessage(fmt.Sprintf(`{"writer":%d,"i":%d}`, w, i))
				_, err = s.Append(t.Context(), st, int64(len(cur)), e)
				switch {
				case err == nil:
					i++
				case errors.Is(err, eventstore.ErrConflict):
				default:
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	got := readStream(t, s, st)
	if len(got) != writers*each {
		t.Fatalf("stream has %d events, want %d", len(got), writers*each)
	}
	seen := map[string]bool{}
	for i, e := range got {
		if e.Version != int64(i+1) {
			t.Fatalf("event %d has version %d", i, e.Version)
		}
		seen[string(e.Data)] = true
	}
	if len(seen) != writers*each {
		t.Fatalf("%d distinct increments survived, want %d", len(seen), writers*each)
	}
}

func testBatchAtomic(t *testing.T, h Harness) {
	s := open(t, h)
	existing := ev("e", 1)
	mustAppend(t, s, stream("acme", "a"), eventstore.NoStream, existing)
	// The third event repeats an id the store holds: the backend, not the
	// argument check, refuses it, after writing the first two.
	events := ev("e", 3)
	events[2].ID = existing[0].ID
	before := append([]eventstore.Event(nil), events...)
	if _, err := s.Append(t.Context(), stream("acme", "b"), eventstore.NoStream, events); !errors.Is(err, eventstore.ErrDuplicateEvent) {
		t.Fatalf("batch repeating a stored id: err = %v, want ErrDuplicateEvent", err)
	}
	if got := readStream(t, s, stream("acme", "b")); len(got) != 0 {
		t.Fatalf("a refused batch left %d events", len(got))
	}
	for i := range events {
		if events[i].Version != 0 || !events[i].Position.IsZero() || !events[i].RecordedAt.IsZero() || events[i].Stream != before[i].Stream {
			t.Fatalf("a refused append changed event %d: %+v", i, events[i])
		}
	}
	// The first two ids were not stored.
	mustAppend(t, s, stream("acme", "c"), eventstore.NoStream, events[:2])
}

func testDuplicateID(t *testing.T, h Harness) {
	s := open(t, h)
	first := ev("e", 1)
	mustAppend(t, s, stream("acme", "a"), eventstore.NoStream, first)
	again := ev("e", 2)
	again[1].ID = first[0].ID
	_, err := s.Append(t.Context(), stream("acme", "b"), eventstore.NoStream, again)
	if !errors.Is(err, eventstore.ErrDuplicateEvent) {
		t.Fatalf("append of an existing id: err = %v, want ErrDuplicateEvent", err)
	}
	if got := readStream(t, s, stream("acme", "b")); len(got) != 0 {
		t.Fatalf("refused append left %d events", len(got))
	}
}

func testInvalidAppends(t *testing.T, h Harness) {
	s := open(t, h)
	good := stream("acme", "c1")
	bad := func(mut func(*eventstore.Event)) []eventstore.Event {
		e := ev("e", 1)
		mut(&e[0])
		return e
	}
	cases := []struct {
		name     string
		stream   eventstore.StreamID
		expected int64
		events   []eventstore.Event
		claims   []eventstore.Claim
	}{
		{"no events", good, 0, nil, nil},
		{"no tenant", eventstore.StreamID{Type: "client", ID: "x"}, 0, ev("e", 1), nil},
		{"no stream id", eventstore.StreamID{Tenant: "acme", Type: "client"}, 0, ev("e", 1), nil},
		{"negative expected version", good, -1, ev("e", 1), nil},
		{"no event id", good, 0, bad(func(e *eventstore.Event) { e.ID = "" }), nil},
		{"no event type", good, 0, bad(func(e *eventstore.Event) { e.Type = "" }), nil},
		{"schema zero", good, 0, bad(func(e *eventstore.Event) { e.Schema = 0 }), nil},
		{"data not json", good, 0, bad(func(e *eventstore.Event) { e.Data = json.RawMessage(`{"a":`) }), nil},
		{"empty claim", good, 0, ev("e", 1), []eventstore.Claim{{Kind: "client_code"}}},
		{"too many events", good, 0, ev("e", eventstore.MaxBatch+1), nil},
		{"schema too large", good, 0, bad(func(e *eventstore.Event) { e.Schema = 1 << 40 }), nil},
		{"NUL in a text field", good, 0, bad(func(e *eventstore.Event) { e.Meta.Actor = "a\x00b" }), nil},
		{"invalid UTF-8", good, 0, bad(func(e *eventstore.Event) { e.Type = "\xff" }), nil},
		{"NUL in the source", good, 0, bad(func(e *eventstore.Event) { e.Meta.Source = "203.0.113.7\x00" }), nil},
		{"invalid UTF-8 in the source", good, 0, bad(func(e *eventstore.Event) { e.Meta.Source = "\xc3" }), nil},
		{"NUL in the user agent", good, 0, bad(func(e *eventstore.Event) { e.Meta.UserAgent = "curl\x00" }), nil},
		{"invalid UTF-8 in the user agent", good, 0, bad(func(e *eventstore.Event) { e.Meta.UserAgent = "curl/\xff" }), nil},
		{"NUL in the stream id", stream("acme", "a\x00"), 0, ev("e", 1), nil},
		{"NUL in a claim", good, 0, ev("e", 1), []eventstore.Claim{{Kind: "client_code", Value: "\x00"}}},
	}
	for _, c := range cases {
		_, err := s.Append(t.Context(), c.stream, c.expected, c.events, c.claims...)
		if !errors.Is(err, eventstore.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", c.name, err)
		}
	}
	for _, limit := range []int{0, -1, eventstore.MaxRead + 1} {
		if _, err := s.ReadAll(t.Context(), eventstore.Position{}, limit); !errors.Is(err, eventstore.ErrInvalid) {
			t.Errorf("read all with limit %d: err = %v, want ErrInvalid", limit, err)
		}
		if _, err := s.ReadTenant(t.Context(), "acme", eventstore.Position{}, limit); !errors.Is(err, eventstore.ErrInvalid) {
			t.Errorf("read tenant with limit %d: err = %v, want ErrInvalid", limit, err)
		}
	}
	if got := readAll(t, s, 100); len(got) != 0 {
		t.Fatalf("refused appends left %d events", len(got))
	}
}

func codeClaim(v string) eventstore.Claim { return eventstore.Claim{Kind: "client_code", Value: v} }

func idClaim(v string) eventstore.Claim {
	return eventstore.Claim{Kind: "client_id", Value: v, Global: true}
}

func assertClaimTaken(t *testing.T, err error, kind, value string) {
	t.Helper()
	var ce *eventstore.ClaimError
	if !errors.Is(err, eventstore.ErrClaimTaken) || !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a *ClaimError", err)
	}
	if ce.Kind != kind || ce.Value != value {
		t.Fatalf("claim error names %s %q, want %s %q", ce.Kind, ce.Value, kind, value)
	}
}

func testClaimsUnique(t *testing.T, h Harness) {
	s := open(t, h)
	mustAppend(t, s, stream("acme", "a"), 0, ev("e", 1), idClaim("a"), codeClaim("urn:acme/shop"))
	_, err := s.Append(t.Context(), stream("acme", "b"), 0, ev("e", 1), idClaim("b"), codeClaim("urn:acme/shop"))
	assertClaimTaken(t, err, "client_code", "urn:acme/shop")
	_, err = s.Append(t.Context(), stream("other", "a2"), 0, ev("e", 1), idClaim("a"))
	assertClaimTaken(t, err, "client_id", "a")
}

func testClaimsTenantScoped(t *testing.T, h Harness) {
	s := open(t, h)
	mustAppend(t, s, stream("acme", "a"), 0, ev("e", 1), codeClaim("urn:x/shop"))
	mustAppend(t, s, stream("globex", "a"), 0, ev("e", 1), codeClaim("urn:x/shop"))
}

func testClaimTakenWritesNothing(t *testing.T, h Harness) {
	s := open(t, h)
	mustAppend(t, s, stream("acme", "a"), 0, ev("e", 1), codeClaim("urn:acme/one"))
	// b claims a free value and a taken one, and releases nothing it owns:
	// the free value must not stay claimed after the refusal.
	_, err := s.Append(t.Context(), stream("acme", "b"), 0, ev("e", 1), codeClaim("urn:acme/free"), codeClaim("urn:acme/one"))
	assertClaimTaken(t, err, "client_code", "urn:acme/one")
	if got := readStream(t, s, stream("acme", "b")); len(got) != 0 {
		t.Fatalf("refused append left %d events", len(got))
	}
	mustAppend(t, s, stream("acme", "c"), 0, ev("e", 1), codeClaim("urn:acme/free"))

	// A conflict on the version must undo the claims of the same append.
	_, err = s.Append(t.Context(), stream("acme", "a"), 0, ev("e", 1), codeClaim("urn:acme/two"))
	if !errors.Is(err, eventstore.ErrConflict) {
		t.Fatalf("err = %v, want ErrConflict", err)
	}
	mustAppend(t, s, stream("acme", "d"), 0, ev("e", 1), codeClaim("urn:acme/two"))

	// A failed release-and-claim keeps the released value with its owner.
	_, err = s.Append(t.Context(), stream("acme", "a"), 1, ev("e", 1),
		eventstore.Claim{Kind: "client_code", Value: "urn:acme/one", Release: true}, codeClaim("urn:acme/two"))
	assertClaimTaken(t, err, "client_code", "urn:acme/two")
	_, err = s.Append(t.Context(), stream("acme", "e"), 0, ev("e", 1), codeClaim("urn:acme/one"))
	assertClaimTaken(t, err, "client_code", "urn:acme/one")
}

func testConcurrentClaims(t *testing.T, h Harness) {
	s := open(t, h)
	const writers = 12
	errs := make([]error, writers)
	positions := make([]eventstore.Position, writers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range writers {
		wg.Go(func() {
			<-start
			positions[i], errs[i] = s.Append(t.Context(), stream("acme", fmt.Sprintf("c%d", i)), 0, ev("e", 1), codeClaim("urn:acme/contested"))
		})
	}
	close(start)
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
			settle(t, s, positions[i])
		case errors.Is(err, eventstore.ErrClaimTaken):
		default:
			t.Errorf("claimer failed with %v, want nil or ErrClaimTaken", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d claimers won, want exactly 1", wins)
	}
	if got := readAll(t, s, 100); len(got) != 1 {
		t.Fatalf("store has %d events, want 1", len(got))
	}
}

func testClaimRelease(t *testing.T, h Harness) {
	s := open(t, h)
	a := stream("acme", "a")
	mustAppend(t, s, a, 0, ev("registered", 1), codeClaim("urn:acme/shop"))
	mustAppend(t, s, a, 1, ev("deleted", 1), eventstore.Claim{Kind: "client_code", Value: "urn:acme/shop", Release: true})
	mustAppend(t, s, stream("acme", "b"), 0, ev("registered", 1), codeClaim("urn:acme/shop"))

	// Renaming: release the old value and take a new one in one append.
	mustAppend(t, s, stream("acme", "c"), 0, ev("registered", 1), codeClaim("urn:acme/old"))
	mustAppend(t, s, stream("acme", "c"), 1, ev("updated", 1),
		eventstore.Claim{Kind: "client_code", Value: "urn:acme/old", Release: true}, codeClaim("urn:acme/new"))
	mustAppend(t, s, stream("acme", "d"), 0, ev("registered", 1), codeClaim("urn:acme/old"))
	_, err := s.Append(t.Context(), stream("acme", "e"), 0, ev("registered", 1), codeClaim("urn:acme/new"))
	assertClaimTaken(t, err, "client_code", "urn:acme/new")

	// Claims apply in order: claim, release, claim again within one append.
	release := func(v string) eventstore.Claim { return eventstore.Claim{Kind: "client_code", Value: v, Release: true} }
	mustAppend(t, s, stream("acme", "f"), 0, ev("registered", 1), codeClaim("urn:acme/x"), release("urn:acme/x"), codeClaim("urn:acme/y"))
	mustAppend(t, s, stream("acme", "g"), 0, ev("registered", 1), codeClaim("urn:acme/x"))
	// A held value is taken, even for the stream that holds it.
	_, err = s.Append(t.Context(), stream("acme", "f"), 1, ev("updated", 1), codeClaim("urn:acme/y"))
	assertClaimTaken(t, err, "client_code", "urn:acme/y")
}

func testClaimReleaseNotOwner(t *testing.T, h Harness) {
	s := open(t, h)
	mustAppend(t, s, stream("acme", "a"), 0, ev("e", 1), codeClaim("urn:acme/shop"))
	mustAppend(t, s, stream("acme", "b"), 0, ev("e", 1), eventstore.Claim{Kind: "client_code", Value: "urn:acme/shop", Release: true})
	_, err := s.Append(t.Context(), stream("acme", "c"), 0, ev("e", 1), codeClaim("urn:acme/shop"))
	assertClaimTaken(t, err, "client_code", "urn:acme/shop")
}

func testClaimCheck(t *testing.T, h Harness) {
	s := open(t, h)
	check := func(v string) eventstore.Claim { return eventstore.Claim{Kind: "suspended", Value: v, Check: true} }
	// A free value: the append goes through and takes nothing.
	mustAppend(t, s, stream("acme", "c1"), 0, ev("e", 1), check("acme"))
	mustAppend(t, s, stream("acme", "c2"), 0, ev("e", 1), check("acme"))
	mustAppend(t, s, stream("acme", "t"), 0, ev("suspended", 1), eventstore.Claim{Kind: "suspended", Value: "acme"})
	// A held value fails the append, with nothing written, whichever
	// stream checks it (the holder too) and whatever else it claims.
	for _, st := range []eventstore.StreamID{stream("acme", "c3"), stream("acme", "t")} {
		_, err := s.Append(t.Context(), st, int64(len(readStream(t, s, st))), ev("e", 1), codeClaim("urn:acme/free"), check("acme"))
		assertClaimTaken(t, err, "suspended", "acme")
	}
	mustAppend(t, s, stream("acme", "c4"), 0, ev("e", 1), codeClaim("urn:acme/free"))
	if got := readStream(t, s, stream("acme", "c3")); len(got) != 0 {
		t.Fatalf("a failed check left %d events", len(got))
	}
	// Checks are tenant-scoped like the claims they check, unless global.
	mustAppend(t, s, stream("globex", "c1"), 0, ev("e", 1), check("acme"))
	// Released, the value is free again.
	mustAppend(t, s, stream("acme", "t"), 1, ev("resumed", 1), eventstore.Claim{Kind: "suspended", Value: "acme", Release: true})
	mustAppend(t, s, stream("acme", "c3"), 0, ev("e", 1), check("acme"))
	// Check and Release together make no sense.
	_, err := s.Append(t.Context(), stream("acme", "c5"), 0, ev("e", 1), eventstore.Claim{Kind: "k", Value: "v", Check: true, Release: true})
	if !errors.Is(err, eventstore.ErrInvalid) {
		t.Fatalf("check and release in one claim: %v, want ErrInvalid", err)
	}
}

// testConcurrentClaimCheck races, many times, an append that checks a
// value with one that claims it: either the check fails, or both commit
// and the check's event comes first in the global order.
func testConcurrentClaimCheck(t *testing.T, h Harness) {
	s := open(t, h)
	const rounds = 60
	for i := range rounds {
		v := fmt.Sprintf("acme-%d", i)
		var checkPos, claimPos eventstore.Position
		var checkErr, claimErr error
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Go(func() {
			<-start
			checkPos, checkErr = s.Append(t.Context(), stream("acme", "c-"+v), 0, ev("created", 1),
				eventstore.Claim{Kind: "suspended", Value: v, Check: true}, codeClaim("urn:acme/"+v))
		})
		wg.Go(func() {
			<-start
			claimPos, claimErr = s.Append(t.Context(), stream("acme", "t-"+v), 0, ev("suspended", 1), eventstore.Claim{Kind: "suspended", Value: v})
		})
		close(start)
		wg.Wait()
		if claimErr != nil {
			t.Fatalf("round %d: the claim failed: %v", i, claimErr)
		}
		switch {
		case checkErr == nil:
			if !checkPos.Less(claimPos) {
				t.Fatalf("round %d: the check committed at %v, after the claim at %v", i, checkPos, claimPos)
			}
		case errors.Is(checkErr, eventstore.ErrClaimTaken):
		default:
			t.Fatalf("round %d: the check failed with %v, want nil or ErrClaimTaken", i, checkErr)
		}
	}
}

func testReadAllPaging(t *testing.T, h Harness) {
	s := open(t, h)
	var want []string
	var last eventstore.Position
	for i := range 25 {
		events := ev("e", 1+i%3)
		last = mustAppend(t, s, stream("acme", fmt.Sprintf("c%d", i)), 0, events)
		for _, e := range events {
			want = append(want, e.ID)
		}
	}
	settle(t, s, last)
	for _, page := range []int{1, 7, 100} {
		got := readAll(t, s, page)
		assertOrdered(t, got)
		if len(got) != len(want) {
			t.Fatalf("page size %d: read %d events, want %d", page, len(got), len(want))
		}
		for i := range got {
			if got[i].ID != want[i] {
				t.Fatalf("page size %d: event %d is %s, want %s (append order)", page, i, got[i].ID, want[i])
			}
		}
	}
}

func testReadTenant(t *testing.T, h Harness) {
	s := open(t, h)
	var last eventstore.Position
	for i := range 6 {
		tenant := []string{"acme", "globex"}[i%2]
		last = mustAppend(t, s, stream(tenant, fmt.Sprintf("c%d", i)), 0, ev("e", 2))
	}
	settle(t, s, last)
	got, err := s.ReadTenant(t.Context(), "acme", eventstore.Position{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 6 {
		t.Fatalf("acme has %d events, want 6", len(got))
	}
	assertOrdered(t, got)
	for _, e := range got {
		if e.Stream.Tenant != "acme" {
			t.Fatalf("tenant read for acme returned an event of %s", e.Stream.Tenant)
		}
	}
	page, err := s.ReadTenant(t.Context(), "acme", got[1].Position, 2)
	if err != nil || len(page) != 2 || page[0].ID != got[2].ID {
		t.Fatalf("paged tenant read = %d events, %v; want events 2 and 3", len(page), err)
	}
	// The same stream id in another tenant is another stream.
	if other := readStream(t, s, stream("globex", "c0")); len(other) != 0 {
		t.Fatalf("globex/c0 read %d events of acme/c0", len(other))
	}
	none, err := s.ReadTenant(t.Context(), "initech", eventstore.Position{}, 100)
	if err != nil || len(none) != 0 {
		t.Fatalf("unknown tenant: %d events, %v", len(none), err)
	}
}

// testLateCommit holds an append (A) open after it has written, lets a
// second append (B) commit, and checks that a reader never moves past A:
// B is invisible until A commits, and then both are read exactly once.
func testLateCommit(t *testing.T, h Harness) {
	if h.Hold == nil {
		t.Fatal("the harness must provide Hold")
	}
	s := open(t, h)
	ctx := t.Context()
	a := ev("slow", 1)
	commit, err := h.Hold(ctx, s, stream("acme", "slow"), 0, a)
	if err != nil {
		t.Fatalf("hold append: %v", err)
	}
	committed := false
	t.Cleanup(func() {
		if !committed {
			_ = commit() // a failed test must not leave the transaction open
		}
	})
	b := ev("fast", 1)
	type result struct {
		pos eventstore.Position
		err error
	}
	bDone := make(chan result, 1)
	go func() {
		pos, err := s.Append(ctx, stream("acme", "fast"), 0, b)
		bDone <- result{pos, err}
	}()

	var bPos eventstore.Position
	if h.SerializedWriters {
		select {
		case r := <-bDone:
			t.Fatalf("append committed (err %v) while another write transaction was open", r.err)
		case <-time.After(200 * time.Millisecond):
		}
	} else {
		r := <-bDone
		if r.err != nil {
			t.Fatalf("append while another is held: %v", r.err)
		}
		bPos = r.pos
	}

	// While A is open, a reader must not see B: it would move its
	// checkpoint past A's position and skip A for good.
	for name, read := range map[string]func() ([]eventstore.Event, error){
		"read all":    func() ([]eventstore.Event, error) { return s.ReadAll(ctx, eventstore.Position{}, 100) },
		"read tenant": func() ([]eventstore.Event, error) { return s.ReadTenant(ctx, "acme", eventstore.Position{}, 100) },
	} {
		got, err := read()
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 0 {
			t.Fatalf("%s saw %s at %s while an append that started earlier was still open", name, got[0].Type, got[0].Position)
		}
	}
	if head, err := s.Head(ctx); err != nil || !head.IsZero() {
		t.Fatalf("head = %s, %v while the first append is open; want the zero position", head, err)
	}

	committed = true
	if err := commit(); err != nil {
		t.Fatalf("commit held append: %v", err)
	}
	if h.SerializedWriters {
		r := <-bDone
		if r.err != nil {
			t.Fatalf("append after the held one: %v", r.err)
		}
		bPos = r.pos
	}
	settle(t, s, bPos)
	seen := readAll(t, s, 1)
	if len(seen) != 2 || seen[0].ID != a[0].ID || seen[1].ID != b[0].ID {
		types := make([]string, len(seen))
		for i, e := range seen {
			types[i] = e.Type
		}
		t.Fatalf("reader saw %v, want [slow fast] exactly once", types)
	}
}

// testResumingReader runs writers and a paging reader at once; the reader
// persists only its last position, and must see every event exactly once.
func testResumingReader(t *testing.T, h Harness) {
	s := open(t, h)
	const writers, each = 6, 25
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				st := stream([]string{"acme", "globex"}[w%2], fmt.Sprintf("w%d-%d", w, i))
				if _, err := s.Append(ctx, st, 0, ev("e", 1+i%2)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	written := make(chan struct{})
	go func() { wg.Wait(); close(written) }()

	seen := map[string]int{}
	var order []eventstore.Event
	var checkpoint eventstore.Position
	want := writers * (each/2*3 + each%2)
	deadline := time.Now().Add(30 * time.Second)
	for len(order) < want {
		if time.Now().After(deadline) {
			t.Fatalf("reader saw %d of %d events before the deadline", len(order), want)
		}
		got, err := s.ReadAll(ctx, checkpoint, 7)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range got {
			seen[e.ID]++
			order = append(order, e)
		}
		if len(got) > 0 {
			checkpoint = got[len(got)-1].Position
		} else {
			time.Sleep(time.Millisecond)
		}
	}
	<-written
	if extra, err := s.ReadAll(ctx, checkpoint, 10); err != nil || len(extra) != 0 {
		t.Fatalf("after the reader caught up: %d more events, %v", len(extra), err)
	}
	assertOrdered(t, order)
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("event %s seen %d times", id, n)
		}
	}
	if len(seen) != want {
		t.Fatalf("reader saw %d distinct events, want %d", len(seen), want)
	}
}

func testLargePayloads(t *testing.T, h Harness) {
	s := open(t, h)
	for _, size := range []int{64 << 10, 1 << 20, 4 << 20} {
		st := stream("acme", fmt.Sprintf("big-%d", size))
		e := ev("big", 1)
		e[0].Data = json.RawMessage(`{"blob":"` + strings.Repeat("x", size) + `"}`)
		mustAppend(t, s, st, 0, e)
		got := readStream(t, s, st)
		if len(got) != 1 || string(got[0].Data) != string(e[0].Data) {
			t.Fatalf("a %d-byte payload did not round-trip", size)
		}
	}
}

func testHead(t *testing.T, h Harness) {
	s := open(t, h)
	head, err := s.Head(t.Context())
	if err != nil || !head.IsZero() {
		t.Fatalf("empty store head = %s, %v; want zero", head, err)
	}
	last := mustAppend(t, s, stream("acme", "a"), 0, ev("e", 2))
	settle(t, s, last)
	if head, err = s.Head(t.Context()); err != nil || head != last {
		t.Fatalf("head = %s, %v; want %s", head, err, last)
	}
	last = mustAppend(t, s, stream("globex", "a"), 0, ev("e", 1))
	settle(t, s, last)
	if head, err = s.Head(t.Context()); err != nil || head != last {
		t.Fatalf("head = %s, %v; want %s", head, err, last)
	}
}

func testCancelledContext(t *testing.T, h Harness) {
	s := open(t, h)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Append(ctx, stream("acme", "a"), 0, ev("e", 1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("append with a cancelled context: err = %v, want context.Canceled", err)
	}
	if _, err := s.ReadAll(ctx, eventstore.Position{}, 10); !errors.Is(err, context.Canceled) {
		t.Fatalf("read with a cancelled context: err = %v, want context.Canceled", err)
	}
	if got := readAll(t, s, 10); len(got) != 0 {
		t.Fatalf("cancelled append left %d events", len(got))
	}
}

func testClosed(t *testing.T, h Harness) {
	s := h.New(t)
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if _, err := s.Append(t.Context(), stream("acme", "a"), 0, ev("e", 1)); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("append after close: err = %v, want ErrClosed", err)
	}
}

// testSnapshots: a backend keeps snapshots (eventstore.Snapshots) per
// stream, returns the newest one usable accepts with every field as
// saved, replaces one saved again at the same version, and never returns
// another stream's, not even a same-named stream of another tenant.
func testSnapshots(t *testing.T, h Harness) {
	s := open(t, h)
	ss, ok := s.(eventstore.Snapshots)
	if !ok {
		t.Fatalf("%T keeps no snapshots", s)
	}
	ctx := t.Context()
	a, other := stream("acme", "c1"), stream("beta", "c1")
	mustAppend(t, s, a, eventstore.NoStream, ev("client.updated", 3))
	events := readStream(t, s, a)
	at := func(v int64, data string) eventstore.Snapshot {
		e := events[v-1]
		return eventstore.Snapshot{Stream: a, Version: v, EventID: e.ID, Position: e.Position,
			RecordedAt: e.RecordedAt.Add(time.Duration(v) * time.Microsecond), Data: []byte(data)}
	}
	if _, ok, err := ss.LatestSnapshot(ctx, a, func(eventstore.Snapshot) bool { return true }); err != nil || ok {
		t.Fatalf("LatestSnapshot of a stream without any = %t, %v", ok, err)
	}
	for _, snap := range []eventstore.Snapshot{at(1, `{"v":1}`), at(2, `{"v":2}`), at(3, `{"v":3}`), at(2, `{"v":"2 again"}`)} {
		if err := ss.SaveSnapshot(ctx, snap); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		below int64
		want  eventstore.Snapshot
	}{{4, at(3, `{"v":3}`)}, {3, at(2, `{"v":"2 again"}`)}, {2, at(1, `{"v":1}`)}} {
		got, ok, err := ss.LatestSnapshot(ctx, a, func(s eventstore.Snapshot) bool {
			if s.Data != nil {
				t.Errorf("usable sees the data of the snapshot at %d", s.Version)
			}
			return s.Version < tc.below
		})
		if err != nil || !ok {
			t.Fatalf("LatestSnapshot below %d = %t, %v", tc.below, ok, err)
		}
		if got.Stream != tc.want.Stream || got.Version != tc.want.Version || got.EventID != tc.want.EventID ||
			got.Position != tc.want.Position || !got.RecordedAt.Equal(tc.want.RecordedAt) || string(got.Data) != string(tc.want.Data) {
			t.Errorf("LatestSnapshot below %d = %+v, want %+v", tc.below, got, tc.want)
		}
	}
	if _, ok, err := ss.LatestSnapshot(ctx, a, func(eventstore.Snapshot) bool { return false }); err != nil || ok {
		t.Fatalf("LatestSnapshot that none is usable for = %t, %v", ok, err)
	}
	if _, ok, err := ss.LatestSnapshot(ctx, other, func(eventstore.Snapshot) bool { return true }); err != nil || ok {
		t.Fatalf("LatestSnapshot of another tenant's stream = %t, %v", ok, err)
	}
}
