package auditlogtest

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/scope"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/aggregate"
	"github.com/clavisiam/clavis/projections/auditlog"
)

// BenchAppend measures appends to the event store from parallel writers
// (each a client registration, as the API appends one), with a Log
// running meanwhile, woken after every append as the node's projector
// wakes it, when withLog is set; compare the two to see what
// logging costs the writers. It reports appends/s, and checks at the end
// that the log holds every event.
func BenchAppend(b *testing.B, env Env, withLog bool) {
	ctx := b.Context()
	tenants := []string{"acme", "globex", "initech"}
	w := newWorkload(env.Events)
	for _, t := range tenants {
		w.createTenant(b, t)
	}
	l := newLog(b, env)
	wake := make(chan struct{}, 1)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	if withLog {
		catchUp(b, env, l, w)
		rctx, cancel := context.WithCancel(ctx)
		wg.Go(func() { l.Run(rctx, wake) })
		wg.Go(func() {
			<-stop
			cancel()
		})
	}
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var n atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			tenant := tenants[i%int64(len(tenants))]
			id := fmt.Sprintf("bench-%d", i)
			s := client.DefaultSettings(client.TypeConfidential)
			s.ClientName, s.Code = fmt.Sprintf("Client %d", i), fmt.Sprintf("urn:%s/bench-%d", tenant, i)
			s.DefaultScopes = []string{scope.OpenID}
			s.RedirectURIs = []string{"https://app.example.com/cb"}
			events, err := client.Register(id, s, scope.NewCatalogue(), &client.Secret{ID: "s1", Hash: "sha256$" + id}, now)
			if err != nil {
				b.Error(err)
				return
			}
			envs, claims, err := aggregate.Envelopes(events, eventstore.Metadata{Actor: "root", OccurredAt: now}, uuid.NewString)
			if err != nil {
				b.Error(err)
				return
			}
			pos, err := env.Events.Append(ctx, eventstore.StreamID{Tenant: tenant, Type: "client", ID: id}, eventstore.NoStream, envs, claims...)
			if err != nil {
				b.Error(err)
				return
			}
			w.done(aggregate.Result{Position: pos})
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(n.Load())/b.Elapsed().Seconds(), "appends/s")
	close(stop)
	wg.Wait()
	if withLog {
		catchUp(b, env, l, w)
		for _, t := range tenants {
			if logged, stored := logSize(b, l, t), int64(len(tenantEvents(b, env.Events, t))); logged != stored {
				b.Errorf("%s's log holds %d events, the store %d", t, logged, stored)
			}
		}
	}
}

// FillTenant appends leaves synthetic entries to one tenant's log in
// store, in pages of 10,000, as fast as the store takes them, and returns
// its tree, kept in memory.
func FillTenant(tb testing.TB, s auditlog.Store, tenant string, leaves int64) (*tree, eventstore.Position) {
	tb.Helper()
	const page = 10_000
	tr := &tree{hashes: make([]tlog.Hash, 0, 2*leaves)}
	var pos eventstore.Position
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	data := json.RawMessage(`{"client_id":"c","settings":{"client_name":"A client"}}`)
	digest := sha256.Sum256(data)
	for first := int64(0); first < leaves; first += page {
		n := min(page, leaves-first)
		l := auditlog.Leaves{Tenant: tenant, First: tlog.StoredHashIndex(0, first), Entries: make([]auditlog.Entry, n)}
		from := pos
		for i := range n {
			k := first + i
			pos = eventstore.Position{Commit: uint64(k + 1), Seq: k + 1}
			e := auditlog.Entry{Index: k, ID: fmt.Sprintf("evt-%09d", k),
				Stream:  eventstore.StreamID{Tenant: tenant, Type: "client", ID: fmt.Sprintf("c%d", k%5000)},
				Version: k/5000 + 1, Type: "client.updated", Schema: 1, Data: data, DataDigest: digest,
				Meta:       eventstore.Metadata{Actor: "root", OccurredAt: at},
				RecordedAt: at, Position: pos}
			l.Entries[i] = e
			l.Hashes = append(l.Hashes, tr.add(e.LeafHash())...)
		}
		if err := s.Append(tb.Context(), from, pos, []auditlog.Leaves{l}); err != nil {
			tb.Fatalf("fill leaves %d to %d: %v", first, first+n-1, err)
		}
	}
	return tr, pos
}

// BenchProofs measures inclusion and consistency proofs, and roots, in
// a log of leaves leaves of one tenant, each at a random place, and
// reports their median and 99th percentile latency. The tree is filled
// directly through the store ([FillTenant]); the proofs are checked
// against the tree kept in memory.
func BenchProofs(b *testing.B, env Env, leaves int64) {
	start := time.Now()
	tr, _ := FillTenant(b, env.Store, "acme", leaves)
	b.Logf("filled %d leaves in %s", leaves, time.Since(start).Round(time.Millisecond))
	l := newLog(b, env)
	ctx := b.Context()
	rng := rand.New(rand.NewPCG(1, 2))
	roots := map[int64]tlog.Hash{}
	rootOf := func(n int64) tlog.Hash {
		if h, ok := roots[n]; ok {
			return h
		}
		h := tr.root(b, n)
		roots[n] = h
		return h
	}
	report := func(b *testing.B, d []time.Duration) {
		slices.Sort(d)
		b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(d[len(d)*99/100].Microseconds())/1000, "p99-ms")
	}
	b.Run("inclusion", func(b *testing.B) {
		var d []time.Duration
		for b.Loop() {
			size := leaves/2 + rng.Int64N(leaves/2+1)
			index := rng.Int64N(size)
			t0 := time.Now()
			leaf, p, err := l.ProveInclusion(ctx, "acme", index, size)
			d = append(d, time.Since(t0))
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if err := tlog.CheckRecord(p, size, rootOf(size), index, leaf); err != nil {
				b.Fatalf("inclusion of %d in %d: %v", index, size, err)
			}
			b.StartTimer()
		}
		report(b, d)
	})
	b.Run("consistency", func(b *testing.B) {
		var d []time.Duration
		for b.Loop() {
			to := leaves/2 + rng.Int64N(leaves/2+1)
			from := 1 + rng.Int64N(to)
			t0 := time.Now()
			p, err := l.ProveConsistency(ctx, "acme", from, to)
			d = append(d, time.Since(t0))
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if err := tlog.CheckTree(p, to, rootOf(to), from, rootOf(from)); err != nil {
				b.Fatalf("consistency of %d with %d: %v", from, to, err)
			}
			b.StartTimer()
		}
		report(b, d)
	})
	b.Run("root", func(b *testing.B) {
		var d []time.Duration
		for b.Loop() {
			size := 1 + rng.Int64N(leaves)
			t0 := time.Now()
			_, err := l.Root(ctx, "acme", size)
			d = append(d, time.Since(t0))
			if err != nil {
				b.Fatal(err)
			}
		}
		report(b, d)
	})
}
