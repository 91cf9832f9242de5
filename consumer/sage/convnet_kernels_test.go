//go:build !cuda

package sage

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/trainerd/trainerd/internal/parallel"
	"github.com/trainerd/trainerd/internal/vec"
)

// kernelMatrix returns rows×w float32s with positives, negatives, +0, -0
// and tiny values (the sign-bit kernels' edge cases).
func kernelMatrix(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		switch r.IntN(6) {
		case 0:
			x[i] = 0
		case 1:
			x[i] = float32(math.Copysign(0, -1))
		case 2:
			x[i] = -math.SmallestNonzeroFloat32
		default:
			x[i] = float32(r.NormFloat64())
		}
	}
	return x
}

// TestConvKernelsAVX2: the AVX2 kernels give the bits of the Go loops
// (reluGrad then colSum; the bias add then relu) on every width they take
// and on the row counts of a block's edge.
func TestConvKernelsAVX2(t *testing.T) {
	if !vec.HasConvAVX2() {
		t.Skip("no AVX2 kernels on this CPU or build")
	}
	r := rand.New(rand.NewPCG(7, 8))
	for _, w := range []int{8, 32, 64, 128, 192} {
		for _, rows := range []int{0, 1, 3, 256} {
			t.Run(fmt.Sprintf("w=%d/rows=%d", w, rows), func(t *testing.T) {
				y, g := kernelMatrix(r, rows*w), kernelMatrix(r, rows*w)
				for _, acc := range []bool{false, true} {
					if w%32 != 0 {
						break
					}
					g := slices.Clone(g)
					start := kernelMatrix(r, w) // overwritten unless acc
					wantG, wantS := slices.Clone(g), slices.Clone(start)
					reluGrad(wantG, y)
					colSum(wantS, wantG, rows, acc)
					gotS := slices.Clone(start)
					reluGradColSum(gotS, g, y, acc)
					if !bitsEqual(wantG, g) || !bitsEqual(wantS, gotS) {
						t.Errorf("reluGradColSum(acc=%v) differs from reluGrad+colSum", acc)
					}
				}
				b := kernelMatrix(r, w)
				for _, act := range []bool{false, true} {
					want := slices.Clone(y)
					for i := range want {
						want[i] += b[i%w]
					}
					if act {
						relu(want)
					}
					got := slices.Clone(y)
					addBias(got, b, act)
					if !bitsEqual(want, got) {
						t.Errorf("addBias(act=%v) differs from the Go loop", act)
					}
				}
			})
		}
	}
}

func bitsEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// TestGatherKernels: gatherInto's AVX and AVX-512 kernels give the Go
// loop's bits, for every width they take, with repeated rows and no rows.
func TestGatherKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	kernels := []gatherKernel{}
	if vec.HasGather64() {
		kernels = append(kernels, gather256)
	}
	if vec.HasGather128AVX512() {
		kernels = append(kernels, gather512)
	}
	if len(kernels) == 0 {
		t.Skip("no gather kernels on this CPU or build")
	}
	for _, d := range []int{64, 128, 192, 256} {
		for _, nk := range []int{0, 1, 10, 33} {
			const rows, stride = 50, 300
			src := kernelMatrix(r, rows*stride)
			cols := make([]int32, nk)
			ws := make([]float32, nk)
			for k := range cols {
				cols[k] = int32(r.IntN(rows))
				ws[k] = r.Float32()
			}
			if nk > 2 {
				cols[2] = cols[0] // a repeated row
			}
			off := 7 // the rows' columns start inside the stride
			want := kernelMatrix(r, d)
			gatherInto(want, src[off:], stride, cols, ws, gatherGo)
			for _, k := range kernels {
				got := kernelMatrix(r, d)
				gatherInto(got, src[off:], stride, cols, ws, k)
				if !bitsEqual(want, got) {
					t.Errorf("d=%d edges=%d: kernel %d differs from the Go loop", d, nk, k)
				}
			}
		}
	}
}

// TestNormKernels: the AVX2 row normalisation and its backward give the
// bits of the Go lane loops, and the lane loops agree with the float64
// formulas to float32 precision.
func TestNormKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, w := range []int{8, 64, 128} {
		for _, rows := range []int{1, 5, 256} {
			x := kernelMatrix(r, rows*w)
			x[0] = 0 // a zero row start; rows of zeros keep the 1e-12
			g := kernelMatrix(r, rows*w)
			wantX, wantN := slices.Clone(x), make([]float32, rows)
			normRowsGo(wantX, wantN, w)
			wantG := slices.Clone(g)
			normBackGo(wantG, wantX, wantN, w)
			// float64 formulas
			for i := 0; i < rows; i++ {
				var s float64
				for _, v := range x[i*w : i*w+w] {
					s += float64(v) * float64(v)
				}
				n := math.Sqrt(s + 1e-12)
				if math.Abs(float64(wantN[i])-n) > 1e-5*n+1e-6 {
					t.Fatalf("w=%d row %d: norm %v, want %v", w, i, wantN[i], n)
				}
				var dot float64
				for c := 0; c < w; c++ {
					dot += float64(wantX[i*w+c]) * float64(g[i*w+c])
				}
				for c := 0; c < w; c++ {
					want := (float64(g[i*w+c]) - float64(wantX[i*w+c])*dot) / float64(wantN[i])
					if got := float64(wantG[i*w+c]); math.Abs(got-want) > 1e-4*math.Max(1, math.Abs(want)) {
						t.Fatalf("w=%d row %d col %d: backward %v, want %v", w, i, c, got, want)
					}
				}
			}
			if !vec.HasConvAVX2() {
				continue
			}
			gotX, gotN := slices.Clone(x), make([]float32, rows)
			normRows(gotX, gotN, w)
			gotG := slices.Clone(g)
			normBack(gotG, gotX, gotN, w)
			if !bitsEqual(wantX, gotX) || !bitsEqual(wantN, gotN) || !bitsEqual(wantG, gotG) {
				t.Errorf("w=%d rows=%d: AVX2 norm kernels differ from the Go lane loops", w, rows)
			}
		}
	}
}

// TestReluMaskKernels: the ReLU mask bits and the column sums that read
// them give the bits of reluGrad then colSum on the values themselves.
func TestReluMaskKernels(t *testing.T) {
	if !vec.HasReluMaskAVX512() {
		t.Skip("no AVX-512 mask kernels on this CPU or build")
	}
	r := rand.New(rand.NewPCG(13, 14))
	const w = 128
	for _, rows := range []int{1, 3, 256} {
		for _, acc := range []bool{false, true} {
			y, g := kernelMatrix(r, rows*w), kernelMatrix(r, rows*w)
			mask := make([]uint16, rows*w/16)
			vec.ReluMaskAVX512(&y[0], &mask[0], len(y))
			for i, v := range y {
				if pass := mask[i/16]>>(i%16)&1 == 1; pass != (math.Float32bits(v)>>31 == 0) {
					t.Fatalf("rows=%d: mask bit %d is %v for %v", rows, i, pass, v)
				}
			}
			start := kernelMatrix(r, w)
			wantG, wantS := slices.Clone(g), slices.Clone(start)
			reluGrad(wantG, y)
			colSum(wantS, wantG, rows, acc)
			gotS := slices.Clone(start)
			vec.ReluGradColSumMaskAVX512(&gotS[0], &g[0], &mask[0], rows, acc)
			if !bitsEqual(wantG, g) || !bitsEqual(wantS, gotS) {
				t.Errorf("rows=%d acc=%v: masked column sums differ from reluGrad+colSum", rows, acc)
			}
		}
	}
}

// TestConvNetMaskBitsSameBits: a 128-wide float32 network whose message
// layers keep ReLU mask bits gives the output and gradients, bit for bit,
// of the same network reading the messages themselves.
func TestConvNetMaskBitsSameBits(t *testing.T) {
	if !vec.HasReluMaskAVX512() {
		t.Skip("no AVX-512 mask kernels on this CPU or build")
	}
	const dim, hidden, T = 16, 128, 4
	sizes := []int{40, 300, 1100}
	for ci, c := range []netCase{netCases[0], netCases[6]} {
		t.Run(c.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(ci), 15))
			arch := archOf(t, c, 2, dim, hidden, 0)
			var spec convSpec = &pinSage{k: 2, dim: dim, hidden: hidden, agg: c.agg}
			if c.model == "graphsage" {
				spec = &graphSAGE{k: 2, dim: dim, hidden: hidden, agg: c.agg}
			}
			params, idx, w := randNetInputs[float32](r, spec, arch, sizes, T)
			emb := make([]float32, sizes[2]*dim)
			ids := make([]uint32, sizes[2])
			for i := range emb {
				emb[i] = 2*r.Float32() - 1
			}
			for i := range ids {
				ids[i] = uint32(i)
			}
			var outs [][][]float32
			for _, bits := range []bool{true, false} {
				net, err := newConvNet(arch, params, parallel.NewTeam(2))
				if err != nil {
					t.Fatal(err)
				}
				used := false
				for _, l := range net.layers {
					used = used || l.maskBits
					l.maskBits = l.maskBits && bits
				}
				if !used {
					t.Fatal("no layer keeps mask bits")
				}
				net.setHops(sizes, T, idx, w, true)
				out := slices.Clone(net.forward(emb, ids, nil))
				R := make([]float32, len(out))
				for i := range R {
					R[i] = float32(i%7) - 3
				}
				got := [][]float32{out, slices.Clone(net.backward(R))}
				for _, name := range net.gradNames {
					got = append(got, slices.Clone(net.grad[name]))
				}
				outs = append(outs, got)
			}
			for i := range outs[0] {
				if !bitsEqual(outs[0][i], outs[1][i]) {
					t.Fatalf("tensor %d differs with mask bits", i)
				}
			}
		})
	}
}
