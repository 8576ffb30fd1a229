// Package gctune keeps the garbage collector's headroom near a fixed size
// while a process runs: the server and the load generator, which both
// allocate briskly on a live heap whose size depends on the node.
package gctune

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// The garbage collector's target while serving.
//
// The token path allocates briskly (some 9 KB a token) on a live heap
// that is small on a node with few clients (tens of MB) and larger on
// one with many (some 160 MB with 100,000 clients cached). What a
// collection costs the requests depends on the headroom, how much may be
// allocated between two collections, and GOGC fixes that as a multiple
// of the live heap: the default 100 collected so often on a small node
// that at 64 connections it cost a quarter of the requests (clavis-bench
// token, 7,600 → 10,000 requests/s at 400), while 400 on a node with
// 100,000 clients let its heap grow to 800 MB.
//
// So serve keeps the headroom near gcHeadroom instead: GOGC is 400 while
// the live heap is under a quarter of it, falls as the heap grows, and
// is never below the default 100 (BenchmarkServerMemory).
const (
	gcHeadroom   = 128 << 20
	gcMinPercent = 100
	gcMaxPercent = 400
)

// gcPercentFor is the GOGC that gives a live heap of live bytes
// headroom bytes to allocate, within [gcMinPercent, gcMaxPercent].
func gcPercentFor(live, headroom uint64) int {
	if live == 0 {
		return gcMaxPercent
	}
	return int(min(max(headroom*100/live, gcMinPercent), gcMaxPercent))
}

// Start sets the collector's target for serve (and for the load
// generator, which allocates alike) unless getenv says GOGC is set.
// It returns a function that stops the tuning, leaving GOGC as it is.
func Start(getenv func(string) string) (stop func()) {
	if getenv("GOGC") != "" {
		return func() {}
	}
	t := &gcTuner{headroom: gcHeadroom}
	t.tune()
	t.arm()
	return func() { t.stopped.Store(true) }
}

// gcTuner sets GOGC after every collection from the live heap that
// collection left (gcPercentFor).
type gcTuner struct {
	headroom uint64
	stopped  atomic.Bool
	percent  int // what it set last; read and written by one goroutine at a time
}

// arm makes the runtime call the tuner when the next collection has
// ended: a cleanup of an object nothing refers to runs after the
// collection that found it unreachable. The object is larger than the
// runtime's tiny allocations, whose cleanups may never run.
func (t *gcTuner) arm() {
	runtime.AddCleanup(new([64]byte), func(t *gcTuner) {
		if !t.stopped.Load() {
			t.tune()
			t.arm()
		}
	}, t)
}

func (t *gcTuner) tune() {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return // not this runtime's metric: GOGC stays as it is
	}
	if p := gcPercentFor(s[0].Value.Uint64(), t.headroom); p != t.percent {
		debug.SetGCPercent(p)
		t.percent = p
	}
}
