//go:build unix

package console_test

import (
	"syscall"
	"time"
)

// processCPU is the CPU time the process has used so far, user and
// system, and true; [BenchmarkPages] reports it per request, a figure
// that other work on the machine inflates far less than the wall clock.
func processCPU() (time.Duration, bool) {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0, false
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano()), true
}
