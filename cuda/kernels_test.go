//go:build cuda && cudadevice

package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"gorgonia.org/cu"

	"github.com/trainerd/trainerd/consumer/loss"
	"github.com/trainerd/trainerd/consumer/optim"
)

// sharedDevice opens device 0 once for the whole test binary (a context per
// test would cost a second each).
var sharedDevice = sync.OnceValues(func() (*Device, error) { return Open(0) })

func testDevice(tb testing.TB) *Device {
	tb.Helper()
	d, err := sharedDevice()
	if err != nil {
		tb.Skipf("no CUDA device: %v", err)
	}
	return d
}

// gpu runs f on the device thread with a fresh arena of the given size and
// synchronises before returning.
func gpu(tb testing.TB, bytes int64, f func(k *Kernels, a *Arena, s cu.Stream) error) {
	tb.Helper()
	d := testDevice(tb)
	err := d.Do(func() error {
		a, err := NewArena(bytes)
		if err != nil {
			return err
		}
		defer a.Free()
		if err := f(d.Kernels, a, d.Compute); err != nil {
			return err
		}
		return d.Sync()
	})
	if err != nil {
		tb.Fatal(err)
	}
}

func randF(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

func randIdx(rng *rand.Rand, n, m int) []int32 {
	v := make([]int32, n)
	for i := range v {
		v[i] = int32(rng.IntN(m))
	}
	return v
}

// up allocates and uploads.
func up(a *Arena, x []float32) (F32, error) {
	b, err := a.F32(len(x))
	if err != nil {
		return b, err
	}
	return b, UploadF32(b, x)
}

func upI(a *Arena, x []int32) (I32, error) {
	b, err := a.I32(len(x))
	if err != nil {
		return b, err
	}
	return b, UploadI32(b, x)
}

// poisoned allocates n floats set to NaN, so unwritten outputs show.
func poisoned(k *Kernels, a *Arena, s cu.Stream, n int) (F32, error) {
	b, err := a.F32(n)
	if err != nil {
		return b, err
	}
	return b, k.Fill(s, b, n, float32(math.NaN()))
}

// relErr is ‖got − want‖ / ‖want‖ (NaN anywhere fails).
func relErr(got []float32, want []float64) float64 {
	var num, den float64
	for i := range want {
		g := float64(got[i])
		if math.IsNaN(g) || math.IsInf(g, 0) {
			return math.Inf(1)
		}
		num += (g - want[i]) * (g - want[i])
		den += want[i] * want[i]
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}

func to64(x []float32) []float64 {
	v := make([]float64, len(x))
	for i, f := range x {
		v[i] = float64(f)
	}
	return v
}

func assertClose(tb testing.TB, what string, got []float32, want []float64) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	if e := relErr(got, want); e > 1e-4 {
		tb.Fatalf("%s: relative error %.3g > 1e-4", what, e)
	}
}

// numGrad is the central finite difference of f at x (float64).
func numGrad(f func([]float64) float64, x []float64) []float64 {
	g := make([]float64, len(x))
	for i := range x {
		o := x[i]
		h := 1e-6 * math.Max(1, math.Abs(o))
		x[i] = o + h
		fp := f(x)
		x[i] = o - h
		fm := f(x)
		x[i] = o
		g[i] = (fp - fm) / (2 * h)
	}
	return g
}

func TestGatherScatter(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ rows, n, d int }{{50, 200, 64}, {7, 33, 5}, {1000, 4096, 128}} {
		table := randF(rng, tc.rows*tc.d)
		src := randF(rng, tc.n*tc.d)
		idx := randIdx(rng, tc.n, tc.rows) // repeats on purpose
		gathered := make([]float32, tc.n*tc.d)
		scattered := make([]float32, tc.rows*tc.d)
		gpu(t, 1<<24, func(k *Kernels, a *Arena, s cu.Stream) error {
			tb, _ := up(a, table)
			sb, _ := up(a, src)
			ib, _ := upI(a, idx)
			out, err := poisoned(k, a, s, tc.n*tc.d)
			if err != nil {
				return err
			}
			if err := k.GatherRows(s, out, tb, ib, tc.n, tc.d); err != nil {
				return err
			}
			if err := k.ScatterAddRows(s, tb, sb, ib, tc.n, tc.d, 0.5); err != nil {
				return err
			}
			if err := k.GatherRows(s, out, tb, ib, 0, tc.d); err != nil { // n = 0 is a no-op
				return err
			}
			if err := DownloadStream(s, gathered, out); err != nil {
				return err
			}
			return DownloadStream(s, scattered, tb)
		})
		wantG := make([]float64, tc.n*tc.d)
		wantS := to64(table)
		for i, r := range idx {
			for c := 0; c < tc.d; c++ {
				wantG[i*tc.d+c] = float64(table[int(r)*tc.d+c])
				wantS[int(r)*tc.d+c] += 0.5 * float64(src[i*tc.d+c])
			}
		}
		assertClose(t, "gather", gathered, wantG)
		assertClose(t, "scatter-add", scattered, wantS)
	}
}

func TestShapeChecks(t *testing.T) {
	gpu(t, 1<<20, func(k *Kernels, a *Arena, s cu.Stream) error {
		x, _ := a.F32(10)
		i, _ := a.I32(10)
		if err := k.GatherRows(s, x, x, i, 20, 1); err == nil {
			t.Error("gather into a too-small output accepted")
		}
		if err := k.Sgemm(s, false, false, 4, 4, 4, 1, x, 4, x, 4, 0, x, 4); err == nil {
			t.Error("sgemm with a 10-float A of 4×4 accepted")
		}
		if err := k.RankLossRows(s, F64{}, x, x, F32{}, x, I32{}, 2, 2, 0, LossSoftmax, 0, 0); err == nil {
			t.Error("softmax with temperature 0 accepted")
		}
		if err := k.MaskScores(s, x, i, i, i, 2, 5, 4, false); err == nil {
			t.Error("mask with leading dimension 4 < 5 columns accepted")
		}
		if err := k.MaskScores(s, x, i, i.Slice(0, 2), i, 2, 5, 5, false); err == nil {
			t.Error("mask with 2 offsets for 2 rows accepted")
		}
		if err := k.MaskScores(s, x, i, i, i, 3, 5, 5, false); err == nil {
			t.Error("mask of 3×5 scores in 10 floats accepted")
		}
		return nil
	})
}

func TestSgemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, sz := range []struct{ m, n, k int }{{70, 45, 33}, {129, 200, 64}, {512, 64, 500}, {1, 1, 1}, {64, 64, 0}} {
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				for _, beta := range []float32{0, 0.5} {
					m, n, kk := sz.m, sz.n, sz.k
					A := randF(rng, m*kk)
					B := randF(rng, kk*n)
					C := randF(rng, m*n)
					lda, ldb := kk, n
					if ta {
						lda = m
					}
					if tb {
						ldb = kk
					}
					got := make([]float32, m*n)
					gpu(t, 1<<24, func(k *Kernels, a *Arena, s cu.Stream) error {
						ab, _ := up(a, A)
						bb, _ := up(a, B)
						var cb F32
						var err error
						if beta == 0 {
							cb, err = poisoned(k, a, s, m*n)
						} else {
							cb, err = up(a, C)
						}
						if err != nil {
							return err
						}
						if err := k.Sgemm(s, ta, tb, m, n, kk, 1.5, ab, max(lda, 1), bb, max(ldb, 1), beta, cb, n); err != nil {
							return err
						}
						return DownloadStream(s, got, cb)
					})
					want := make([]float64, m*n)
					for i := 0; i < m; i++ {
						for j := 0; j < n; j++ {
							var acc float64
							for p := 0; p < kk; p++ {
								var av, bv float32
								if ta {
									av = A[p*lda+i]
								} else {
									av = A[i*lda+p]
								}
								if tb {
									bv = B[j*ldb+p]
								} else {
									bv = B[p*ldb+j]
								}
								acc += float64(av) * float64(bv)
							}
							want[i*n+j] = 1.5*acc + float64(beta)*float64(C[i*n+j])
						}
					}
					if kk == 0 && beta == 0 {
						for i, v := range got {
							if v != 0 {
								t.Fatalf("k=0: C[%d]=%v, want 0", i, v)
							}
						}
						continue
					}
					assertClose(t, "sgemm", got, want)
				}
			}
		}
	}
}

func TestBiasReLU(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	n, d := 300, 70
	x := randF(rng, n*d)
	b := randF(rng, d)
	dy := randF(rng, n*d)
	y := make([]float32, n*d)
	dx := make([]float32, n*d)
	db := make([]float32, d)
	gpu(t, 1<<24, func(k *Kernels, a *Arena, s cu.Stream) error {
		xb, _ := up(a, x)
		bb, _ := up(a, b)
		dyb, _ := up(a, dy)
		yb, _ := poisoned(k, a, s, n*d)
		dxb, _ := poisoned(k, a, s, n*d)
		dbb, _ := poisoned(k, a, s, d)
		for _, f := range []func() error{
			func() error { return k.BiasAct(s, yb, xb, bb, n, d, true) },
			func() error { return k.ReLUBackward(s, dxb, dyb, yb, n*d) },
			func() error { return k.ColSum(s, dbb, dxb, n, d, 0) },
			func() error { return DownloadStream(s, y, yb) },
			func() error { return DownloadStream(s, dx, dxb) },
			func() error { return DownloadStream(s, db, dbb) },
		} {
			if err := f(); err != nil {
				return err
			}
		}
		return nil
	})
	wy, wdx, wdb := make([]float64, n*d), make([]float64, n*d), make([]float64, d)
	for r := 0; r < n; r++ {
		for c := 0; c < d; c++ {
			v := float64(x[r*d+c]) + float64(b[c])
			if v > 0 {
				wy[r*d+c] = v
				wdx[r*d+c] = float64(dy[r*d+c])
				wdb[c] += float64(dy[r*d+c])
			}
		}
	}
	assertClose(t, "bias+relu", y, wy)
	assertClose(t, "relu backward", dx, wdx)
	assertClose(t, "bias gradient", db, wdb)
	// numeric gradient of L = Σ dy·relu(x+b) with respect to b
	f := func(bv []float64) float64 {
		var L float64
		for r := 0; r < n; r++ {
			for c := 0; c < d; c++ {
				L += float64(dy[r*d+c]) * math.Max(0, float64(x[r*d+c])+bv[c])
			}
		}
		return L
	}
	assertClose(t, "bias gradient vs finite differences", db, numGrad(f, to64(b)))
}

// poolRef is importance pooling in float64.
func poolRef(x, w []float64, idx []int32, n, T, d int) []float64 {
	out := make([]float64, n*d)
	for r := 0; r < n; r++ {
		for s := 0; s < T; s++ {
			e := r*T + s
			for c := 0; c < d; c++ {
				out[r*d+c] += w[e] * x[int(idx[e])*d+c]
			}
		}
	}
	return out
}

func TestImportancePooling(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	m, n, T, d := 40, 25, 6, 33
	x := randF(rng, m*d)
	w := randF(rng, n*T)
	idx := randIdx(rng, n*T, m)
	dout := randF(rng, n*d)
	out, dx, dw := make([]float32, n*d), make([]float32, m*d), make([]float32, n*T)
	gpu(t, 1<<22, func(k *Kernels, a *Arena, s cu.Stream) error {
		xb, _ := up(a, x)
		wb, _ := up(a, w)
		ib, _ := upI(a, idx)
		gb, _ := up(a, dout)
		ob, _ := poisoned(k, a, s, n*d)
		dxb, _ := a.F32(m * d)
		dwb, _ := poisoned(k, a, s, n*T)
		for _, f := range []func() error{
			func() error { return k.PoolForward(s, ob, xb, ib, wb, n, T, d) },
			func() error { return k.Fill(s, dxb, m*d, 0) },
			func() error { return k.PoolBackwardX(s, dxb, gb, ib, wb, n, T, d) },
			func() error { return k.PoolBackwardW(s, dwb, gb, xb, ib, n, T, d) },
			func() error { return DownloadStream(s, out, ob) },
			func() error { return DownloadStream(s, dx, dxb) },
			func() error { return DownloadStream(s, dw, dwb) },
		} {
			if err := f(); err != nil {
				return err
			}
		}
		return nil
	})
	x64, w64 := to64(x), to64(w)
	assertClose(t, "pool forward", out, poolRef(x64, w64, idx, n, T, d))
	L := func(o []float64) float64 {
		var s float64
		for i, v := range o {
			s += v * float64(dout[i])
		}
		return s
	}
	assertClose(t, "pool dx vs finite differences", dx, numGrad(func(xv []float64) float64 { return L(poolRef(xv, w64, idx, n, T, d)) }, x64))
	assertClose(t, "pool dw vs finite differences", dw, numGrad(func(wv []float64) float64 { return L(poolRef(x64, wv, idx, n, T, d)) }, w64))
}

func l2Ref(x []float64, n, d int) []float64 {
	y := make([]float64, len(x))
	for r := 0; r < n; r++ {
		var s float64
		for c := 0; c < d; c++ {
			s += x[r*d+c] * x[r*d+c]
		}
		inv := 1 / math.Sqrt(s+1e-12)
		for c := 0; c < d; c++ {
			y[r*d+c] = x[r*d+c] * inv
		}
	}
	return y
}

func TestL2Norm(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	n, d := 37, 70
	x := randF(rng, n*d)
	dy := randF(rng, n*d)
	y, dx := make([]float32, n*d), make([]float32, n*d)
	gpu(t, 1<<22, func(k *Kernels, a *Arena, s cu.Stream) error {
		xb, _ := up(a, x)
		gb, _ := up(a, dy)
		yb, _ := poisoned(k, a, s, n*d)
		inv, _ := poisoned(k, a, s, n)
		for _, f := range []func() error{
			func() error { return k.L2NormForward(s, yb, inv, xb, n, d) },
			func() error { return k.L2NormBackward(s, gb, gb, yb, inv, n, d) }, // in place
			func() error { return DownloadStream(s, y, yb) },
			func() error { return DownloadStream(s, dx, gb) },
		} {
			if err := f(); err != nil {
				return err
			}
		}
		return nil
	})
	x64 := to64(x)
	assertClose(t, "l2norm forward", y, l2Ref(x64, n, d))
	assertClose(t, "l2norm backward vs finite differences", dx, numGrad(func(xv []float64) float64 {
		var s float64
		for i, v := range l2Ref(xv, n, d) {
			s += v * float64(dy[i])
		}
		return s
	}, x64))
}

func TestSpMM(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	n, d := 300, 64
	ptr := []int32{0}
	var col []int32
	var val []float32
	for r := 0; r < n; r++ {
		deg := rng.IntN(12) // some rows empty
		for e := 0; e < deg; e++ {
			col = append(col, int32(rng.IntN(n)))
			val = append(val, rng.Float32())
		}
		ptr = append(ptr, int32(len(col)))
	}
	x := randF(rng, n*d)
	o0 := randF(rng, n*d)
	got := make([]float32, n*d)
	gpu(t, 1<<22, func(k *Kernels, a *Arena, s cu.Stream) error {
		var A CSR
		A.N = n
		A.Ptr, _ = upI(a, ptr)
		A.Col, _ = upI(a, col)
		A.Val, _ = up(a, val)
		xb, _ := up(a, x)
		ob, _ := up(a, o0)
		if err := k.SpMM(s, ob, A, xb, d, 2, 0.5); err != nil {
			return err
		}
		if err := k.SpMM(s, xb, A, xb, d, 1, 0); err == nil {
			t.Error("aliased spmm accepted")
		}
		return DownloadStream(s, got, ob)
	})
	want := make([]float64, n*d)
	for r := 0; r < n; r++ {
		for c := 0; c < d; c++ {
			var acc float64
			for e := ptr[r]; e < ptr[r+1]; e++ {
				acc += float64(val[e]) * float64(x[int(col[e])*d+c])
			}
			want[r*d+c] = 2*acc + 0.5*float64(o0[r*d+c])
		}
	}
	assertClose(t, "spmm", got, want)
}

// randMask draws a CSR mask over B rows with columns in [0, n): a random
// number of entries per row with repeats, never the row itself when noDiag,
// and every allowed column (twice over) in row full, so that row can have
// no negatives left.
func randMask(rng *rand.Rand, B, n int, noDiag bool, full int) (mask, ptr []int32) {
	ptr = []int32{0}
	for j := 0; j < B; j++ {
		if j == full {
			for rep := 0; rep < 2; rep++ {
				for c := 0; c < n; c++ {
					if !noDiag || c != j {
						mask = append(mask, int32(c))
					}
				}
			}
		} else if n > 0 {
			for e := rng.IntN(8); e > 0; e-- {
				c := rng.IntN(n)
				if noDiag && c == j {
					continue
				}
				mask = append(mask, int32(c))
				if rng.IntN(4) == 0 { // a repeat
					mask = append(mask, int32(c))
				}
			}
		}
		ptr = append(ptr, int32(len(mask)))
	}
	return mask, ptr
}

func TestMaskScores(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	B, n, ld := 45, 37, 40
	s0 := randF(rng, B*ld)
	m1, p1 := randMask(rng, B, n, false, 3)
	m2, p2 := randMask(rng, B, n, true, -1)
	got := make([]float32, len(s0))
	cnt := make([]int32, B)
	gpu(t, 1<<22, func(k *Kernels, a *Arena, st cu.Stream) error {
		sb, _ := up(a, s0)
		mb1, _ := upI(a, m1)
		pb1, _ := upI(a, p1)
		mb2, _ := upI(a, m2)
		pb2, _ := upI(a, p2)
		nb, err := a.I32(B)
		if err != nil {
			return err
		}
		junk := make([]int32, B) // the first mask must overwrite, not add
		for i := range junk {
			junk[i] = 1000
		}
		if err := UploadI32(nb, junk); err != nil {
			return err
		}
		if err := k.MaskScores(st, sb, nb, pb1, mb1, B, n, ld, false); err != nil {
			return err
		}
		if err := k.MaskScores(st, sb, nb, pb2, mb2, B, n, ld, true); err != nil {
			return err
		}
		if err := DownloadStream(st, got, sb); err != nil {
			return err
		}
		return DownloadI32(cnt, nb)
	})
	want := append([]float32(nil), s0...)
	wantN := make([]int, B)
	for _, m := range []struct{ mask, ptr []int32 }{{m1, p1}, {m2, p2}} {
		for j := 0; j < B; j++ {
			for _, c := range m.mask[m.ptr[j]:m.ptr[j+1]] {
				if v := &want[j*ld+int(c)]; *v != MaskScore {
					*v = MaskScore
					wantN[j]++
				}
			}
		}
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("score %d (row %d, column %d): %v, want %v", i, i/ld, i%ld, got[i], want[i])
		}
	}
	for j, c := range cnt {
		if int(c) != wantN[j] {
			t.Errorf("row %d: %d masked columns, want %d", j, c, wantN[j])
		}
	}
	if wantN[3] != n {
		t.Fatalf("row 3 masks %d columns, want all %d", wantN[3], n)
	}
}

func TestRankLossMatchesCPU(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	sh := LossShape{B: 70, P: 130, H: 2, D: 24}
	for _, kind := range []string{"bpr", "margin", "softmax", "sgns"} {
		for _, inBatch := range []bool{false, true} {
			for _, cosine := range []bool{false, true} {
				for _, H := range []int{0, sh.H} {
					for _, masked := range []bool{false, true} {
						s := sh
						s.H = H
						name := fmt.Sprintf("%s masked=%v", kind, masked)
						x := randF(rng, s.Rows()*s.D)
						if kind == "margin" {
							for i := range x { // keep some hinges inactive
								x[i] *= 0.3
							}
						}
						cpu, err := loss.New(loss.Config{Kind: kind, Margin: 0.5, Temperature: 0.2, InBatch: inBatch, Cosine: cosine, Threads: 1})
						if err != nil {
							t.Fatal(err)
						}
						in := loss.Inputs{B: s.B, P: s.P, H: s.H, D: s.D}
						o := 0
						for _, p := range []*[]float32{&in.Q, &in.Pos, &in.Pool, &in.Hard} {
							nrows := s.B
							switch p {
							case &in.Pool:
								nrows = s.P
							case &in.Hard:
								nrows = s.B * s.H
							}
							*p = x[o : o+nrows*s.D]
							o += nrows * s.D
						}
						if masked {
							// Row 5 masks the whole pool and, in-batch, every
							// other example: with H = 0 it has no negatives.
							in.NegMask, in.NegMaskPtr = randMask(rng, s.B, s.P, false, 5)
							in.InMask, in.InMaskPtr = randMask(rng, s.B, s.B, true, 5)
						}
						wantL, wantG, err := cpu.Compute(in)
						if err != nil {
							t.Fatal(err)
						}
						var want []float64
						for _, g := range [][]float32{wantG.Q, wantG.Pos, wantG.Pool, wantG.Hard} {
							want = append(want, to64(g)...)
						}
						got := make([]float32, len(x))
						rl := make([]float64, s.B)
						lk, _ := ParseLoss(kind)
						gpu(t, 1<<24, func(k *Kernels, a *Arena, st cu.Stream) error {
							l, err := NewRankLoss(k, a, LossConfig{Kind: lk, Margin: 0.5, Temperature: 0.2, InBatch: inBatch, Cosine: cosine}, s)
							if err != nil {
								return err
							}
							xb, _ := up(a, x)
							gb, err := poisoned(k, a, st, len(x))
							if err != nil {
								return err
							}
							var m Masks
							if masked {
								// the in-batch mask goes up even without
								// in-batch negatives: Enqueue must ignore it
								for _, u := range []struct {
									dst *I32
									src []int32
								}{{&m.Neg, in.NegMask}, {&m.NegPtr, in.NegMaskPtr}, {&m.In, in.InMask}, {&m.InPtr, in.InMaskPtr}} {
									if *u.dst, err = upI(a, u.src); err != nil {
										return err
									}
								}
							}
							if err := l.Enqueue(st, xb, gb, s, m); err != nil {
								return err
							}
							if err := DownloadStream(st, got, gb); err != nil {
								return err
							}
							if err := st.Synchronize(); err != nil {
								return err
							}
							return DownloadF64(rl, l.RowLoss())
						})
						var gl float64
						for _, v := range rl {
							gl += v
						}
						gl /= float64(s.B)
						if math.Abs(gl-wantL) > 1e-4*math.Max(1, math.Abs(wantL)) {
							t.Errorf("%s inbatch=%v cosine=%v H=%d: loss %v, cpu %v", name, inBatch, cosine, H, gl, wantL)
						}
						if e := relErr(got, want); e > 1e-4 {
							t.Errorf("%s inbatch=%v cosine=%v H=%d: gradient relative error %.3g", name, inBatch, cosine, H, e)
						}
						// Example 5 has every pool and in-batch negative masked:
						// without hard ones its loss is 0 (sgns keeps its
						// positive term), whatever the scores (up to the
						// rounding of an fma in the softmax's m - s⁺/τ).
						if masked && H == 0 && kind != "sgns" && math.Abs(rl[5]) > 1e-9 {
							t.Errorf("%s inbatch=%v cosine=%v: example 5 has no negatives left but loss %v", name, inBatch, cosine, rl[5])
						}
					}
				}
			}
		}
	}
}

func TestSparseAdamMatchesCPU(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	rows, d := 50, 40
	for _, sparse := range []bool{true, false} {
		opt, err := optim.New(optim.Params{Kind: "adam", Threads: 1}, rows, d)
		if err != nil {
			t.Fatal(err)
		}
		param := randF(rng, rows*d)
		cpuParam := append([]float32(nil), param...)
		var ids []int32
		n := rows
		if sparse {
			ids = []int32{3, 17, 0, 49, 22}
			n = len(ids)
		}
		grads := make([][]float32, 4)
		for i := range grads {
			grads[i] = randF(rng, n*d)
		}
		got := make([]float32, rows*d)
		gotSteps := make([]float32, rows)
		gpu(t, 1<<22, func(k *Kernels, a *Arena, s cu.Stream) error {
			pb, _ := up(a, param)
			mb, _ := up(a, make([]float32, rows*d))
			vb, _ := up(a, make([]float32, rows*d))
			sb, _ := up(a, make([]float32, rows))
			var rb I32
			if sparse {
				rb, _ = upI(a, ids)
			}
			gb, _ := a.F32(n * d)
			for i, g := range grads {
				if err := s.Synchronize(); err != nil {
					return err
				}
				if err := UploadF32(gb, g); err != nil {
					return err
				}
				if err := k.SparseAdam(s, pb, mb, vb, sb, rb, gb, n, d, AdamParams{LR: 0.01 * float32(i+1), Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}); err != nil {
					return err
				}
			}
			if err := DownloadStream(s, got, pb); err != nil {
				return err
			}
			return DownloadStream(s, gotSteps, sb)
		})
		for i, g := range grads {
			opt.Update(cpuParam, ids, g, 0.01*float32(i+1))
		}
		assertClose(t, "adam params", got, to64(cpuParam))
		wantSteps := opt.State("x")[2].Data
		assertClose(t, "adam step counters", gotSteps, to64(wantSteps))
	}
}
