package linalg

import (
	"fmt"
	"math"
)

// checkGemm panics with a clear message when a buffer is too small for the
// shapes: the C library would otherwise read or write out of bounds.
func checkGemm(transA, transB bool, m, n, k, la, lda, lb, ldb, lc, ldc int) {
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	if m < 0 || n < 0 || k < 0 || lda < max(1, ac) || ldb < max(1, bc) || ldc < max(1, n) {
		panic(fmt.Sprintf("linalg: bad gemm shape m=%d n=%d k=%d lda=%d ldb=%d ldc=%d", m, n, k, lda, ldb, ldc))
	}
	if (ar > 0 && la < (ar-1)*lda+ac) || (br > 0 && lb < (br-1)*ldb+bc) || lc < (m-1)*ldc+n {
		panic(fmt.Sprintf("linalg: gemm buffer too small: len(a)=%d len(b)=%d len(c)=%d for m=%d n=%d k=%d", la, lb, lc, m, n, k))
	}
}

// checkInt32 panics when a dimension does not fit the C int of an LP64
// BLAS (it would wrap around silently).
func checkInt32(dims ...int) {
	for _, d := range dims {
		if d > math.MaxInt32 {
			panic(fmt.Sprintf("linalg: gemm dimension %d exceeds the 32-bit integers of this OpenBLAS build", d))
		}
	}
}
