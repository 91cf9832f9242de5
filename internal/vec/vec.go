// Package vec holds the float32 row kernels the CPU consumer runs in its
// inner loops: y += x and y += a·x over one embedding row, and one
// 64-column strip of a sparse row times a dense matrix (Gather64). On amd64
// with AVX they run 8 lanes at a time in assembly; elsewhere (or with the
// purego tag) a Go loop runs. Both perform the same float32 operations in
// the same order (a multiply then an add, never fused), so results are
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

// HasGather64 reports whether Gather64 may run on this CPU.
func HasGather64() bool { return hasAVX }
