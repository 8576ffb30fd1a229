//go:build unix

package oauth_test

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time the process has used so far, on every thread:
// what a benchmark's requests cost the node, its in-process NATS server
// included.
func cpuTime() time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}
