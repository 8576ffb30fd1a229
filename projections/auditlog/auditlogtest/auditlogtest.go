// Package auditlogtest is the conformance suite of [auditlog.Store] and
// of the [auditlog.Log] over it. Each backend's tests call [Run] with a
// function that opens a fresh, empty store, and [RunLog] with one that
// opens an event store and the audit log store in a fresh database.
package auditlogtest

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/projections/auditlog"
)

// Run runs the store suite; newStore returns a fresh, empty store, closed
// when t ends.
func Run(t *testing.T, newStore func(t testing.TB) auditlog.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s auditlog.Store)
	}{
		{"EmptyStore", testEmpty},
		{"AppendThenRead", testAppendThenRead},
		{"AppendContinuesEachTenant", testContinues},
		{"StaleAppendWritesNothing", testStale},
		{"ConcurrentAppendsOneWins", testConcurrentAppends},
		{"InvalidAppendWritesNothing", testInvalidAppend},
		{"EntriesFilters", testFilters},
		{"EntriesPages", testPages},
		{"EntriesLimits", testLimits},
		{"CheckpointsInsertIfAbsent", testCheckpointOnce},
		{"CheckpointsOrderAndLatest", testCheckpointOrder},
		{"Unsigned", testUnsigned},
		{"UnpublishedUntilMarked", testUnpublished},
		{"ResetKeepsCheckpoints", testReset},
		{"CancelledContext", testCancelled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

// builder makes well-formed leaves for synthetic entries: it keeps each
// tenant's tree in memory, as tlog stores it.
type builder struct {
	trees map[string]*tree
	pos   eventstore.Position
	seq   int
	now   time.Time
}

func newBuilder() *builder {
	return &builder{trees: map[string]*tree{}, now: time.Date(2026, 12, 1, 9, 0, 0, 123456000, time.UTC)}
}

// tree is a Merkle tree in memory, kept as tlog stores it.
type tree struct {
	hashes []tlog.Hash
	n      int64
}

func (t *tree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(t.hashes)) {
			return nil, fmt.Errorf("no hash %d", x)
		}
		out[i] = t.hashes[x]
	}
	return out, nil
}

// add adds a leaf and returns the hashes it stored.
func (t *tree) add(leaf tlog.Hash) []tlog.Hash {
	hs, err := tlog.StoredHashesForRecordHash(t.n, leaf, t)
	if err != nil {
		panic(err)
	}
	t.hashes = append(t.hashes, hs...)
	t.n++
	return hs
}

func (t *tree) root(tb testing.TB, n int64) tlog.Hash {
	tb.Helper()
	h, err := tlog.TreeHash(n, t)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// spec says what a synthetic entry is: its stream and type and actor.
type spec struct {
	tenant, streamType, streamID, typ, actor string
}

// page returns the leaves of entries made from specs, and the progress
// it moves to; the builder remembers them as appended.
func (b *builder) page(specs ...spec) (eventstore.Position, []auditlog.Leaves) {
	var order []string
	byTenant := map[string]*auditlog.Leaves{}
	for _, s := range specs {
		tr := b.trees[s.tenant]
		if tr == nil {
			tr = &tree{}
			b.trees[s.tenant] = tr
		}
		l := byTenant[s.tenant]
		if l == nil {
			l = &auditlog.Leaves{Tenant: s.tenant, First: tlog.StoredHashIndex(0, tr.n)}
			byTenant[s.tenant] = l
			order = append(order, s.tenant)
		}
		b.seq++
		b.pos = eventstore.Position{Commit: b.pos.Commit + 1, Seq: int64(b.seq)}
		b.now = b.now.Add(time.Minute)
		data := json.RawMessage(fmt.Sprintf(`{"n":%d,"secret":"[redacted]"}`, b.seq))
		e := auditlog.Entry{
			Index:      tr.n,
			ID:         fmt.Sprintf("evt-%06d", b.seq),
			Stream:     eventstore.StreamID{Tenant: s.tenant, Type: s.streamType, ID: s.streamID},
			Version:    int64(b.seq),
			Type:       s.typ,
			Schema:     1,
			Data:       data,
			DataDigest: sha256.Sum256([]byte(fmt.Sprintf("stored bytes %d", b.seq))),
			Meta: eventstore.Metadata{Actor: s.actor, CorrelationID: fmt.Sprintf("req-%d", b.seq), CausationID: "cause",
				OccurredAt: b.now.Add(-time.Second), TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
				Reason: "because", Source: "203.0.113.7", UserAgent: "curl/8.0"},
			RecordedAt: b.now,
			Position:   b.pos,
		}
		l.Entries = append(l.Entries, e)
		l.Hashes = append(l.Hashes, tr.add(e.LeafHash())...)
	}
	out := make([]auditlog.Leaves, len(order))
	for i, t := range order {
		out[i] = *byTenant[t]
	}
	return b.pos, out
}

func clientSpec(tenant, id, typ, actor string) spec {
	return spec{tenant: tenant, streamType: "client", streamID: id, typ: typ, actor: actor}
}

// appendPage appends a page built from specs after the builder's
// position, failing tb on error.
func (b *builder) appendPage(tb testing.TB, s auditlog.Store, specs ...spec) []auditlog.Leaves {
	tb.Helper()
	from := b.pos
	to, leaves := b.page(specs...)
	if err := s.Append(tb.Context(), from, to, leaves); err != nil {
		tb.Fatalf("append: %v", err)
	}
	return leaves
}

// entries returns every entry of a tenant the builder appended.
func entriesOf(leaves []auditlog.Leaves, tenant string) []auditlog.Entry {
	var out []auditlog.Entry
	for _, l := range leaves {
		if l.Tenant == tenant {
			out = append(out, l.Entries...)
		}
	}
	return out
}

func sameEntries(tb testing.TB, what string, got, want []auditlog.Entry) {
	tb.Helper()
	if diff := cmp.Diff(want, got); diff != "" {
		tb.Fatalf("%s (-want +got):\n%s", what, diff)
	}
	for i := range got {
		if got[i].LeafHash() != want[i].LeafHash() {
			tb.Fatalf("%s: entry %d reads back with another leaf hash", what, i)
		}
	}
}

func allEntries(tb testing.TB, s auditlog.Store, tenant string, f auditlog.Filter) []auditlog.Entry {
	tb.Helper()
	var out []auditlog.Entry
	after := int64(-1)
	for {
		page, err := s.Entries(tb.Context(), tenant, f, after, 3)
		if err != nil {
			tb.Fatalf("entries of %s: %v", tenant, err)
		}
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		after = page[len(page)-1].Index
	}
}

func progress(tb testing.TB, s auditlog.Store) eventstore.Position {
	tb.Helper()
	p, err := s.Progress(tb.Context())
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func sizes(tb testing.TB, s auditlog.Store, tenants ...string) map[string]int64 {
	tb.Helper()
	m, err := s.Sizes(tb.Context(), tenants)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func testEmpty(t *testing.T, s auditlog.Store) {
	ctx := t.Context()
	if p := progress(t, s); !p.IsZero() {
		t.Errorf("progress of an empty store = %s", p)
	}
	if m := sizes(t, s, "acme"); len(m) != 0 {
		t.Errorf("sizes of an empty store = %v", m)
	}
	if _, err := s.ReadHashes(ctx, "acme", []int64{0}); !errors.Is(err, auditlog.ErrNotFound) {
		t.Errorf("ReadHashes of an empty log: %v, want ErrNotFound", err)
	}
	if es, err := s.Entries(ctx, "acme", auditlog.Filter{}, -1, 10); err != nil || len(es) != 0 {
		t.Errorf("Entries of an empty log = %v, %v", es, err)
	}
	if _, err := s.LatestCheckpoint(ctx, "acme"); !errors.Is(err, auditlog.ErrNotFound) {
		t.Errorf("LatestCheckpoint of an empty log: %v, want ErrNotFound", err)
	}
	if m, err := s.Unsigned(ctx); err != nil || len(m) != 0 {
		t.Errorf("Unsigned of an empty store = %v, %v", m, err)
	}
	if ts, err := s.Tenants(ctx); err != nil || len(ts) != 0 {
		t.Errorf("Tenants of an empty store = %v, %v", ts, err)
	}
}

func testAppendThenRead(t *testing.T, s auditlog.Store) {
	b := newBuilder()
	leaves := b.appendPage(t, s,
		spec{"acme", "tenant", "acme", "tenant.created", "root"},
		clientSpec("acme", "c1", "client.registered", "root"),
		spec{"globex", "tenant", "globex", "tenant.created", "root"},
		clientSpec("acme", "c1", "client.updated", "user:ann"),
	)
	if p := progress(t, s); p != b.pos {
		t.Errorf("progress = %s, want %s", p, b.pos)
	}
	if diff := cmp.Diff(map[string]int64{"acme": 3, "globex": 1}, sizes(t, s, "acme", "globex", "initech")); diff != "" {
		t.Errorf("sizes (-want +got):\n%s", diff)
	}
	for _, tenant := range []string{"acme", "globex"} {
		sameEntries(t, "entries of "+tenant, allEntries(t, s, tenant, auditlog.Filter{}), entriesOf(leaves, tenant))
		tr := b.trees[tenant]
		idx := make([]int64, len(tr.hashes))
		for i := range idx {
			idx[i] = int64(len(idx) - 1 - i) // any order
		}
		hs, err := s.ReadHashes(t.Context(), tenant, idx)
		if err != nil {
			t.Fatal(err)
		}
		for i, x := range idx {
			if hs[i] != tr.hashes[x] {
				t.Errorf("%s's hash %d differs", tenant, x)
			}
		}
		if _, err := s.ReadHashes(t.Context(), tenant, []int64{0, int64(len(tr.hashes))}); !errors.Is(err, auditlog.ErrNotFound) {
			t.Errorf("reading %s's hash beyond its tree: %v, want ErrNotFound", tenant, err)
		}
	}
	ts, err := s.Tenants(t.Context())
	if err != nil || !slices.Equal(ts, []string{"acme", "globex"}) {
		t.Errorf("Tenants = %v, %v", ts, err)
	}
}

func testContinues(t *testing.T, s auditlog.Store) {
	b := newBuilder()
	var all []auditlog.Leaves
	for i := range 5 {
		specs := []spec{clientSpec("acme", fmt.Sprint("c", i), "client.registered", "root")}
		if i%2 == 0 {
			specs = append(specs, clientSpec("globex", fmt.Sprint("g", i), "client.registered", "root"), clientSpec("acme", fmt.Sprint("c", i), "client.updated", "root"))
		}
		all = append(all, b.appendPage(t, s, specs...)...)
	}
	if diff := cmp.Diff(map[string]int64{"acme": 8, "globex": 3}, sizes(t, s, "acme", "globex")); diff != "" {
		t.Errorf("sizes (-want +got):\n%s", diff)
	}
	for _, tenant := range []string{"acme", "globex"} {
		sameEntries(t, "entries of "+tenant, allEntries(t, s, tenant, auditlog.Filter{}), entriesOf(all, tenant))
		tr := b.trees[tenant]
		idx := make([]int64, len(tr.hashes))
		for i := range idx {
			idx[i] = int64(i)
		}
		hs, err := s.ReadHashes(t.Context(), tenant, idx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(hs, tr.hashes) {
			t.Errorf("%s's hashes differ from the tree's", tenant)
		}
	}
}

func testStale(t *testing.T, s auditlog.Store) {
	b := newBuilder()
	b.appendPage(t, s, clientSpec("acme", "c1", "client.registered", "root"))
	before := progress(t, s)
	// An append from the start again, as a node that read the progress
	// before the first append would send it.
	stale := newBuilder()
	to, leaves := stale.page(clientSpec("acme", "c9", "client.registered", "root"))
	to.Commit += 100
	if err := s.Append(t.Context(), eventstore.Position{}, to, leaves); !errors.Is(err, auditlog.ErrStale) {
		t.Fatalf("stale append: %v, want ErrStale", err)
	}
	if p := progress(t, s); p != before {
		t.Errorf("progress after a stale append = %s, want %s", p, before)
	}
	if n := sizes(t, s, "acme")["acme"]; n != 1 {
		t.Errorf("size after a stale append = %d, want 1", n)
	}
	if es := allEntries(t, s, "acme", auditlog.Filter{}); len(es) != 1 || es[0].Stream.ID != "c1" {
		t.Errorf("entries after a stale append = %v", es)
	}
}

func testConcurrentAppends(t *testing.T, s auditlog.Store) {
	const writers = 8
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		b := newBuilder()
		to, leaves := b.page(clientSpec("acme", fmt.Sprint("c", i), "client.registered", "root"), clientSpec("globex", "g", "client.registered", "root"))
		wg.Go(func() { errs[i] = s.Append(t.Context(), eventstore.Position{}, to, leaves) })
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, auditlog.ErrStale):
			t.Errorf("writer %d: %v, want nil or ErrStale", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d writers won, want 1", won)
	}
	if diff := cmp.Diff(map[string]int64{"acme": 1, "globex": 1}, sizes(t, s, "acme", "globex")); diff != "" {
		t.Errorf("sizes (-want +got):\n%s", diff)
	}
}

func testInvalidAppend(t *testing.T, s auditlog.Store) {
	b := newBuilder()
	b.appendPage(t, s, clientSpec("acme", "c1", "client.registered", "root"))
	from := b.pos
	bad := map[string]func() (eventstore.Position, []auditlog.Leaves){
		"leaves that do not start at the tenant's size": func() (eventstore.Position, []auditlog.Leaves) {
			o := newBuilder()
			o.pos = from
			return o.page(clientSpec("acme", "c2", "client.registered", "root"))
		},
		"a first leaf of a new tenant above 0": func() (eventstore.Position, []auditlog.Leaves) {
			o := newBuilder()
			o.pos = from
			o.page(clientSpec("initech", "i1", "client.registered", "root"))
			return o.page(clientSpec("initech", "i2", "client.registered", "root"))
		},
		"a hash missing": func() (eventstore.Position, []auditlog.Leaves) {
			c := *b
			c.trees = map[string]*tree{"acme": {hashes: slices.Clone(b.trees["acme"].hashes), n: b.trees["acme"].n}}
			to, l := c.page(clientSpec("acme", "c2", "client.registered", "root"), clientSpec("acme", "c2", "client.updated", "root"))
			l[0].Hashes = l[0].Hashes[:len(l[0].Hashes)-1]
			return to, l
		},
		"a progress that does not move forward": func() (eventstore.Position, []auditlog.Leaves) {
			c := *b
			c.trees = map[string]*tree{"acme": {hashes: slices.Clone(b.trees["acme"].hashes), n: b.trees["acme"].n}}
			_, l := c.page(clientSpec("acme", "c2", "client.registered", "root"))
			return from, l
		},
	}
	for name, mk := range bad {
		to, leaves := mk()
		if err := s.Append(t.Context(), from, to, leaves); !errors.Is(err, auditlog.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if p := progress(t, s); p != from {
		t.Errorf("progress after invalid appends = %s, want %s", p, from)
	}
	if diff := cmp.Diff(map[string]int64{"acme": 1}, sizes(t, s, "acme", "initech")); diff != "" {
		t.Errorf("sizes after invalid appends (-want +got):\n%s", diff)
	}
	b.appendPage(t, s, clientSpec("acme", "c2", "client.registered", "root"))
}

// filterWorld appends entries of two tenants for the filter tests and
// returns acme's.
func filterWorld(t *testing.T, s auditlog.Store) ([]auditlog.Entry, *builder) {
	b := newBuilder()
	var all []auditlog.Leaves
	all = append(all, b.appendPage(t, s,
		spec{"acme", "tenant", "acme", "tenant.created", "root"},
		clientSpec("acme", "c1", "client.registered", "root"),
		clientSpec("globex", "c1", "client.registered", "root"),
		clientSpec("acme", "c2", "client.registered", "user:ann"),
	)...)
	all = append(all, b.appendPage(t, s,
		clientSpec("acme", "c1", "client.updated", "user:ann"),
		clientSpec("acme", "c2", "client.deactivated", "user:bob"),
		clientSpec("globex", "c1", "client.updated", "user:ann"),
		spec{"acme", "tenant", "acme", "tenant.login_url_set", "user:bob"},
		clientSpec("acme", "c1", "client.secret_added", "user:ann"),
	)...)
	return entriesOf(all, "acme"), b
}

func where(es []auditlog.Entry, keep func(auditlog.Entry) bool) []auditlog.Entry {
	var out []auditlog.Entry
	for _, e := range es {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}

func testFilters(t *testing.T, s auditlog.Store) {
	acme, _ := filterWorld(t, s)
	at := acme[3].RecordedAt
	cases := []struct {
		name string
		f    auditlog.Filter
		keep func(auditlog.Entry) bool
	}{
		{"none", auditlog.Filter{}, func(auditlog.Entry) bool { return true }},
		{"stream type", auditlog.Filter{StreamType: "client"}, func(e auditlog.Entry) bool { return e.Stream.Type == "client" }},
		{"stream", auditlog.Filter{StreamType: "client", StreamID: "c1"}, func(e auditlog.Entry) bool { return e.Stream.Type == "client" && e.Stream.ID == "c1" }},
		{"stream id alone", auditlog.Filter{StreamID: "c2"}, func(e auditlog.Entry) bool { return e.Stream.ID == "c2" }},
		{"type", auditlog.Filter{Type: "client.registered"}, func(e auditlog.Entry) bool { return e.Type == "client.registered" }},
		{"actor", auditlog.Filter{Actor: "user:ann"}, func(e auditlog.Entry) bool { return e.Meta.Actor == "user:ann" }},
		{"since", auditlog.Filter{Since: at}, func(e auditlog.Entry) bool { return !e.RecordedAt.Before(at) }},
		{"until", auditlog.Filter{Until: at}, func(e auditlog.Entry) bool { return e.RecordedAt.Before(at) }},
		{"since and until", auditlog.Filter{Since: acme[1].RecordedAt, Until: at}, func(e auditlog.Entry) bool {
			return !e.RecordedAt.Before(acme[1].RecordedAt) && e.RecordedAt.Before(at)
		}},
		{"all at once", auditlog.Filter{StreamType: "client", StreamID: "c1", Type: "client.updated", Actor: "user:ann", Since: acme[0].RecordedAt, Until: at.Add(time.Hour)},
			func(e auditlog.Entry) bool { return e.Stream.ID == "c1" && e.Type == "client.updated" }},
		{"event", auditlog.Filter{EventID: acme[2].ID}, func(e auditlog.Entry) bool { return e.ID == acme[2].ID }},
		{"nothing matches", auditlog.Filter{Actor: "user:zed"}, func(auditlog.Entry) bool { return false }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := where(acme, tc.keep)
			if tc.name != "nothing matches" && len(want) == 0 {
				t.Fatal("the case selects nothing")
			}
			sameEntries(t, "entries", allEntries(t, s, "acme", tc.f), want)
		})
	}
}

func testPages(t *testing.T, s auditlog.Store) {
	acme, _ := filterWorld(t, s)
	ctx := t.Context()
	for limit := 1; limit <= len(acme)+1; limit++ {
		var got []auditlog.Entry
		after := int64(-1)
		for range len(acme) + 2 {
			page, err := s.Entries(ctx, "acme", auditlog.Filter{}, after, limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > limit {
				t.Fatalf("limit %d: a page of %d", limit, len(page))
			}
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			after = page[len(page)-1].Index
		}
		sameEntries(t, fmt.Sprintf("pages of %d", limit), got, acme)
	}
	page, err := s.Entries(ctx, "acme", auditlog.Filter{}, 2, 2)
	if err != nil || len(page) != 2 || page[0].Index != 3 || page[1].Index != 4 {
		t.Errorf("the page after leaf 2 = %v, %v", page, err)
	}
	clients := where(acme, func(e auditlog.Entry) bool { return e.Stream.Type == "client" })
	page, err = s.Entries(ctx, "acme", auditlog.Filter{StreamType: "client"}, clients[1].Index, 2)
	if err != nil {
		t.Fatal(err)
	}
	sameEntries(t, "filtered page", page, clients[2:4])
}

func testLimits(t *testing.T, s auditlog.Store) {
	acme, _ := filterWorld(t, s)
	for _, limit := range []int{0, -1, auditlog.MaxLimit + 1} {
		if _, err := s.Entries(t.Context(), "acme", auditlog.Filter{}, -1, limit); !errors.Is(err, auditlog.ErrInvalid) {
			t.Errorf("Entries with limit %d: %v, want ErrInvalid", limit, err)
		}
		if _, err := s.Checkpoints(t.Context(), "acme", 0, limit); !errors.Is(err, auditlog.ErrInvalid) {
			t.Errorf("Checkpoints with limit %d: %v, want ErrInvalid", limit, err)
		}
	}
	if es, err := s.Entries(t.Context(), "acme", auditlog.Filter{}, -1, auditlog.MaxLimit); err != nil || len(es) != len(acme) {
		t.Errorf("Entries with the largest limit = %d entries, %v", len(es), err)
	}
}

func checkpoint(size int64, note string, at time.Time) auditlog.SignedCheckpoint {
	return auditlog.SignedCheckpoint{
		Checkpoint: auditlog.Checkpoint{Origin: "example.com/acme", Size: size, Root: sha256.Sum256([]byte(note))},
		Note:       []byte(note), SignedAt: at,
	}
}

func latest(tb testing.TB, s auditlog.Store, tenant string) auditlog.SignedCheckpoint {
	tb.Helper()
	c, err := s.LatestCheckpoint(tb.Context(), tenant)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func testCheckpointOnce(t *testing.T, s auditlog.Store) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 654321000, time.UTC)
	first := checkpoint(3, "first note", at)
	if err := s.AddCheckpoint(t.Context(), "acme", first); err != nil {
		t.Fatal(err)
	}
	if err := s.AddCheckpoint(t.Context(), "acme", checkpoint(3, "second note", at.Add(time.Hour))); err != nil {
		t.Fatalf("adding a checkpoint of a size kept already: %v, want nil", err)
	}
	if diff := cmp.Diff(first, latest(t, s, "acme")); diff != "" {
		t.Errorf("kept checkpoint (-want +got):\n%s", diff)
	}
	if err := s.AddCheckpoint(t.Context(), "acme", checkpoint(0, "empty", at)); !errors.Is(err, auditlog.ErrInvalid) {
		t.Errorf("a checkpoint of size 0: %v, want ErrInvalid", err)
	}
	if _, err := s.LatestCheckpoint(t.Context(), "globex"); !errors.Is(err, auditlog.ErrNotFound) {
		t.Errorf("another tenant's latest checkpoint: %v, want ErrNotFound", err)
	}
}

func testCheckpointOrder(t *testing.T, s auditlog.Store) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var want []auditlog.SignedCheckpoint
	for _, n := range []int64{5, 1, 12, 3, 7} {
		c := checkpoint(n, fmt.Sprint("note ", n), at.Add(time.Duration(n)*time.Minute))
		if err := s.AddCheckpoint(t.Context(), "acme", c); err != nil {
			t.Fatal(err)
		}
		want = append(want, c)
		if err := s.AddCheckpoint(t.Context(), "globex", checkpoint(n+100, "globex", at)); err != nil {
			t.Fatal(err)
		}
	}
	slices.SortFunc(want, func(a, b auditlog.SignedCheckpoint) int { return int(a.Size - b.Size) })
	var got []auditlog.SignedCheckpoint
	for after := int64(0); ; {
		page, err := s.Checkpoints(t.Context(), "acme", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		after = page[len(page)-1].Size
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("checkpoints in pages (-want +got):\n%s", diff)
	}
	page, err := s.Checkpoints(t.Context(), "acme", 5, 10)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want[3:], page); diff != "" {
		t.Errorf("checkpoints after size 5 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want[4], latest(t, s, "acme")); diff != "" {
		t.Errorf("latest checkpoint (-want +got):\n%s", diff)
	}
	ts, err := s.Tenants(t.Context())
	if err != nil || !slices.Equal(ts, []string{"acme", "globex"}) {
		t.Errorf("Tenants = %v, %v", ts, err)
	}
}

func testUnsigned(t *testing.T, s auditlog.Store) {
	ctx := t.Context()
	b := newBuilder()
	b.appendPage(t, s, clientSpec("acme", "c1", "client.registered", "root"), clientSpec("acme", "c1", "client.updated", "root"), clientSpec("globex", "g1", "client.registered", "root"))
	unsigned := func() map[string]int64 {
		t.Helper()
		m, err := s.Unsigned(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if diff := cmp.Diff(map[string]int64{"acme": 2, "globex": 1}, unsigned()); diff != "" {
		t.Errorf("unsigned with no checkpoint (-want +got):\n%s", diff)
	}
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	if err := s.AddCheckpoint(ctx, "acme", checkpoint(2, "acme 2", now)); err != nil {
		t.Fatal(err)
	}
	if err := s.AddCheckpoint(ctx, "globex", checkpoint(1, "globex 1", now)); err != nil {
		t.Fatal(err)
	}
	if m := unsigned(); len(m) != 0 {
		t.Errorf("unsigned with every log checkpointed = %v", m)
	}
	b.appendPage(t, s, clientSpec("acme", "c2", "client.registered", "root"))
	if diff := cmp.Diff(map[string]int64{"acme": 3}, unsigned()); diff != "" {
		t.Errorf("unsigned after acme grew (-want +got):\n%s", diff)
	}
}

func testReset(t *testing.T, s auditlog.Store) {
	ctx := t.Context()
	b := newBuilder()
	b.appendPage(t, s, clientSpec("acme", "c1", "client.registered", "root"), clientSpec("globex", "g1", "client.registered", "root"))
	c := checkpoint(1, "acme 1", time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	if err := s.AddCheckpoint(ctx, "acme", c); err != nil {
		t.Fatal(err)
	}
	if err := s.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if p := progress(t, s); !p.IsZero() {
		t.Errorf("progress after reset = %s", p)
	}
	if m := sizes(t, s, "acme", "globex"); len(m) != 0 {
		t.Errorf("sizes after reset = %v", m)
	}
	if es := allEntries(t, s, "acme", auditlog.Filter{}); len(es) != 0 {
		t.Errorf("entries after reset = %v", es)
	}
	if _, err := s.ReadHashes(ctx, "acme", []int64{0}); !errors.Is(err, auditlog.ErrNotFound) {
		t.Errorf("hashes after reset: %v, want ErrNotFound", err)
	}
	if diff := cmp.Diff(c, latest(t, s, "acme")); diff != "" {
		t.Errorf("checkpoint after reset (-want +got):\n%s", diff)
	}
	if ts, err := s.Tenants(ctx); err != nil || !slices.Equal(ts, []string{"acme"}) {
		t.Errorf("Tenants after reset = %v, %v", ts, err)
	}
	// The log starts again from nothing.
	again := newBuilder()
	again.appendPage(t, s, clientSpec("acme", "c1", "client.registered", "root"))
	if n := sizes(t, s, "acme")["acme"]; n != 1 {
		t.Errorf("size after reset and one append = %d", n)
	}
}

func testCancelled(t *testing.T, s auditlog.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	b := newBuilder()
	to, leaves := b.page(clientSpec("acme", "c1", "client.registered", "root"))
	if err := s.Append(ctx, eventstore.Position{}, to, leaves); !errors.Is(err, context.Canceled) {
		t.Errorf("Append: %v, want context.Canceled", err)
	}
	if _, err := s.Progress(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Progress: %v, want context.Canceled", err)
	}
	if _, err := s.Entries(ctx, "acme", auditlog.Filter{}, -1, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("Entries: %v, want context.Canceled", err)
	}
	if p := progress(t, s); !p.IsZero() {
		t.Errorf("progress after a cancelled append = %s", p)
	}
}

func testUnpublished(t *testing.T, s auditlog.Store) {
	ctx := t.Context()
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	add := func(tenant string, size int64, minutes int) auditlog.TenantCheckpoint {
		t.Helper()
		c := checkpoint(size, fmt.Sprintf("%s %d", tenant, size), at.Add(time.Duration(minutes)*time.Minute))
		if err := s.AddCheckpoint(ctx, tenant, c); err != nil {
			t.Fatal(err)
		}
		return auditlog.TenantCheckpoint{Tenant: tenant, SignedCheckpoint: c}
	}
	a1, g1, a2 := add("acme", 1, 1), add("globex", 1, 2), add("acme", 2, 3)
	unpublished := func(limit int) []auditlog.TenantCheckpoint {
		t.Helper()
		cs, err := s.Unpublished(ctx, limit)
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}
	if diff := cmp.Diff([]auditlog.TenantCheckpoint{a1, g1, a2}, unpublished(10)); diff != "" {
		t.Errorf("unpublished (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]auditlog.TenantCheckpoint{a1, g1}, unpublished(2)); diff != "" {
		t.Errorf("unpublished, two of them (-want +got):\n%s", diff)
	}
	if err := s.MarkPublished(ctx, "acme", 1); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkPublished(ctx, "acme", 1); err != nil {
		t.Errorf("marking a checkpoint published twice: %v", err)
	}
	if diff := cmp.Diff([]auditlog.TenantCheckpoint{g1, a2}, unpublished(10)); diff != "" {
		t.Errorf("unpublished after one was published (-want +got):\n%s", diff)
	}
	if _, err := s.Unpublished(ctx, 0); !errors.Is(err, auditlog.ErrInvalid) {
		t.Errorf("Unpublished with limit 0: %v, want ErrInvalid", err)
	}
	// A reset keeps what was published.
	if err := s.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]auditlog.TenantCheckpoint{g1, a2}, unpublished(10)); diff != "" {
		t.Errorf("unpublished after a reset (-want +got):\n%s", diff)
	}
}
