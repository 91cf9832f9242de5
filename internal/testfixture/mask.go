package testfixture

import "github.com/trainerd/trainerd/batch"

// MaskAll sets b's false-negative masks to exclude every pool slot and
// every in-batch column of every example, so no example has a negative
// left.
func MaskAll(b *batch.Batch) {
	B, P := len(b.Query), len(b.Neg)
	b.NegMask, b.NegMaskPtr, b.InMask, b.InMaskPtr = nil, []int32{0}, nil, []int32{0}
	for j := 0; j < B; j++ {
		for s := 0; s < P; s++ {
			b.NegMask = append(b.NegMask, int32(s))
		}
		for k := 0; k < B; k++ {
			if k != j {
				b.InMask = append(b.InMask, int32(k))
			}
		}
		b.NegMaskPtr = append(b.NegMaskPtr, int32(len(b.NegMask)))
		b.InMaskPtr = append(b.InMaskPtr, int32(len(b.InMask)))
	}
}
