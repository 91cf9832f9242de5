package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 1, 7, 8, 9, 63, 64, 65, 192, 200} {
		x, y := make([]float32, n), make([]float32, n+3) // y longer than x: the extra must stay
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		for i := range y {
			y[i] = float32(rng.NormFloat64())
		}
		a := float32(rng.NormFloat64())
		for _, tc := range []struct {
			name string
			run  func(y []float32)
			want func(y, x float32) float32
			fma  bool
		}{
			{"Add", func(y []float32) { Add(y, x) }, func(y, x float32) float32 { return y + x }, false},
			{"Axpy", func(y []float32) { Axpy(y, a, x) }, func(y, x float32) float32 { return y + a*x }, true},
		} {
			got := append([]float32(nil), y...)
			tc.run(got)
			for i := range got {
				want := y[i]
				if i < n {
					want = tc.want(y[i], x[i])
				}
				if got[i] != want && !(tc.fma && goFusesFMA && math.Abs(float64(got[i]-want)) < 1e-5) {
					t.Fatalf("%s n %d element %d: got %v want %v", tc.name, n, i, got[i], want)
				}
			}
		}
	}
}

// BenchmarkAxpy compares the kernel with the plain Go loop on one 64-wide
// row (the consumer's common width) in the same process.
func BenchmarkAxpy(b *testing.B) {
	x, y := make([]float32, 64), make([]float32, 64)
	for i := range x {
		x[i] = float32(i)
	}
	b.Run("vec", func(b *testing.B) {
		for b.Loop() {
			Axpy(y, 1e-9, x)
		}
	})
	b.Run("go", func(b *testing.B) {
		for b.Loop() {
			yy := y[:len(x)]
			for i, v := range x {
				yy[i] += 1e-9 * v
			}
		}
	})
}
