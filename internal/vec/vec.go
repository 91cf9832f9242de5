// Package vec holds trainerd's float32 SIMD kernels, all of its assembly:
// the row kernels (y += x and y += a·x over one embedding row, Axpy and Add,
// which dispatch themselves) and, for the packages that keep their own Go
// loops and dispatch, the sparse-times-dense gathers (Gather64,
// Gather128AVX512, used by consumer/propagation and consumer/sage), the conv
// network's kernels (consumer/sage: ReLU backward with column sums, bias add,
// row normalisation, ReLU mask bits, id-row gather), the softmax's
// exp-and-sum (consumer/loss) and the Adam row update (consumer/optim).
//
// Each kernel states the CPU feature it needs, and a Has function (which
// asks internal/cpufeat, the one CPU check) says whether it may run; callers
// run their Go loop otherwise. Off amd64, or with the purego build tag, there
// is no assembly: every Has function is false and the kernels panic. Each
// kernel performs the same float32 operations in the same order as the Go
// loop it replaces (a multiply then an add, never fused), so results are
// bit-identical whichever runs, unless GOAMD64=v3 lets the compiler fuse the
// Go loop's a·x+y.
package vec

// Add sets y[i] += x[i] for i < len(x); y must be at least as long as x.
// It is Axpy with a = 1, which is exact: 1·x[i] rounds to x[i].
func Add(y, x []float32) { Axpy(y, 1, x) }

// Axpy sets y[i] += a·x[i] for i < len(x); y must be at least as long as x.
func Axpy(y []float32, a float32, x []float32) {
	y = y[:len(x)]
	n := 0
	if hasAVX {
		n = len(x) &^ 7
		if n > 0 {
			axpyAVX(y[:n], a, x[:n])
		}
	}
	for i := n; i < len(x); i++ {
		y[i] += a * x[i]
	}
}

// HasGather64 reports whether Gather64 may run on this CPU: it needs AVX
// (with the operating system's support for the YMM state).
func HasGather64() bool { return hasAVX }
