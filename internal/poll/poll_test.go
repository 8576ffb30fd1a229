package poll_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clavisiam/clavis/internal/poll"
)

func TestUntilReturnsOnceTheConditionHolds(t *testing.T) {
	var calls atomic.Int32
	poll.Until(t, time.Second, "the third check", func() bool { return calls.Add(1) == 3 })
	if got := calls.Load(); got != 3 {
		t.Errorf("cond called %d times, want 3", got)
	}
}

func TestUntilNilReturnsOnceTheConditionHolds(t *testing.T) {
	var calls atomic.Int32
	poll.UntilNil(t, time.Second, func() error {
		if calls.Add(1) < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if got := calls.Load(); got != 3 {
		t.Errorf("cond called %d times, want 3", got)
	}
}

// failRecorder is a testing.TB that records Fatalf instead of ending the
// test, so that a failing wait can be checked.
type failRecorder struct {
	testing.TB
	failed string
}

func (f *failRecorder) Helper() {}

func (f *failRecorder) Fatalf(format string, args ...any) {
	f.failed = format
	panic(f)
}

func TestUntilFailsAtTheDeadline(t *testing.T) {
	for name, wait := range map[string]func(tb testing.TB){
		"Until": func(tb testing.TB) { poll.Until(tb, 20*time.Millisecond, "never", func() bool { return false }) },
		"UntilNil": func(tb testing.TB) {
			poll.UntilNil(tb, 20*time.Millisecond, func() error { return errors.New("never") })
		},
	} {
		t.Run(name, func(t *testing.T) {
			rec := &failRecorder{TB: t}
			func() {
				defer func() {
					if r := recover(); r != nil && r != rec {
						panic(r)
					}
				}()
				wait(rec)
			}()
			if rec.failed == "" {
				t.Error("the wait returned instead of failing")
			}
		})
	}
}
