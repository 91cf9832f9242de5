package cuda

// This file has no build tag (it needs no CUDA), so its test runs without a
// GPU; the tagged models call checkBatchMasks before uploading a batch.

import (
	"fmt"

	"github.com/trainerd/trainerd/producer"
)

// checkBatchMasks validates b's collision masks as consumer/loss does
// before the GPU uses them as indices: NegMask/NegMaskPtr over the pool
// (columns in [0, len(Neg))) and, when inBatch, InMask/InMaskPtr over the
// examples (columns in [0, B), never the example itself); masks the loss
// ignores (InMask without inBatch) are not checked. A nil pointer list
// means no mask. The error names the batch.
func checkBatchMasks(b *producer.Batch, inBatch bool) error {
	B := len(b.Query)
	if err := checkMask("NegMask", b.NegMask, b.NegMaskPtr, B, len(b.Neg), false); err != nil {
		return fmt.Errorf("batch %d/%d: %w", b.Epoch, b.Index, err)
	}
	if inBatch {
		if err := checkMask("InMask", b.InMask, b.InMaskPtr, B, B, true); err != nil {
			return fmt.Errorf("batch %d/%d: %w", b.Epoch, b.Index, err)
		}
	}
	return nil
}

// checkMask validates one CSR mask over B examples with columns in [0, n)
// (consumer/loss's rules: B+1 non-decreasing offsets from 0 to len(mask);
// repeated entries are allowed).
func checkMask(name string, mask, ptr []int32, B, n int, noDiag bool) error {
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
			return fmt.Errorf("%sPtr decreases or passes len(%s) = %d at example %d (%d, %d)", name, name, len(mask), j, ptr[j], ptr[j+1])
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
