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
)

// BenchmarkHeapPerEntry measures what an entry of a key-value bucket
// costs the heap of a node whose NATS server is embedded (the default):
// the server indexes every subject it stores in memory, in the node's
// heap, which the collector then marks on every cycle. Entries kept
// until the bucket's TTL cost a few hundred bytes each; entries given
// their own TTL (or purged with a marker TTL) cost nothing once gone.
// It reports heap-B/entry (the heap after a collection, per entry, once
// the entries with their own TTL have expired) and gc-ns (the time of
// one collection then).
//
//	go test -run '^$' -bench HeapPerEntry -benchtime 100000x ./http/oauth/bucket/
func BenchmarkHeapPerEntry(b *testing.B) {
	for _, bc := range []struct {
		name string
		ttl  time.Duration // an entry's own TTL; 0: the bucket's (an hour)
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
			cfg := jetstream.KeyValueConfig{Bucket: "HEAP", TTL: time.Hour, History: 1, MaxBytes: 1 << 30}
			var opts []jetstream.KVCreateOpt
			if bc.ttl > 0 {
				cfg.LimitMarkerTTL = time.Second
				opts = append(opts, jetstream.KeyTTL(bc.ttl))
			}
			kv, err := js.CreateKeyValue(b.Context(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			value := make([]byte, 300)
			id := make([]byte, 16)
			before := heapAfterGC()
			b.ResetTimer()
			for range b.N {
				_, _ = rand.Read(id)
				if _, err := kv.Create(b.Context(), "acme.flow."+hex.EncodeToString(id), value, opts...); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if bc.ttl > 0 {
				time.Sleep(bc.ttl + 3*time.Second) // expired, and the markers too
			}
			after := heapAfterGC()
			start := time.Now()
			runtime.GC()
			b.ReportMetric(float64(time.Since(start).Nanoseconds()), "gc-ns")
			b.ReportMetric((float64(after)-float64(before))/float64(b.N), "heap-B/entry")
		})
	}
}

func heapAfterGC() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
