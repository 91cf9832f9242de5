//go:build cgo && cblas

package linalg

/*
#cgo LDFLAGS: -lopenblas
#include <cblas.h>
void openblas_set_num_threads(int);
int openblas_get_num_threads(void);
char* openblas_get_config(void);
*/
import "C"

import (
	"math"
	"unsafe"
)

// Linked returns OpenBLAS linked through cgo: present only in binaries
// built with the build tag cblas (and cgo), which need cblas.h and
// libopenblas at build time. It is the baseline the purego path is measured
// against.
func Linked() (*BLAS, bool) {
	return &BLAS{
		name:       "openblas-cgo",
		lib:        "libopenblas (linked)",
		sgemm:      cgoSgemm,
		dgemm:      cgoDgemm,
		threads:    func(n int) { C.openblas_set_num_threads(C.int(min(n, math.MaxInt32))) },
		getThreads: func() int { return int(C.openblas_get_num_threads()) },
		config:     C.GoString(C.openblas_get_config()),
	}, true
}

func trans(t bool) C.enum_CBLAS_TRANSPOSE {
	if t {
		return C.CblasTrans
	}
	return C.CblasNoTrans
}

func cgoSgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkInt32(m, n, k, lda, ldb, ldc)
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

func cgoDgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	checkInt32(m, n, k, lda, ldb, ldc)
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
