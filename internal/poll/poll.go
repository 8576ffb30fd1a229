// Package poll waits in tests for something that happens in the
// background: it checks a condition every few milliseconds until it
// holds or a deadline passes, instead of sleeping for a fixed time that
// is too long on a fast machine and too short on a loaded one.
package poll

import (
	"testing"
	"time"
)

// interval is how long Until waits between two checks.
const interval = 5 * time.Millisecond

// Until checks cond until it returns true, and returns how long that
// took. When within passes first, it fails tb, saying that what did not
// happen.
func Until(tb testing.TB, within time.Duration, what string, cond func() bool) time.Duration {
	tb.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			tb.Fatalf("%s did not happen within %s", what, within)
		}
		time.Sleep(interval)
	}
	return time.Since(start)
}

// UntilNil checks cond until it returns nil, and returns how long that
// took. When within passes first, it fails tb with cond's last error.
func UntilNil(tb testing.TB, within time.Duration, cond func() error) time.Duration {
	tb.Helper()
	start := time.Now()
	for {
		err := cond()
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > within {
			tb.Fatalf("still after %s: %v", within, err)
		}
		time.Sleep(interval)
	}
}
