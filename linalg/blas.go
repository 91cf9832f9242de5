package linalg

// BLAS is one GEMM backend. Its zero value is not usable: get one from
// Default, Gonum, Open or Linked. A BLAS is immutable and safe for
// concurrent use.
type BLAS struct {
	name string
	// lib is the library the backend calls ("" for gonum).
	lib   string
	sgemm func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)
	dgemm func(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int)
	// threads is nil when the backend has no thread setting.
	threads func(n int)
	// getThreads reports the thread count (nil when unknown).
	getThreads func() int
	// config is the library's own description (openblas_get_config).
	config string
}

// Config is the library's description of itself, e.g. OpenBLAS's
// "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64"; empty
// for gonum.
func (b *BLAS) Config() string { return b.config }

// Threads is the number of threads one call of b uses: OpenBLAS's
// openblas_get_num_threads, 0 when the backend does not say (gonum).
func (b *BLAS) Threads() int {
	if b.getThreads == nil {
		return 0
	}
	return b.getThreads()
}

// Name is "openblas" (OpenBLAS through purego), "openblas-cgo" (linked
// through cgo) or "gonum".
func (b *BLAS) Name() string { return b.name }

// Library is the library b calls, as it was opened ("libopenblas.so.0"),
// or "" for gonum.
func (b *BLAS) Library() string { return b.lib }

// Sgemm computes C = alpha·op(A)·op(B) + beta·C on b; see the package-level
// Sgemm.
func (b *BLAS) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, bb []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	checkGemm(transA, transB, m, n, k, len(a), lda, len(bb), ldb, len(c), ldc)
	b.sgemm(transA, transB, m, n, k, alpha, a, lda, bb, ldb, beta, c, ldc)
}

// Dgemm is Sgemm in double precision.
func (b *BLAS) Dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, bb []float64, ldb int, beta float64, c []float64, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	checkGemm(transA, transB, m, n, k, len(a), lda, len(bb), ldb, len(c), ldc)
	b.dgemm(transA, transB, m, n, k, alpha, a, lda, bb, ldb, beta, c, ldc)
}

// SetThreads sets the number of threads one call of b uses (at least 1);
// a no-op for gonum, which splits large products over goroutines itself.
func (b *BLAS) SetThreads(n int) {
	if b.threads != nil {
		b.threads(max(n, 1))
	}
}
