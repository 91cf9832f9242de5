//go:build darwin || freebsd || linux || netbsd

package linalg

import (
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/ebitengine/purego"
)

// CBLAS enumerations (cblas.h).
const (
	cblasRowMajor = 101
	cblasNoTrans  = 111
	cblasTrans    = 112
)

func transArg(t bool) int32 {
	if t {
		return cblasTrans
	}
	return cblasNoTrans
}

// Libraries lists the OpenBLAS libraries the automatic search opens, in
// order: the LP64 builds (32-bit integers) first, then the ILP64 ones.
func Libraries() []string {
	if runtime.GOOS == "darwin" {
		return []string{"libopenblas.0.dylib", "libopenblas.dylib",
			"/opt/homebrew/opt/openblas/lib/libopenblas.dylib", "/usr/local/opt/openblas/lib/libopenblas.dylib"}
	}
	return []string{"libopenblas.so.0", "libopenblas.so", "libopenblas64_.so.0", "libopenblas64.so.0",
		"libopenblas64_.so", "libopenblas64.so"}
}

// Open opens the OpenBLAS library lib (a soname searched the way dlopen
// searches, or a path) through purego and returns a backend calling its
// cblas_sgemm and cblas_dgemm. Builds with 64-bit integers are recognised
// by their symbol suffix (cblas_sgemm64_) or by a library name starting
// with libopenblas64. The library stays loaded for the life of the process.
func Open(lib string) (*BLAS, error) {
	h, err := purego.Dlopen(lib, purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", lib, err)
	}
	sym := func(names ...string) (uintptr, string) {
		for _, n := range names {
			if p, err := purego.Dlsym(h, n); err == nil && p != 0 {
				return p, n
			}
		}
		return 0, ""
	}
	ilp64 := strings.HasPrefix(filepath.Base(lib), "libopenblas64")
	suffix := ""
	if p, _ := sym("cblas_sgemm64_"); p != 0 {
		ilp64, suffix = true, "64_"
	}
	ps, _ := sym("cblas_sgemm" + suffix)
	pd, _ := sym("cblas_dgemm" + suffix)
	if ps == 0 || pd == 0 {
		return nil, fmt.Errorf("open %s: no cblas_sgemm%s/cblas_dgemm%s: not a CBLAS library", lib, suffix, suffix)
	}
	b := &BLAS{name: "openblas", lib: lib}
	if ilp64 {
		var s func(order, ta, tb int32, m, n, k int64, alpha float32, a *float32, lda int64, b *float32, ldb int64, beta float32, c *float32, ldc int64)
		var d func(order, ta, tb int32, m, n, k int64, alpha float64, a *float64, lda int64, b *float64, ldb int64, beta float64, c *float64, ldc int64)
		purego.RegisterFunc(&s, ps)
		purego.RegisterFunc(&d, pd)
		b.sgemm = func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, bb []float32, ldb int, beta float32, c []float32, ldc int) {
			s(cblasRowMajor, transArg(transA), transArg(transB), int64(m), int64(n), int64(k),
				alpha, first(a), int64(lda), first(bb), int64(ldb), beta, first(c), int64(ldc))
		}
		b.dgemm = func(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, bb []float64, ldb int, beta float64, c []float64, ldc int) {
			d(cblasRowMajor, transArg(transA), transArg(transB), int64(m), int64(n), int64(k),
				alpha, first(a), int64(lda), first(bb), int64(ldb), beta, first(c), int64(ldc))
		}
	} else {
		var s func(order, ta, tb, m, n, k int32, alpha float32, a *float32, lda int32, b *float32, ldb int32, beta float32, c *float32, ldc int32)
		var d func(order, ta, tb, m, n, k int32, alpha float64, a *float64, lda int32, b *float64, ldb int32, beta float64, c *float64, ldc int32)
		purego.RegisterFunc(&s, ps)
		purego.RegisterFunc(&d, pd)
		b.sgemm = func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, bb []float32, ldb int, beta float32, c []float32, ldc int) {
			checkInt32(m, n, k, lda, ldb, ldc)
			s(cblasRowMajor, transArg(transA), transArg(transB), int32(m), int32(n), int32(k),
				alpha, first(a), int32(lda), first(bb), int32(ldb), beta, first(c), int32(ldc))
		}
		b.dgemm = func(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, bb []float64, ldb int, beta float64, c []float64, ldc int) {
			checkInt32(m, n, k, lda, ldb, ldc)
			d(cblasRowMajor, transArg(transA), transArg(transB), int32(m), int32(n), int32(k),
				alpha, first(a), int32(lda), first(bb), int32(ldb), beta, first(c), int32(ldc))
		}
	}
	if p, _ := sym("openblas_set_num_threads"+suffix, "openblas_set_num_threads"); p != 0 {
		// openblas_set_num_threads takes a C int in every build.
		var f func(int32)
		purego.RegisterFunc(&f, p)
		b.threads = func(n int) { f(int32(min(n, math.MaxInt32))) }
	}
	if p, _ := sym("openblas_get_config"+suffix, "openblas_get_config"); p != 0 {
		var f func() string
		purego.RegisterFunc(&f, p)
		b.config = f()
	}
	if p, _ := sym("openblas_get_num_threads"+suffix, "openblas_get_num_threads"); p != 0 {
		var f func() int32
		purego.RegisterFunc(&f, p)
		b.getThreads = func() int { return int(f()) }
	}
	return b, nil
}

// first is a pointer to x's first element, nil when x is empty (k = 0).
func first[T float32 | float64](x []T) *T {
	if len(x) == 0 {
		return nil
	}
	return &x[0]
}
