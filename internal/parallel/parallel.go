// Package parallel holds the fixed-partition loop the CPU kernels share:
// [0,n) split into at most `threads` contiguous chunks whose bounds depend
// only on n and threads, so that a kernel writing disjoint rows gives the
// same bits whatever the goroutine scheduling.
package parallel

import "sync"

// Chunks runs f over [0,n) in at most threads contiguous chunks, in
// parallel, and waits for all of them. With threads ≤ 1 or n below minN it
// runs f(0, n) on the calling goroutine.
func Chunks(n, threads, minN int, f func(lo, hi int)) {
	if threads <= 1 || n < minN || n <= 1 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + threads - 1) / threads
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	wg.Wait()
}
