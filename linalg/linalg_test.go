package linalg

import (
	"math"
	"math/rand/v2"
	"testing"
)

func naive(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				av := a[i*lda+p]
				if transA {
					av = a[p*lda+i]
				}
				bv := b[p*ldb+j]
				if transB {
					bv = b[j*ldb+p]
				}
				s += float64(av) * float64(bv)
			}
			c[i*ldc+j] = alpha*float32(s) + beta*c[i*ldc+j]
		}
	}
}

func TestSgemm(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		m, n, k int
		tA, tB  bool
	}{{3, 4, 5, false, false}, {7, 2, 9, true, false}, {5, 6, 3, false, true}, {8, 8, 8, true, true}, {1, 1, 1, false, false}, {64, 33, 17, false, true}} {
		ar, ac := tc.m, tc.k
		if tc.tA {
			ar, ac = tc.k, tc.m
		}
		br, bc := tc.k, tc.n
		if tc.tB {
			br, bc = tc.n, tc.k
		}
		a, b := make([]float32, ar*ac), make([]float32, br*bc)
		for i := range a {
			a[i] = r.Float32()*2 - 1
		}
		for i := range b {
			b[i] = r.Float32()*2 - 1
		}
		c, want := make([]float32, tc.m*tc.n), make([]float32, tc.m*tc.n)
		for i := range c {
			c[i] = r.Float32()
			want[i] = c[i]
		}
		Sgemm(tc.tA, tc.tB, tc.m, tc.n, tc.k, 1.5, a, ac, b, bc, 0.5, c, tc.n)
		naive(tc.tA, tc.tB, tc.m, tc.n, tc.k, 1.5, a, ac, b, bc, 0.5, want, tc.n)
		for i := range c {
			if math.Abs(float64(c[i]-want[i])) > 1e-4 {
				t.Fatalf("%+v: c[%d]=%v want %v (backend %s)", tc, i, c[i], want[i], Backend)
			}
		}
	}
}

func TestSgemmShapePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("want panic on short buffer")
		}
	}()
	Sgemm(false, false, 2, 2, 2, 1, make([]float32, 3), 2, make([]float32, 4), 2, 0, make([]float32, 4), 2)
}

func BenchmarkSgemm512x256x256(b *testing.B) {
	m, n, k := 512, 256, 256
	a, bb, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	for i := range a {
		a[i] = float32(i%7) + 0.5
	}
	for i := range bb {
		bb[i] = float32(i%5) + 0.25
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Sgemm(false, false, m, n, k, 1, a, k, bb, n, 0, c, n)
	}
	b.ReportMetric(float64(2*m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
