// Package linalg holds the dense matrix kernels trainerd's CPU consumer and
// evaluator use: single-precision GEMM through OpenBLAS (cgo) by default, or
// gonum's pure-Go BLAS under the build tag noopenblas.
//
// OpenBLAS is several times faster than gonum's GEMM (docs/benchmarks.md).
// Its kernel family follows OPENBLAS_CORETYPE (Haswell on the project's
// machines, on purpose) and its thread count OPENBLAS_NUM_THREADS.
package linalg

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// Sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices, where
// op(X) is X or Xᵀ per transA/transB; op(A) is m×k, op(B) is k×n, C is m×n.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Implementation is a complete gonum blas.Float32/Float64 implementation
// whose Sgemm and Dgemm run on the package's backend; everything else is
// gonum's. Hand it to gorgonia.Use so gorgonia's Mul nodes get the fast GEMM.
type Implementation struct {
	gonum.Implementation
}

// Sgemm implements blas.Float32Level3 on the package backend.
func (Implementation) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	Sgemm(tA != blas.NoTrans, tB != blas.NoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Dgemm implements blas.Float64Level3 on the package backend.
func (Implementation) Dgemm(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	dgemm(tA != blas.NoTrans, tB != blas.NoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
