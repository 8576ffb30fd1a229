package guess

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// BenchmarkMemoryPerFailure measures what the limiter keeps for failures
// from sources and against clients it has not seen yet, the worst case
// an attacker can make: IPv6 sources (each a /64 of its own), client ids
// of the longest length kept as they are, a new source and client every
// time. Each failure adds a key to each of the three maps until they
// hold MaxEntries; heap-B/key is the heap after a collection per key
// kept, and heap-MB all of it, which stays bounded past MaxEntries.
//
//	go test -run '^$' -bench MemoryPerFailure -benchtime 100000x ./http/guess/
func BenchmarkMemoryPerFailure(b *testing.B) {
	g, err := New()
	if err != nil {
		b.Fatal(err)
	}
	id := strings.Repeat("c", maxIDKey-8)
	before := heapInUse()
	b.ResetTimer()
	for i := range b.N {
		g.Fail(fmt.Sprintf("[2001:db8:%x:%x::1]:443", i>>16, i&0xffff), Client{Tenant: "acme-corporation", ID: fmt.Sprintf("%s%08x", id, i)})
	}
	b.StopTimer()
	after := heapInUse()
	b.ReportMetric(float64(after-before)/float64(3*min(b.N, MaxEntries)), "heap-B/key")
	b.ReportMetric(float64(after-before)/(1<<20), "heap-MB")
	runtime.KeepAlive(g)
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
