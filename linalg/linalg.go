// Package linalg holds the dense matrix kernels trainerd's CPU consumer,
// evaluator and server use: single-precision GEMM on OpenBLAS when the
// library is installed, else on gonum's pure-Go BLAS.
//
// The default build needs no C toolchain: OpenBLAS is opened at run time
// through purego (dlopen, as cuda/probe opens libcuda), trying
// libopenblas.so.0, libopenblas.so and the 64-bit-integer builds in turn.
// When none opens, gonum's GEMM is used and one log line says so. The
// environment variable TRAINERD_BLAS overrides the search: "gonum" forces
// gonum, any other value except "auto" is the only library tried (a path or
// a soname), and "cblas" selects OpenBLAS linked through cgo, which only
// binaries built with the build tag cblas contain. The build tag noopenblas
// makes gonum the only backend.
//
// OpenBLAS reads its kernel family from OPENBLAS_CORETYPE (Haswell on the
// project's machines, on purpose) and its thread count from
// OPENBLAS_NUM_THREADS when the library is opened; SetThreads changes the
// thread count afterwards.
package linalg

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// Sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices, where
// op(X) is X or Xᵀ per transA/transB; op(A) is m×k, op(B) is k×n, C is m×n.
// It runs on the process's backend (Default). It panics when a buffer is
// too small for the shapes.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	Default().Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Dgemm is Sgemm in double precision.
func Dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	Default().Dgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// SetThreads sets the number of threads the process's backend uses for one
// call (OpenBLAS's openblas_set_num_threads; gonum ignores it). trainerd
// parallelises over goroutines itself, so 1 is usually best: idle OpenBLAS
// worker threads spin in sched_yield beside the producers.
func SetThreads(n int) { Default().SetThreads(n) }

// Backend names the process's backend: "openblas" (through purego),
// "openblas-cgo" or "gonum".
func Backend() string { return Default().Name() }

// Implementation is a complete gonum blas.Float32/Float64 implementation
// whose Sgemm and Dgemm run on the process's backend; everything else is
// gonum's. Hand it to gorgonia.Use so gorgonia's Mul nodes get the fast GEMM.
type Implementation struct {
	gonum.Implementation
}

// Sgemm implements blas.Float32Level3 on the process's backend.
func (Implementation) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	Sgemm(tA != blas.NoTrans, tB != blas.NoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Dgemm implements blas.Float64Level3 on the process's backend.
func (Implementation) Dgemm(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	Dgemm(tA != blas.NoTrans, tB != blas.NoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
