package bucket_test

import (
	"crypto/rand"
	"encoding/hex"
	"runtime"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/clavisiam/clavis/eventstore/natsserver"
	"github.com/clavisiam/clavis/http/oauth"
	"github.com/clavisiam/clavis/http/oauth/bucket"
)

// BenchmarkHeapPerEntry measures what an entry of a grant bucket costs
// the heap of a node whose NATS server is embedded (the default): the
// server indexes every subject it stores in memory, in the node's heap,
// which the collector then marks on every cycle. Entries kept until the
// bucket's TTL (an hour: a code's bucket) cost a few hundred bytes each;
// entries written with their own expiry ([bucket.Grants] on a server
// with per-message TTLs) cost nothing once gone. It reports
// heap-B/entry (the heap after a collection, per entry, once the
// entries with their own expiry have expired) and gc-ns (the time of
// one collection then).
//
//	go test -run '^$' -bench HeapPerEntry -benchtime 100000x ./http/oauth/bucket/
func BenchmarkHeapPerEntry(b *testing.B) {
	for _, bc := range []struct {
		name string
		ttl  time.Duration // an entry's own expiry; 0: the bucket's TTL
	}{{"kept until the bucket TTL", 0}, {"own TTL", 2 * time.Second}} {
		b.Run(bc.name, func(b *testing.B) {
			ns, err := natsserver.Start(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer ns.Shutdown()
			nc, err := nats.Connect("", nats.InProcessServer(ns))
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			js, _ := jetstream.New(nc)
			g := bucket.NewGrants(js, "HEAP", 1, 1<<30)
			value := make([]byte, 300)
			id := make([]byte, 16)
			before := heapAfterGC()
			b.ResetTimer()
			for range b.N {
				_, _ = rand.Read(id)
				var expires time.Time
				if bc.ttl > 0 {
					expires = time.Now().Add(bc.ttl)
				}
				if _, err := g.Create(b.Context(), oauth.LifeFlow, "acme.ac."+hex.EncodeToString(id), value, expires); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if bc.ttl > 0 {
				// Expired, and then a few seconds for the server to drop
				// its caches of the blocks written.
				s, err := js.Stream(b.Context(), "KV_HEAP_FLOWS")
				if err != nil {
					b.Fatal(err)
				}
				for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
					info, err := s.Info(b.Context())
					if err != nil {
						b.Fatal(err)
					}
					if info.State.Msgs == 0 {
						break
					}
					if time.Now().After(deadline) {
						b.Fatalf("%d entries left 30 s after their expiry", info.State.Msgs)
					}
				}
				time.Sleep(6 * time.Second)
			}
			after := heapAfterGC()
			start := time.Now()
			runtime.GC()
			b.ReportMetric(float64(time.Since(start).Nanoseconds()), "gc-ns")
			b.ReportMetric((float64(after)-float64(before))/float64(b.N), "heap-B/entry")
		})
	}
}

// heapAfterGC is the heap in use after two collections: what pools keep
// (the server's buffers) goes at the second.
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
