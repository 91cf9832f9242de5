package propagation

import (
	"fmt"

	"github.com/trainerd/trainerd/graph"
	"github.com/trainerd/trainerd/internal/parallel"
	"github.com/trainerd/trainerd/internal/vec"
)

// minParallel is the smallest loop split over goroutines.
const minParallel = 256

// normAdj is the symmetric normalised adjacency D^-½ A D^-½ of the
// bipartite training graph over global node ids, in CSR form, with the
// weight w_e = 1/sqrt(d_u d_i) of every nonzero stored beside it. Rows are
// split into chunks of roughly equal edge counts once, so the parallel SpMM
// is balanced and its result independent of scheduling (each output row is
// written by exactly one goroutine, summing its edges in CSR order).
type normAdj struct {
	n      int
	ptr    []int32
	adj    []int32
	w      []float32
	chunks []int // row boundaries, len = parts+1
	// avx selects the AVX kernel (vec.Gather64) for widths that are
	// multiples of 64; both kernels give bit-identical results.
	avx bool
}

func newNormAdj(g *graph.Bipartite, threads int) (*normAdj, error) {
	na, err := graph.NormalizedAdjacency(g)
	if err != nil {
		return nil, err
	}
	n := g.NumUsers + g.NumItems
	a := &normAdj{n: n, ptr: na.Ptr, adj: na.Col, w: na.Val, avx: vec.HasGather64()}
	// Balance chunks by edges + rows.
	parts := max(threads, 1) * 4
	total := len(a.adj) + n
	a.chunks = []int{0}
	next := total / parts
	for r := 0; r < n; r++ {
		if int(a.ptr[r+1])+r+1 >= next && len(a.chunks) < parts {
			a.chunks = append(a.chunks, r+1)
			next = total * len(a.chunks) / parts
		}
	}
	if a.chunks[len(a.chunks)-1] != n {
		a.chunks = append(a.chunks, n)
	}
	return a, nil
}

// gatherRow sets o = Σ_k ws[k]·src[cols[k]] over rows of width d = len(o).
// Columns go in blocks of 8 held in 8 independent accumulators across all
// of the row's edges, so the only memory traffic per edge is the 8 source
// floats (no load/store of o per edge) and the loads of different edges are
// independent (the CPU overlaps their cache misses). Each column still sums
// its edges in CSR order starting from +0, so the result is bit-identical
// to the plain `o[i] += w*x[i]` loop and to vec.Gather64. The explicit
// float32 conversions round each product, which keeps the compiler from
// fusing w*x+a into an FMA under GOAMD64=v3 (that would change the bits).
// Figures (BenchmarkGatherLocal-style, one core of the 2-core Xeon @ 2.5GHz):
// ~2.2 GFLOP/s with the source rows in L2, ~1.1 GFLOP/s on the random
// Gowalla-size graph; vec.Gather64 reaches ~12 and ~4.6.
func gatherRow(o, src []float32, cols []int32, ws []float32) {
	d := len(o)
	ws = ws[:len(cols)]
	j := 0
	for ; j+8 <= d; j += 8 {
		var a0, a1, a2, a3, a4, a5, a6, a7 float32
		for k, c := range cols {
			w := ws[k]
			off := int(c)*d + j
			x := src[off : off+8 : off+8]
			a0 += float32(w * x[0])
			a1 += float32(w * x[1])
			a2 += float32(w * x[2])
			a3 += float32(w * x[3])
			a4 += float32(w * x[4])
			a5 += float32(w * x[5])
			a6 += float32(w * x[6])
			a7 += float32(w * x[7])
		}
		oo := o[j : j+8 : j+8]
		oo[0], oo[1], oo[2], oo[3] = a0, a1, a2, a3
		oo[4], oo[5], oo[6], oo[7] = a4, a5, a6, a7
	}
	for ; j < d; j++ {
		var a float32
		for k, c := range cols {
			a += float32(ws[k] * src[int(c)*d+j])
		}
		o[j] = a
	}
}

// gather sets o = Σ_k ws[k]·src[cols[k]] (src n×d, len(o) = d). Every
// column index in a.adj is below a.n by construction, and check has
// verified len(src), which is what makes the unchecked AVX kernel safe.
func (a *normAdj) gather(o, src []float32, cols []int32, ws []float32, d int) {
	if a.avx && d%64 == 0 {
		for j := 0; j < d; j += 64 {
			vec.Gather64(&o[j : j+64][0], &src[j], 4*d, cols, ws[:len(cols)])
		}
		return
	}
	gatherRow(o, src, cols, ws)
}

// check panics unless every n×d matrix has a.n·d elements (a programming
// error: the buffers are allocated with the model).
func (a *normAdj) check(d int, ms ...[]float32) {
	for _, m := range ms {
		if len(m) != a.n*d {
			panic(fmt.Sprintf("propagation: buffer has %d values, want %d×%d", len(m), a.n, d))
		}
	}
}

// spmm sets dst = Â·src for n×d row-major matrices (dst ≠ src).
func (a *normAdj) spmm(dst, src []float32, d, threads int) {
	a.check(d, dst, src)
	parallel.Chunks(len(a.chunks)-1, threads, 0, func(lo, hi int) {
		for r := a.chunks[lo]; r < a.chunks[hi]; r++ {
			p, q := a.ptr[r], a.ptr[r+1]
			a.gather(dst[r*d:r*d+d:r*d+d], src, a.adj[p:q], a.w[p:q], d)
		}
	})
}

// meanPropagate sets out = (1/(K+1)) Σ_{k=0..K} Â^k x for n×d row-major
// matrices, using cur, nx and acc (each n×d) as scratch; out may alias x.
// When nz is not nil, x is +0 on every row r with !nz[r] (a gradient seeded
// only on a batch's rows), and the first layer skips those rows' edges: an
// accumulator that starts at +0 never becomes -0, so leaving out +0 terms
// changes no bit of the result.
// The layer sum is fused into the SpMM: each output row, still in L1, is
// added to its running sum as soon as it is produced, and the last layer
// writes the scaled mean straight into out without being stored. The sums
// run in the order x + Â x + Â²x + … per element, as the unfused loop did.
func (a *normAdj) meanPropagate(out, x, cur, nx, acc []float32, nz []bool, d, K, threads int) {
	a.check(d, out, x, cur, nx, acc)
	if K <= 0 {
		copy(out, x)
		return
	}
	s := float32(1 / float64(K+1))
	src := x
	for k := 1; k <= K; k++ {
		first, last := k == 1, k == K
		dst := nx
		parallel.Chunks(len(a.chunks)-1, threads, 0, func(lo, hi int) {
			var buf [64]float32
			row := buf[:0]
			if d <= len(buf) {
				row = buf[:d]
			} else {
				row = make([]float32, d)
			}
			var fc []int32 // first-layer edges that survive nz
			var fw []float32
			for r := a.chunks[lo]; r < a.chunks[hi]; r++ {
				p, q := a.ptr[r], a.ptr[r+1]
				cols, ws := a.adj[p:q], a.w[p:q]
				if first && nz != nil {
					fc, fw = fc[:0], fw[:0]
					for k, c := range cols {
						if nz[c] {
							fc = append(fc, c)
							fw = append(fw, ws[k])
						}
					}
					cols, ws = fc, fw
				}
				ac := acc[r*d : r*d+d : r*d+d]
				switch {
				case first && last: // K == 1; out may alias x, so keep the sum in acc
					a.gather(row, src, cols, ws, d)
					xr := x[r*d : r*d+d : r*d+d]
					xr, ac = xr[:len(row)], ac[:len(row)]
					for i, v := range row {
						ac[i] = (xr[i] + v) * s
					}
				case first:
					o := dst[r*d : r*d+d : r*d+d]
					a.gather(o, src, cols, ws, d)
					xr := x[r*d : r*d+d : r*d+d]
					xr, ac = xr[:len(o)], ac[:len(o)]
					for i, v := range o {
						ac[i] = xr[i] + v
					}
				case last:
					a.gather(row, src, cols, ws, d)
					o := out[r*d : r*d+d : r*d+d]
					o, ac = o[:len(row)], ac[:len(row)]
					for i, v := range row {
						o[i] = (ac[i] + v) * s
					}
				default:
					o := dst[r*d : r*d+d : r*d+d]
					a.gather(o, src, cols, ws, d)
					ac = ac[:len(o)]
					for i, v := range o {
						ac[i] += v
					}
				}
			}
		})
		src = dst
		nx, cur = cur, dst
	}
	if K == 1 {
		copy(out, acc)
	}
}
