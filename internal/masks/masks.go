// Package masks validates the per-example collision masks that producer
// batches carry and the losses consume: CSR lists, one per example, of
// columns that must not count as that example's negatives.
package masks

import "fmt"

// Check validates the mask named name over B examples with columns in
// [0, n): a nil ptr means no mask (and then mask must be empty); otherwise
// ptr has B+1 non-decreasing offsets from 0 to len(mask). Repeated entries
// are allowed. With noDiag, example j may not name column j (its own
// positive, for in-batch masks).
func Check(name string, mask, ptr []int32, B, n int, noDiag bool) error {
	if ptr == nil {
		if len(mask) != 0 {
			return fmt.Errorf("%s has %d entries but no %sPtr", name, len(mask), name)
		}
		return nil
	}
	if len(ptr) != B+1 {
		return fmt.Errorf("%sPtr has %d entries, want B+1 = %d", name, len(ptr), B+1)
	}
	if ptr[0] != 0 || int(ptr[B]) != len(mask) {
		return fmt.Errorf("%sPtr runs from %d to %d, want 0 to len(%s) = %d", name, ptr[0], ptr[B], name, len(mask))
	}
	for j := 0; j < B; j++ {
		if ptr[j+1] < ptr[j] || int(ptr[j+1]) > len(mask) {
			return fmt.Errorf("%sPtr[%d] = %d after %d: want non-decreasing offsets within len(%s) = %d", name, j+1, ptr[j+1], ptr[j], name, len(mask))
		}
		for _, c := range mask[ptr[j]:ptr[j+1]] {
			if c < 0 || int(c) >= n {
				return fmt.Errorf("%s of example %d names column %d, outside [0, %d)", name, j, c, n)
			}
			if noDiag && int(c) == j {
				return fmt.Errorf("%s of example %d names its own positive", name, j)
			}
		}
	}
	return nil
}
