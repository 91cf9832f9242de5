//go:build !cuda

package consumer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// kernelMatrix returns rows×w float32s with positives, negatives, +0, -0
// and tiny values (the sign-bit kernels' edge cases).
func kernelMatrix(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		switch r.IntN(6) {
		case 0:
			x[i] = 0
		case 1:
			x[i] = float32(math.Copysign(0, -1))
		case 2:
			x[i] = -math.SmallestNonzeroFloat32
		default:
			x[i] = float32(r.NormFloat64())
		}
	}
	return x
}

// TestConvKernelsAVX2: the AVX2 kernels give the bits of the Go loops
// (reluGrad then colSum; the bias add then relu) on every width they take
// and on the row counts of a block's edge.
func TestConvKernelsAVX2(t *testing.T) {
	if !hasConvAVX2() {
		t.Skip("no AVX2 kernels on this CPU or build")
	}
	r := rand.New(rand.NewPCG(7, 8))
	for _, w := range []int{8, 32, 64, 128, 192} {
		for _, rows := range []int{0, 1, 3, 256} {
			t.Run(fmt.Sprintf("w=%d/rows=%d", w, rows), func(t *testing.T) {
				y, g := kernelMatrix(r, rows*w), kernelMatrix(r, rows*w)
				if w%32 == 0 {
					wantG, wantS := slices.Clone(g), make([]float32, w)
					reluGrad(wantG, y)
					colSum(wantS, wantG, rows)
					gotS := kernelMatrix(r, w) // overwritten
					reluGradColSum(gotS, g, y)
					if !bitsEqual(wantG, g) || !bitsEqual(wantS, gotS) {
						t.Errorf("reluGradColSum differs from reluGrad+colSum")
					}
				}
				b := kernelMatrix(r, w)
				for _, act := range []bool{false, true} {
					want := slices.Clone(y)
					for i := range want {
						want[i] += b[i%w]
					}
					if act {
						relu(want)
					}
					got := slices.Clone(y)
					addBias(got, b, act)
					if !bitsEqual(want, got) {
						t.Errorf("addBias(act=%v) differs from the Go loop", act)
					}
				}
			})
		}
	}
}

func bitsEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}
