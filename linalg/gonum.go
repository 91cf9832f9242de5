package linalg

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// Gonum returns the pure-Go backend (gonum's Sgemm and Dgemm).
func Gonum() *BLAS {
	return &BLAS{
		name: "gonum",
		sgemm: func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
			gonum.Implementation{}.Sgemm(bt(transA), bt(transB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		},
		dgemm: func(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
			gonum.Implementation{}.Dgemm(bt(transA), bt(transB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		},
	}
}

func bt(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}
