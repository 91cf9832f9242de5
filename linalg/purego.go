//go:build darwin || freebsd || linux || netbsd

package linalg

import (
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

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
// sgemm_ and dgemm_ (the Fortran interface, see fortranGemm). Builds with
// 64-bit integers are recognised by their symbol suffix (sgemm_64_) or by a
// library name starting with libopenblas64. The library stays loaded for
// the life of the process.
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
	if p, _ := sym("sgemm_64_"); p != 0 {
		ilp64, suffix = true, "64_"
	}
	ps, _ := sym("sgemm_" + suffix)
	pd, _ := sym("dgemm_" + suffix)
	if ps == 0 || pd == 0 {
		return nil, fmt.Errorf("open %s: no sgemm_%s/dgemm_%s: not a BLAS library", lib, suffix, suffix)
	}
	b := &BLAS{name: "openblas", lib: lib}
	if ilp64 {
		b.sgemm = newFortranGemm[int64, float32](ps).call
		b.dgemm = newFortranGemm[int64, float64](pd).call
	} else {
		b.sgemm = newFortranGemm[int32, float32](ps).call
		b.dgemm = newFortranGemm[int32, float64](pd).call
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

// fortranGemm calls the Fortran interface of ?gemm, which takes every
// argument by pointer: purego.SyscallN then passes them in integer
// registers and on the stack with no reflection and no allocation, which
// purego.RegisterFunc on cblas_sgemm (float arguments) would cost on every
// call. The scalar arguments live in pooled frames.
type fortranGemm[I int32 | int64, F float32 | float64] struct {
	fn     uintptr
	frames sync.Pool // of *gemmFrame[I, F]
}

// gemmFrame holds one call's arguments. The operand pointers are kept in it
// (on the heap, reachable) while the library reads them.
type gemmFrame[I int32 | int64, F float32 | float64] struct {
	ta, tb                 byte
	m, n, k, lda, ldb, ldc I
	alpha, beta            F
	a, b, c                unsafe.Pointer
	argv                   [13]uintptr
}

func newFortranGemm[I int32 | int64, F float32 | float64](fn uintptr) *fortranGemm[I, F] {
	g := &fortranGemm[I, F]{fn: fn}
	g.frames.New = func() any { return new(gemmFrame[I, F]) }
	return g
}

// call computes the row-major C = alpha·op(A)·op(B) + beta·C as the
// column-major Cᵀ = alpha·op(B)ᵀ·op(A)ᵀ + beta·Cᵀ: a row-major matrix with
// leading dimension ld is its transpose in column-major order with the same
// ld, so the operands swap and nothing is copied.
func (g *fortranGemm[I, F]) call(transA, transB bool, m, n, k int, alpha F, a []F, lda int, b []F, ldb int, beta F, c []F, ldc int) {
	var zero I
	if _, ok := any(zero).(int32); ok {
		checkInt32(m, n, k, lda, ldb, ldc)
	}
	f := g.frames.Get().(*gemmFrame[I, F])
	f.ta, f.tb = transChar(transB), transChar(transA)
	f.m, f.n, f.k = I(n), I(m), I(k)
	f.lda, f.ldb, f.ldc = I(ldb), I(lda), I(ldc)
	f.alpha, f.beta = alpha, beta
	f.a, f.b, f.c = first(b), first(a), first(c)
	f.argv = [13]uintptr{
		uintptr(unsafe.Pointer(&f.ta)), uintptr(unsafe.Pointer(&f.tb)),
		uintptr(unsafe.Pointer(&f.m)), uintptr(unsafe.Pointer(&f.n)), uintptr(unsafe.Pointer(&f.k)),
		uintptr(unsafe.Pointer(&f.alpha)), uintptr(f.a), uintptr(unsafe.Pointer(&f.lda)),
		uintptr(f.b), uintptr(unsafe.Pointer(&f.ldb)),
		uintptr(unsafe.Pointer(&f.beta)), uintptr(f.c), uintptr(unsafe.Pointer(&f.ldc)),
	}
	purego.SyscallN(g.fn, f.argv[:]...)
	runtime.KeepAlive(f)
	f.a, f.b, f.c = nil, nil, nil
	g.frames.Put(f)
}

func transChar(t bool) byte {
	if t {
		return 'T'
	}
	return 'N'
}

// first points at x's first element, nil when x is empty (k = 0).
func first[T float32 | float64](x []T) unsafe.Pointer {
	if len(x) == 0 {
		return nil
	}
	return unsafe.Pointer(&x[0])
}
