package testfixture

import (
	"syscall"
	"time"
)

// CPUTime is the process's user plus system CPU time so far (0 when the
// system does not say). Benchmarks report it per step: on a shared machine
// it moves less with the load than wall time.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
