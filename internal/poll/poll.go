// Package poll waits in tests for something that happens in the
// background: it checks a condition, at growing intervals up to 50 ms,
// until it holds or a deadline passes, instead of sleeping for a fixed
// time that is too long on a fast machine and too short on a loaded one.
package poll

import (
	"testing"
	"time"
)

// The wait between two checks starts short, so that what happens at
// once is seen at once, and doubles up to maxInterval, so that a long
// wait does not keep a busy machine busier.
const (
	firstInterval = time.Millisecond
	maxInterval   = 50 * time.Millisecond
)

// backoff returns the wait after one of d.
func backoff(d time.Duration) time.Duration { return min(2*d, maxInterval) }

// Until checks cond until it returns true, and returns how long that
// took. When within passes first, it fails tb, saying that what did not
// happen.
func Until(tb testing.TB, within time.Duration, what string, cond func() bool) time.Duration {
	tb.Helper()
	start := time.Now()
	for wait := firstInterval; !cond(); wait = backoff(wait) {
		if time.Since(start) > within {
			tb.Fatalf("%s did not happen within %s", what, within)
		}
		time.Sleep(wait)
	}
	return time.Since(start)
}

// UntilNil checks cond until it returns nil, and returns how long that
// took. When within passes first, it fails tb with cond's last error.
func UntilNil(tb testing.TB, within time.Duration, cond func() error) time.Duration {
	tb.Helper()
	start := time.Now()
	for wait := firstInterval; ; wait = backoff(wait) {
		err := cond()
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > within {
			tb.Fatalf("still after %s: %v", within, err)
		}
		time.Sleep(wait)
	}
}
