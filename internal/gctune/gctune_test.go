package gctune

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/clavisiam/clavis/internal/poll"
)

func TestGCPercentFor(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		live, headroom uint64
		want           int
	}{
		{0, 128 * mib, 400},
		{10 * mib, 128 * mib, 400},
		{32 * mib, 128 * mib, 400},
		{64 * mib, 128 * mib, 200},
		{100 * mib, 128 * mib, 128},
		{128 * mib, 128 * mib, 100},
		{2000 * mib, 128 * mib, 100},
	} {
		if got := gcPercentFor(tc.live, tc.headroom); got != tc.want {
			t.Errorf("gcPercentFor(%d MiB, %d MiB) = %d, want %d", tc.live/mib, tc.headroom/mib, got, tc.want)
		}
	}
}

// TestGCTunerFollowsLiveHeap runs the tuner on this test binary's own
// heap: a live heap four times the headroom brings GOGC down to 100,
// and once that is garbage it rises again.
func TestGCTunerFollowsLiveHeap(t *testing.T) {
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	tuner := &gcTuner{headroom: 64 << 20}
	tuner.tune()
	tuner.arm()
	defer tuner.stopped.Store(true)

	gogc := func() uint64 {
		s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	waitFor := func(what string, ok func(uint64) bool) {
		t.Helper()
		poll.UntilNil(t, 10*time.Second, func() error {
			if p := gogc(); !ok(p) {
				runtime.GC()
				return fmt.Errorf("GOGC is %d; wanted it %s", p, what)
			}
			return nil
		})
	}
	live := make([]byte, 256<<20) // never touched: no resident memory
	waitFor("at 100 with 256 MiB live", func(p uint64) bool { return p == 100 })
	runtime.KeepAlive(live)
	live = nil
	waitFor("above 100 once that was garbage", func(p uint64) bool { return p > 100 })
}
