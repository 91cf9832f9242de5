package parallel

import (
	"sync/atomic"
	"testing"
)

func TestChunks(t *testing.T) {
	tests := []struct{ n, threads, minN, wantCalls int }{
		{0, 4, 0, 1}, {10, 1, 0, 1}, {10, 4, 0, 4}, {10, 4, 64, 1}, {7, 3, 0, 3}, {3, 8, 0, 3},
	}
	for _, tc := range tests {
		seen := make([]atomic.Int32, tc.n)
		var calls atomic.Int32
		Chunks(tc.n, tc.threads, tc.minN, func(lo, hi int) {
			calls.Add(1)
			for i := lo; i < hi; i++ {
				seen[i].Add(1)
			}
		})
		if int(calls.Load()) != tc.wantCalls {
			t.Errorf("%+v: %d calls, want %d", tc, calls.Load(), tc.wantCalls)
		}
		for i := range seen {
			if seen[i].Load() != 1 {
				t.Fatalf("%+v: index %d visited %d times", tc, i, seen[i].Load())
			}
		}
	}
}
