package auditlogtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/internal/poll"
	"github.com/clavisiam/clavis/projections/auditlog"
)

// Env is an event store and the audit log store in one fresh database.
type Env struct {
	Events eventstore.Store
	Store  auditlog.Store
	// Open opens the same database again, as another node would: an
	// event store and an audit log store of their own connections.
	Open func(t testing.TB) (eventstore.Store, auditlog.Store)
	// EditData overwrites the stored data bytes of an event, behind the
	// event store's back.
	EditData func(t testing.TB, eventID string, data []byte)
}

// RunLog runs the suite of [auditlog.Log] over a backend; newEnv
// returns a fresh Env, closed when t ends.
func RunLog(t *testing.T, newEnv func(t testing.TB) Env) {
	tests := []struct {
		name string
		fn   func(t *testing.T, env Env)
	}{
		{"CatchUpGivesTheOfflineRoots", testCatchUpRoots},
		{"LogsCatchingUpTogetherLogEachEventOnce", testTwoLogs},
		{"RebuildGivesTheSameRoots", testRebuild},
		{"RebuildNamesACheckpointTheStoreNoLongerHolds", testRebuildRewritten},
		{"ProofsVerifyIndependently", testProofs},
		{"ProofErrors", testProofErrors},
		{"SignKeepsAndPublishes", testSign},
		{"ExportVerifies", testExport},
		{"ExportOfAnEditedEventNamesIt", testExportEdited},
		{"ExportOfADeletedEventNamesIt", testExportDeleted},
		{"RunLogsAndSigns", testRun},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newEnv(t))
		})
	}
}

var threeTenants = []string{"acme", "globex", "initech"}

func newLog(tb testing.TB, env Env, opts ...auditlog.Option) *auditlog.Log {
	tb.Helper()
	l, err := auditlog.New(env.Store, env.Events, nil, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// visible waits until the event store shows every event w appended.
func visible(tb testing.TB, env Env, w *workload) {
	tb.Helper()
	poll.Until(tb, 10*time.Second, "the events appended becoming visible", func() bool {
		h, err := env.Events.Head(tb.Context())
		if err != nil {
			tb.Fatal(err)
		}
		return !h.Less(w.lastPosition())
	})
}

// catchUp catches l up until its store has logged every event w
// appended: on PostgreSQL, a transaction in flight anywhere in the
// database holds back what a reader sees for a moment. It returns how
// many events l logged.
func catchUp(tb testing.TB, env Env, l *auditlog.Log, w *workload) int {
	tb.Helper()
	n := 0
	poll.Until(tb, 10*time.Second, "the audit log catching up", func() bool {
		m, err := l.CatchUp(tb.Context())
		if err != nil {
			tb.Fatalf("catch up: %v", err)
		}
		n += m
		p, err := env.Store.Progress(tb.Context())
		if err != nil {
			tb.Fatal(err)
		}
		return !p.Less(w.lastPosition())
	})
	return n
}

// tenantEvents reads every event of a tenant from the event store.
func tenantEvents(tb testing.TB, s eventstore.Store, tenant string) []eventstore.Event {
	tb.Helper()
	var out []eventstore.Event
	var after eventstore.Position
	for {
		page, err := s.ReadTenant(tb.Context(), tenant, after, 100)
		if err != nil {
			tb.Fatal(err)
		}
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		after = page[len(page)-1].Position
	}
}

// offline is a tenant's tree as an auditor builds it: NewEntry of each of
// the tenant's events in the event store, in its order.
func offline(tb testing.TB, s eventstore.Store, tenant string) (*tree, []auditlog.Entry) {
	tb.Helper()
	tr := &tree{}
	var entries []auditlog.Entry
	for i, e := range tenantEvents(tb, s, tenant) {
		x, err := auditlog.NewEntry(int64(i), e)
		if err != nil {
			tb.Fatal(err)
		}
		tr.add(x.LeafHash())
		entries = append(entries, x)
	}
	return tr, entries
}

func logSize(tb testing.TB, l *auditlog.Log, tenant string) int64 {
	tb.Helper()
	n, err := l.Size(tb.Context(), tenant)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

func root(tb testing.TB, l *auditlog.Log, tenant string, size int64) tlog.Hash {
	tb.Helper()
	h, err := l.Root(tb.Context(), tenant, size)
	if err != nil {
		tb.Fatalf("root of %s at %d: %v", tenant, size, err)
	}
	return h
}

// sameAsOffline checks that each tenant's log is the offline tree of its
// events: same size, same root at every size, same entries.
func sameAsOffline(tb testing.TB, env Env, l *auditlog.Log, tenants []string) {
	tb.Helper()
	for _, t := range tenants {
		tr, want := offline(tb, env.Events, t)
		if n := logSize(tb, l, t); n != tr.n || n == 0 {
			tb.Fatalf("%s's log has %d leaves, the store %d events", t, n, tr.n)
		}
		for _, size := range []int64{1, 2, 3, tr.n / 2, tr.n - 1, tr.n} {
			if got, want := root(tb, l, t, size), tr.root(tb, size); got != want {
				tb.Errorf("%s's root at %d = %s, offline %s", t, size, got, want)
			}
		}
		var got []auditlog.Entry
		for after := int64(-1); ; {
			page, err := l.Entries(tb.Context(), t, auditlog.Filter{}, after, 50)
			if err != nil {
				tb.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			after = page[len(page)-1].Index
		}
		sameEntries(tb, t+"'s entries", got, want)
	}
}

func testCatchUpRoots(t *testing.T, env Env) {
	w := newWorkload(env.Events)
	w.run(t, threeTenants, true, 0, 6)
	visible(t, env, w)
	l := newLog(t, env, auditlog.WithPageSize(17))
	total := 0
	for _, tn := range threeTenants {
		total += len(tenantEvents(t, env.Events, tn))
	}
	if n := catchUp(t, env, l, w); n != total {
		t.Errorf("the first catch-up logged %d events, want %d", n, total)
	}
	sameAsOffline(t, env, l, threeTenants)
	if n := catchUp(t, env, l, w); n != 0 {
		t.Errorf("a catch-up with nothing new logged %d events", n)
	}
	w.run(t, threeTenants[1:], false, 6, 3)
	w.run(t, []string{"hooli"}, true, 0, 2)
	catchUp(t, env, l, w)
	sameAsOffline(t, env, l, append(threeTenants, "hooli"))
	if n := logSize(t, l, "nobody"); n != 0 {
		t.Errorf("the size of a tenant with no events = %d", n)
	}
}

func testTwoLogs(t *testing.T, env Env) {
	events2, store2 := env.Open(t)
	l1 := newLog(t, env, auditlog.WithPageSize(7))
	l2, err := auditlog.New(store2, events2, nil, auditlog.WithPageSize(5))
	if err != nil {
		t.Fatal(err)
	}
	w := newWorkload(env.Events)
	var logged [2]int
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, l := range []*auditlog.Log{l1, l2} {
		wg.Go(func() {
			for {
				n, err := l.CatchUp(t.Context())
				if err != nil {
					t.Errorf("log %d: %v", i+1, err)
					return
				}
				logged[i] += n
				select {
				case <-stop:
					return
				default:
				}
			}
		})
	}
	w.run(t, threeTenants, true, 0, 8)
	close(stop)
	wg.Wait()
	logged[0] += catchUp(t, env, l1, w)
	logged[1] += catchUp(t, env, l2, w)
	total := 0
	for _, tn := range threeTenants {
		total += len(tenantEvents(t, env.Events, tn))
	}
	if logged[0]+logged[1] != total {
		t.Errorf("the logs logged %d and %d events, %d in all, the store holds %d", logged[0], logged[1], logged[0]+logged[1], total)
	}
	t.Logf("log 1 logged %d events, log 2 %d", logged[0], logged[1])
	sameAsOffline(t, env, l1, threeTenants)
}

// editable returns the index of the first event from index from on
// whose data holds a client name, to edit.
func editable(tb testing.TB, events []eventstore.Event, from int) int {
	tb.Helper()
	for i := from; i < len(events); i++ {
		if bytes.Contains(events[i].Data, []byte("Client")) {
			return i
		}
	}
	tb.Fatal("no event holds a client name")
	return -1
}

// keys signs each tenant's log with a key of its own, named for it.
type keys struct {
	mu      sync.Mutex
	signers map[string]note.Signer
	vkeys   map[string]string
	refuse  string // a tenant whose key cannot be had
}

func newKeys() *keys {
	return &keys{signers: map[string]note.Signer{}, vkeys: map[string]string{}}
}

func (k *keys) AuditSigner(_ context.Context, tenant string) (note.Signer, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if tenant == k.refuse {
		return nil, fmt.Errorf("no key for %s", tenant)
	}
	if s, ok := k.signers[tenant]; ok {
		return s, nil
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, "audit.example.com/t/"+tenant)
	if err != nil {
		return nil, err
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, err
	}
	k.signers[tenant], k.vkeys[tenant] = s, vkey
	return s, nil
}

func (k *keys) verifier(tenant string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.vkeys[tenant]
}

func sign(tb testing.TB, l *auditlog.Log, k auditlog.Keys) []auditlog.SignedCheckpoint {
	tb.Helper()
	cs, err := l.Sign(tb.Context(), k)
	if err != nil {
		tb.Fatalf("sign: %v", err)
	}
	return cs
}

func testRebuild(t *testing.T, env Env) {
	w := newWorkload(env.Events)
	w.run(t, threeTenants, true, 0, 5)
	l := newLog(t, env, auditlog.WithPageSize(13))
	catchUp(t, env, l, w)
	k := newKeys()
	sign(t, l, k)
	w.run(t, threeTenants, false, 5, 2)
	catchUp(t, env, l, w)
	sign(t, l, k)
	roots := map[string]tlog.Hash{}
	for _, tn := range threeTenants {
		roots[tn] = root(t, l, tn, logSize(t, l, tn))
	}
	visible(t, env, w)
	n, err := l.Rebuild(t.Context())
	if err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	total := 0
	for _, tn := range threeTenants {
		total += len(tenantEvents(t, env.Events, tn))
		if got := root(t, l, tn, logSize(t, l, tn)); got != roots[tn] {
			t.Errorf("%s's root after the rebuild = %s, before %s", tn, got, roots[tn])
		}
	}
	if n != total {
		t.Errorf("the rebuild logged %d events, want %d", n, total)
	}
	sameAsOffline(t, env, l, threeTenants)
}

func testRebuildRewritten(t *testing.T, env Env) {
	w := newWorkload(env.Events)
	w.run(t, threeTenants, true, 0, 3)
	l := newLog(t, env)
	catchUp(t, env, l, w)
	k := newKeys()
	signed := sign(t, l, k)
	if len(signed) != len(threeTenants) {
		t.Fatalf("signed %d checkpoints, want %d", len(signed), len(threeTenants))
	}
	events := tenantEvents(t, env.Events, "globex")
	victim := events[editable(t, events, 4)]
	env.EditData(t, victim.ID, bytes.Replace(victim.Data, []byte("Client"), []byte("Cl1ent"), 1))
	_, err := l.Rebuild(t.Context())
	if !errors.Is(err, auditlog.ErrRewritten) {
		t.Fatalf("rebuild after an edit: %v, want ErrRewritten", err)
	}
	want := fmt.Sprintf("tenant globex's checkpoint at size %d", len(events))
	if !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "acme") || strings.Contains(err.Error(), "initech") {
		t.Errorf("rebuild error %q does not name %q alone", err, want)
	}
}

func testProofs(t *testing.T, env Env) {
	w := newWorkload(env.Events)
	w.run(t, threeTenants[:1], true, 0, 9)
	l := newLog(t, env)
	catchUp(t, env, l, w)
	tr, entries := offline(t, env.Events, "acme")
	n := tr.n
	h := rfc6962.DefaultHasher
	hashes := func(p []tlog.Hash) [][]byte {
		out := make([][]byte, len(p))
		for i := range p {
			out[i] = p[i][:]
		}
		return out
	}
	checked := 0
	for size := int64(1); size <= n; size++ {
		r := tr.root(t, size)
		for index := int64(0); index < size; index += max(1, size/7) {
			leaf, p, err := l.ProveInclusion(t.Context(), "acme", index, size)
			if err != nil {
				t.Fatalf("inclusion of %d in %d: %v", index, size, err)
			}
			if want := entries[index].LeafHash(); leaf != want {
				t.Fatalf("leaf hash %d = %s, want %s", index, leaf, want)
			}
			if err := proof.VerifyInclusion(h, uint64(index), uint64(size), leaf[:], hashes(p), r[:]); err != nil {
				t.Errorf("inclusion of %d in %d does not verify: %v", index, size, err)
			}
			checked++
		}
		for from := int64(1); from <= size; from += max(1, size/5) {
			p, err := l.ProveConsistency(t.Context(), "acme", from, size)
			if err != nil {
				t.Fatalf("consistency of %d with %d: %v", from, size, err)
			}
			r0 := tr.root(t, from)
			if err := proof.VerifyConsistency(h, uint64(from), uint64(size), hashes(p), r0[:], r[:]); err != nil {
				t.Errorf("consistency of %d with %d does not verify: %v", from, size, err)
			}
			checked++
		}
	}
	// A proof against the wrong root must not verify: the checks can fail.
	leaf, p, err := l.ProveInclusion(t.Context(), "acme", 3, n)
	if err != nil {
		t.Fatal(err)
	}
	wrong := tr.root(t, n-1)
	if err := proof.VerifyInclusion(h, 3, uint64(n), leaf[:], hashes(p), wrong[:]); err == nil {
		t.Error("an inclusion proof verifies against another root")
	}
	t.Logf("%d proofs checked over %d leaves", checked, n)
}

func testProofErrors(t *testing.T, env Env) {
	w := newWorkload(env.Events)
	w.run(t, threeTenants[:1], true, 0, 2)
	l := newLog(t, env)
	catchUp(t, env, l, w)
	ctx := t.Context()
	n := logSize(t, l, "acme")
	cases := []struct {
		name string
		err  error
		want error
	}{}
	add := func(name string, err error, want error) {
		cases = append(cases, struct {
			name string
			err  error
			want error
		}{name, err, want})
	}
	_, _, err := l.ProveInclusion(ctx, "acme", n, n)
	add("inclusion of a leaf beyond the size", err, auditlog.ErrInvalid)
	_, _, err = l.ProveInclusion(ctx, "acme", -1, n)
	add("inclusion of a negative leaf", err, auditlog.ErrInvalid)
	_, _, err = l.ProveInclusion(ctx, "acme", 0, n+1)
	add("inclusion in a tree larger than the log", err, auditlog.ErrNotFound)
	_, _, err = l.ProveInclusion(ctx, "nobody", 0, 1)
	add("inclusion in another tenant's log", err, auditlog.ErrNotFound)
	_, err = l.ProveConsistency(ctx, "acme", 0, n)
	add("consistency from size 0", err, auditlog.ErrInvalid)
	_, err = l.ProveConsistency(ctx, "acme", 3, 2)
	add("consistency backwards", err, auditlog.ErrInvalid)
	_, err = l.ProveConsistency(ctx, "acme", 1, n+1)
	add("consistency with a tree larger than the log", err, auditlog.ErrNotFound)
	_, err = l.ProveConsistency(ctx, "acme", n+1, n+1)
	add("consistency of a tree larger than the log with itself", err, auditlog.ErrNotFound)
	_, err = l.Root(ctx, "acme", n+1)
	add("root of a tree larger than the log", err, auditlog.ErrNotFound)
	_, err = l.Root(ctx, "acme", 0)
	add("root of the empty tree", err, auditlog.ErrInvalid)
	_, err = l.Entries(ctx, "acme", auditlog.Filter{}, -1, 0)
	add("entries with limit 0", err, auditlog.ErrInvalid)
	_, err = l.Checkpoints(ctx, "acme", 0, auditlog.MaxLimit+1)
	add("checkpoints with too large a limit", err, auditlog.ErrInvalid)
	_, err = l.Latest(ctx, "acme")
	add("latest checkpoint of a log never signed", err, auditlog.ErrNotFound)
	err = l.Export(ctx, "acme", 0, &bytes.Buffer{})
	add("export of a log never signed", err, auditlog.ErrNotFound)
	for _, tc := range cases {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	if p, err := l.ProveConsistency(ctx, "acme", n, n); err != nil || len(p) != 0 {
		t.Errorf("consistency of the log with itself = %v, %v", p, err)
	}
}

func testSign(t *testing.T, env Env) {
	var mu sync.Mutex
	var published []string
	publish := func(_ context.Context, tenant string, c auditlog.SignedCheckpoint) error {
		mu.Lock()
		defer mu.Unlock()
		published = append(published, fmt.Sprintf("%s/%d", tenant, c.Size))
		if tenant == "initech" {
			return errors.New("nats is away")
		}
		return nil
	}
	w := newWorkload(env.Events)
	w.run(t, threeTenants, true, 0, 2)
	l := newLog(t, env, auditlog.WithPublish(publish))
	catchUp(t, env, l, w)
	k := newKeys()
	k.refuse = "globex"
	cs, err := l.Sign(t.Context(), k)
	if err == nil || !strings.Contains(err.Error(), "globex") {
		t.Errorf("signing without globex's key: %v, want an error naming globex", err)
	}
	if len(cs) != 2 {
		t.Fatalf("signed %d checkpoints, want acme's and initech's", len(cs))
	}
	for _, tn := range []string{"acme", "initech"} {
		c, err := l.Latest(t.Context(), tn)
		if err != nil {
			t.Fatal(err)
		}
		opened, err := auditlog.Open(c.Note, k.verifier(tn))
		if err != nil {
			t.Fatalf("%s's checkpoint does not verify: %v", tn, err)
		}
		size := logSize(t, l, tn)
		want := auditlog.Checkpoint{Origin: "audit.example.com/t/" + tn, Size: size, Root: root(t, l, tn, size)}
		if !opened.Equal(want) || !c.Equal(want) {
			t.Errorf("%s's checkpoint = %+v (kept as %+v), want %+v", tn, opened, c.Checkpoint, want)
		}
	}
	k.refuse = ""
	if cs := sign(t, l, k); len(cs) != 1 || cs[0].Origin != "audit.example.com/t/globex" {
		t.Errorf("the next signing = %v, want globex's alone", cs)
	}
	if cs := sign(t, l, k); len(cs) != 0 {
		t.Errorf("signing logs that did not grow = %v", cs)
	}
	w.run(t, threeTenants[:1], false, 2, 1)
	catchUp(t, env, l, w)
	cs = sign(t, l, k)
	if len(cs) != 1 || cs[0].Size != logSize(t, l, "acme") {
		t.Errorf("signing after acme grew = %v", cs)
	}
	all, err := l.Checkpoints(t.Context(), "acme", 0, 10)
	if err != nil || len(all) != 2 || all[0].Size >= all[1].Size {
		t.Errorf("acme's checkpoints = %v, %v", all, err)
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(published)
	want := []string{
		fmt.Sprintf("acme/%d", all[0].Size), fmt.Sprintf("acme/%d", all[1].Size),
		fmt.Sprintf("globex/%d", logSize(t, l, "globex")), fmt.Sprintf("initech/%d", logSize(t, l, "initech")),
	}
	if !slices.Equal(published, want) {
		t.Errorf("published %v, want %v", published, want)
	}
}

func export(tb testing.TB, l *auditlog.Log, tenant string, size int64) *bytes.Buffer {
	tb.Helper()
	var buf bytes.Buffer
	if err := l.Export(tb.Context(), tenant, size, &buf); err != nil {
		tb.Fatalf("export %s at %d: %v", tenant, size, err)
	}
	return &buf
}

func verify(tb testing.TB, buf *bytes.Buffer, key string, saved ...[]byte) *auditlog.Report {
	tb.Helper()
	rep, err := auditlog.Verify(bytes.NewReader(buf.Bytes()), []string{key}, saved...)
	if err != nil {
		tb.Fatalf("verify: %v", err)
	}
	return rep
}

func testExport(t *testing.T, env Env) {
	w := newWorkload(env.Events)
	w.run(t, threeTenants, true, 0, 4)
	l := newLog(t, env, auditlog.WithPageSize(6))
	catchUp(t, env, l, w)
	k := newKeys()
	first := sign(t, l, k)
	w.run(t, threeTenants, false, 4, 2)
	catchUp(t, env, l, w)
	sign(t, l, k)
	for _, tn := range threeTenants {
		var old auditlog.SignedCheckpoint
		for _, c := range first {
			if strings.HasSuffix(c.Origin, "/"+tn) {
				old = c
			}
		}
		rep := verify(t, export(t, l, tn, 0), k.verifier(tn), old.Note)
		if !rep.OK() || rep.Entries != logSize(t, l, tn) || rep.Saved != 1 || rep.Tenant != tn {
			t.Errorf("%s's export: %+v", tn, rep)
		}
		rep = verify(t, export(t, l, tn, old.Size), k.verifier(tn))
		if !rep.OK() || rep.Entries != old.Size {
			t.Errorf("%s's export at its first checkpoint: %+v", tn, rep)
		}
	}
	err := l.Export(t.Context(), "acme", 3, &bytes.Buffer{})
	if !errors.Is(err, auditlog.ErrNotFound) {
		t.Errorf("export at a size never signed: %v, want ErrNotFound", err)
	}
}

func testExportEdited(t *testing.T, env Env) {
	w := newWorkload(env.Events)
	w.run(t, threeTenants, true, 0, 3)
	l := newLog(t, env, auditlog.WithPageSize(4))
	catchUp(t, env, l, w)
	k := newKeys()
	sign(t, l, k)
	events := tenantEvents(t, env.Events, "initech")
	at := int64(editable(t, events, 5))
	victim := events[at]
	edited := bytes.Replace(victim.Data, []byte("Client"), []byte("Cl1ent"), 1)
	env.EditData(t, victim.ID, edited)
	rep := verify(t, export(t, l, "initech", 0), k.verifier("initech"))
	if rep.OK() {
		t.Fatal("an export with an edited event verifies")
	}
	if f := rep.Failures[0]; f.Index != at || f.EventID != victim.ID {
		t.Errorf("the first failure is %v, want leaf %d, event %s", f, at, victim.ID)
	}
	for _, tn := range []string{"acme", "globex"} {
		if rep := verify(t, export(t, l, tn, 0), k.verifier(tn)); !rep.OK() {
			t.Errorf("%s's export fails after an edit of initech's events: %v", tn, rep.Failures)
		}
	}
}

func testExportDeleted(t *testing.T, env Env) {
	w := newWorkload(env.Events)
	w.run(t, threeTenants[:1], true, 0, 2)
	l := newLog(t, env)
	catchUp(t, env, l, w)
	k := newKeys()
	sign(t, l, k)
	// An edit to bytes that no longer decode: the export still names it.
	events := tenantEvents(t, env.Events, "acme")
	victim := events[2]
	env.EditData(t, victim.ID, []byte(`{"not":"an event"`))
	rep := verify(t, export(t, l, "acme", 0), k.verifier("acme"))
	if rep.OK() || rep.Failures[0].EventID != victim.ID || rep.Failures[0].Index != 2 {
		t.Errorf("the export of an event whose bytes no longer decode: %+v", rep.Failures)
	}
}

func testRun(t *testing.T, env Env) {
	k := newKeys()
	l := newLog(t, env, auditlog.WithKeys(k), auditlog.WithSignInterval(time.Second))
	ctx, cancel := context.WithCancel(t.Context())
	wake := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(ctx, wake)
	}()
	w := newWorkload(env.Events)
	w.run(t, threeTenants, true, 0, 2)
	visible(t, env, w)
	wake <- struct{}{}
	for _, tn := range threeTenants {
		want := int64(len(tenantEvents(t, env.Events, tn)))
		poll.Until(t, 10*time.Second, fmt.Sprintf("signing %s's log at size %d", tn, want), func() bool {
			c, err := l.Latest(t.Context(), tn)
			return err == nil && c.Size == want
		})
	}
	cancel()
	<-done
}
