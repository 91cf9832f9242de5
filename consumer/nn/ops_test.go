//go:build !cuda

package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestGorgoniaOps proves, forward against plain Go and backward against
// finite differences, every gorgonia op this package and the consumer
// models use, on the shapes they use them with.
func TestGorgoniaOps(t *testing.T) {
	one := func(f func(x *G.Node) (*G.Node, error)) func(*G.ExprGraph, []*G.Node) (*G.Node, error) {
		return func(_ *G.ExprGraph, x []*G.Node) (*G.Node, error) { return f(x[0]) }
	}
	two := func(f func(a, b *G.Node) (*G.Node, error)) func(*G.ExprGraph, []*G.Node) (*G.Node, error) {
		return func(_ *G.ExprGraph, x []*G.Node) (*G.Node, error) { return f(x[0], x[1]) }
	}
	elem := func(f func(float64) float64) func(x [][]float64) []float64 {
		return func(x [][]float64) []float64 {
			o := make([]float64, len(x[0]))
			for i, v := range x[0] {
				o[i] = f(v)
			}
			return o
		}
	}
	idx := []int{3, 0, 3, 5, 1, 1, 2} // duplicates on purpose
	mask := []float64{1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1}
	cases := []struct {
		name  string
		ins   []in
		build func(*G.ExprGraph, []*G.Node) (*G.Node, error)
		ref   func(x [][]float64) []float64
	}{
		{"Mul", []in{randIn(4, 3), randIn(3, 5)}, two(G.Mul), func(x [][]float64) []float64 {
			o := make([]float64, 4*5)
			for i := 0; i < 4; i++ {
				for j := 0; j < 5; j++ {
					for k := 0; k < 3; k++ {
						o[i*5+j] += x[0][i*3+k] * x[1][k*5+j]
					}
				}
			}
			return o
		}},
		{"BroadcastAdd rows", []in{randIn(4, 3), randIn(1, 3)}, two(func(a, b *G.Node) (*G.Node, error) { return G.BroadcastAdd(a, b, nil, []byte{0}) }), func(x [][]float64) []float64 {
			o := make([]float64, 12)
			for i := range o {
				o[i] = x[0][i] + x[1][i%3]
			}
			return o
		}},
		{"BroadcastAdd cols", []in{randIn(4, 3), randIn(4, 1)}, two(func(a, b *G.Node) (*G.Node, error) { return G.BroadcastAdd(a, b, nil, []byte{1}) }), func(x [][]float64) []float64 {
			o := make([]float64, 12)
			for i := range o {
				o[i] = x[0][i] + x[1][i/3]
			}
			return o
		}},
		{"Add", []in{randIn(4, 3), randIn(4, 3)}, two(G.Add), func(x [][]float64) []float64 {
			o := make([]float64, 12)
			for i := range o {
				o[i] = x[0][i] + x[1][i]
			}
			return o
		}},
		{"Add scalar", []in{randIn(6)}, one(func(x *G.Node) (*G.Node, error) { return G.Add(x, G.NewConstant(0.25)) }), elem(func(v float64) float64 { return v + 0.25 })},
		{"Rectify", []in{randIn(5, 4)}, one(G.Rectify), elem(func(v float64) float64 { return math.Max(v, 0) })},
		{"HadamardProd scalar", []in{randIn(5, 4)}, one(func(x *G.Node) (*G.Node, error) { return G.HadamardProd(x, G.NewConstant(0.2)) }), elem(func(v float64) float64 { return 0.2 * v })},
		{"MaxBetween", []in{randIn(5, 4), randIn(5, 4)}, two(G.MaxBetween), func(x [][]float64) []float64 {
			o := make([]float64, 20)
			for i := range o {
				o[i] = math.Max(x[0][i], x[1][i])
			}
			return o
		}},
		{"Square", []in{randIn(3, 4)}, one(G.Square), elem(func(v float64) float64 { return v * v })},
		{"Sqrt", []in{{shape: []int{7}, lo: 0.5, hi: 2}}, one(G.Sqrt), elem(math.Sqrt)},
		{"Sum axis 1", []in{randIn(4, 3)}, one(func(x *G.Node) (*G.Node, error) { return G.Sum(x, 1) }), func(x [][]float64) []float64 {
			o := make([]float64, 4)
			for i, v := range x[0] {
				o[i/3] += v
			}
			return o
		}},
		{"Sum all", []in{randIn(4, 3)}, one(func(x *G.Node) (*G.Node, error) { return G.Sum(x) }), func(x [][]float64) []float64 {
			var s float64
			for _, v := range x[0] {
				s += v
			}
			return []float64{s}
		}},
		{"Reshape", []in{randIn(4, 6)}, one(func(x *G.Node) (*G.Node, error) { return G.Reshape(x, tensor.Shape{2, 3, 4}) }), elem(func(v float64) float64 { return v })},
		{"BroadcastHadamardDiv cols", []in{randIn(4, 3), {shape: []int{4, 1}, lo: 0.5, hi: 2}}, two(func(a, b *G.Node) (*G.Node, error) { return G.BroadcastHadamardDiv(a, b, nil, []byte{1}) }), func(x [][]float64) []float64 {
			o := make([]float64, 12)
			for i := range o {
				o[i] = x[0][i] / x[1][i/3]
			}
			return o
		}},
		{"BroadcastHadamardProd cols", []in{randIn(4, 3), randIn(4, 1)}, two(func(a, b *G.Node) (*G.Node, error) { return G.BroadcastHadamardProd(a, b, nil, []byte{1}) }), func(x [][]float64) []float64 {
			o := make([]float64, 12)
			for i := range o {
				o[i] = x[0][i] * x[1][i/3]
			}
			return o
		}},
		{"ByIndices axis 0", []in{randIn(6, 3), intIn(idx)}, two(func(a, b *G.Node) (*G.Node, error) { return G.ByIndices(a, b, 0) }), func(x [][]float64) []float64 {
			var o []float64
			for _, r := range idx {
				o = append(o, x[0][r*3:r*3+3]...)
			}
			return o
		}},
		{"ByIndices column", []in{randIn(6, 1), intIn(idx)}, two(func(a, b *G.Node) (*G.Node, error) { return G.ByIndices(a, b, 0) }), func(x [][]float64) []float64 {
			var o []float64
			for _, r := range idx {
				o = append(o, x[0][r])
			}
			return o
		}},
		{"Max axis 1 of 3-D", []in{randIn(2, 3, 4)}, one(func(x *G.Node) (*G.Node, error) { return G.Max(x, 1) }), func(x [][]float64) []float64 {
			o := make([]float64, 8)
			for i := 0; i < 2; i++ {
				for c := 0; c < 4; c++ {
					m := math.Inf(-1)
					for s := 0; s < 3; s++ {
						m = math.Max(m, x[0][i*12+s*4+c])
					}
					o[i*4+c] = m
				}
			}
			return o
		}},
		{"Concat axis 1", []in{randIn(3, 2), randIn(3, 4)}, two(func(a, b *G.Node) (*G.Node, error) { return G.Concat(1, a, b) }), func(x [][]float64) []float64 {
			var o []float64
			for i := 0; i < 3; i++ {
				o = append(o, x[0][i*2:i*2+2]...)
				o = append(o, x[1][i*4:i*4+4]...)
			}
			return o
		}},
		{"SoftMax axis 1 masked", []in{{shape: []int{3, 4}, lo: -3, hi: 3}, fixedIn([]float64{0, -1e9, 0, 0, 0, 0, 0, -1e9, -1e9, -1e9, 0, 0}, 3, 4)}, two(func(a, b *G.Node) (*G.Node, error) {
			s, err := G.Add(a, b)
			if err != nil {
				return nil, err
			}
			return G.SoftMax(s, 1)
		}), func(x [][]float64) []float64 {
			o := make([]float64, 12)
			for i := 0; i < 3; i++ {
				var z float64
				for j := 0; j < 4; j++ {
					o[i*4+j] = math.Exp(x[0][i*4+j] + x[1][i*4+j])
					z += o[i*4+j]
				}
				for j := 0; j < 4; j++ {
					o[i*4+j] /= z
				}
			}
			return o
		}},
		{"GatherSum", []in{randIn(6, 3), intIn(idx[:6]), randIn(6)}, func(_ *G.ExprGraph, x []*G.Node) (*G.Node, error) { return GatherSum(x[0], x[1], x[2], 2) }, func(x [][]float64) []float64 {
			o := make([]float64, 9)
			for j, r := range idx[:6] {
				for c := 0; c < 3; c++ {
					o[(j/2)*3+c] += x[2][j] * x[0][r*3+c]
				}
			}
			return o
		}},
		{"GatherMax", []in{randIn(6, 2), intIn([]int{0, 1, 2, 3, 4, 5, 5, 4, 3, 2, 1, 0}), fixedIn(mask, 12)}, func(_ *G.ExprGraph, x []*G.Node) (*G.Node, error) {
			return Pool(x[0], Hop{N: 3, T: 4, Idx: x[1], Mask: x[2]}, "max")
		}, func(x [][]float64) []float64 {
			ix := []int{0, 1, 2, 3, 4, 5, 5, 4, 3, 2, 1, 0}
			o := make([]float64, 6)
			for i := range o {
				o[i] = math.Inf(-1)
			}
			for j, r := range ix {
				for c := 0; c < 2; c++ {
					if mask[j] > 0 {
						o[(j/4)*2+c] = math.Max(o[(j/4)*2+c], x[0][r*2+c])
					}
				}
			}
			return o
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { checkGraph(t, uint64(i+1), tc.ins, tc.build, tc.ref) })
	}
}

// TestGatherSumFloat32 checks the float32 kernels against float64.
func TestGatherSumFloat32(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	m, h, slots := 9, 5, 3
	idx := []int{0, 8, 8, 2, 3, 4, 7, 7, 1, 0, 0, 0}
	x32, w32 := make([]float32, m*h), make([]float32, len(idx))
	x64, w64 := make([]float64, m*h), make([]float64, len(idx))
	for i := range x32 {
		x32[i] = r.Float32()
		x64[i] = float64(x32[i])
	}
	for i := range w32 {
		w32[i] = r.Float32()
		w64[i] = float64(w32[i])
	}
	n := len(idx) / slots
	o32, o64 := make([]float32, n*h), make([]float64, n*h)
	if err := gatherSum(o32, x32, idx, w32, m, h, slots); err != nil {
		t.Fatal(err)
	}
	if err := gatherSum(o64, x64, idx, w64, m, h, slots); err != nil {
		t.Fatal(err)
	}
	for i := range o32 {
		if math.Abs(float64(o32[i])-o64[i]) > 1e-5 {
			t.Fatalf("out[%d]: float32 %v float64 %v", i, o32[i], o64[i])
		}
	}
	if err := gatherSum(o64, x64, []int{0, 9, 0}, w64[:3], m, h, slots); err == nil {
		t.Fatal("out-of-range index: want error")
	}
}
