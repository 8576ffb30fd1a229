//go:build !unix

package console_test

import "time"

// processCPU reports false: this system has no getrusage.
func processCPU() (time.Duration, bool) { return 0, false }
