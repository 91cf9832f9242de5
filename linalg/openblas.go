//go:build !noopenblas

package linalg

/*
#cgo LDFLAGS: -lopenblas
#include <cblas.h>
void openblas_set_num_threads(int);
*/
import "C"

import "unsafe"

// Backend names the GEMM implementation compiled in.
const Backend = "openblas"

func trans(t bool) C.enum_CBLAS_TRANSPOSE {
	if t {
		return C.CblasTrans
	}
	return C.CblasNoTrans
}

func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	var pa, pb *C.float
	if len(a) > 0 {
		pa = (*C.float)(unsafe.Pointer(&a[0]))
	}
	if len(b) > 0 {
		pb = (*C.float)(unsafe.Pointer(&b[0]))
	}
	C.cblas_sgemm(C.CblasRowMajor, trans(transA), trans(transB), C.blasint(m), C.blasint(n), C.blasint(k),
		C.float(alpha), pa, C.blasint(lda), pb, C.blasint(ldb), C.float(beta), (*C.float)(unsafe.Pointer(&c[0])), C.blasint(ldc))
}

func dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	checkGemm(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	var pa, pb *C.double
	if len(a) > 0 {
		pa = (*C.double)(unsafe.Pointer(&a[0]))
	}
	if len(b) > 0 {
		pb = (*C.double)(unsafe.Pointer(&b[0]))
	}
	C.cblas_dgemm(C.CblasRowMajor, trans(transA), trans(transB), C.blasint(m), C.blasint(n), C.blasint(k),
		C.double(alpha), pa, C.blasint(lda), pb, C.blasint(ldb), C.double(beta), (*C.double)(unsafe.Pointer(&c[0])), C.blasint(ldc))
}

// SetThreads sets the number of threads OpenBLAS uses for one call. trainerd
// parallelises over goroutines itself, so 1 is usually best: idle OpenBLAS
// worker threads spin in sched_yield and burned a third of the CPU of a
// 2-core PinSage run before this was set.
func SetThreads(n int) { C.openblas_set_num_threads(C.int(max(n, 1))) }
