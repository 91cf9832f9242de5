//go:build !cuda

package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// in describes one input of a checked graph: a float64 tensor (random
// values in [lo, hi) unless data is set) or an Int vector (ints set).
type in struct {
	shape  []int
	data   []float64
	ints   []int
	fixed  bool // not differentiated (constants such as weights or masks)
	lo, hi float64
}

func randIn(shape ...int) in { return in{shape: shape, lo: -1, hi: 1} }

func fixedIn(data []float64, shape ...int) in { return in{shape: shape, data: data, fixed: true} }

func intIn(ints []int) in { return in{shape: []int{len(ints)}, ints: ints, fixed: true} }

// checkGraph builds out = build(inputs) in float64, compares its forward
// value with ref (when non-nil), then compares the symbolic gradient of
// cost = Σ out ⊙ R (R random) w.r.t. every non-fixed input with central
// finite differences.
func checkGraph(t *testing.T, seed uint64, ins []in, build func(g *G.ExprGraph, x []*G.Node) (*G.Node, error), ref func(x [][]float64) []float64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	vals := make([][]float64, len(ins))
	for i, c := range ins {
		if c.ints != nil {
			continue
		}
		n := 1
		for _, s := range c.shape {
			n *= s
		}
		v := c.data
		if v == nil {
			v = make([]float64, n)
			for j := range v {
				v[j] = c.lo + (c.hi-c.lo)*r.Float64()
			}
		}
		vals[i] = v
	}
	mk := func(g *G.ExprGraph) ([]*G.Node, *G.Node) {
		nodes := make([]*G.Node, len(ins))
		for i, c := range ins {
			if c.ints != nil {
				nodes[i] = G.NewTensor(g, tensor.Int, 1, G.WithShape(c.shape...), G.WithName(name(i)), G.WithValue(tensor.New(tensor.WithShape(c.shape...), tensor.WithBacking(append([]int(nil), c.ints...)))))
				continue
			}
			nodes[i] = G.NewTensor(g, tensor.Float64, len(c.shape), G.WithShape(c.shape...), G.WithName(name(i)), G.WithValue(tensor.New(tensor.WithShape(c.shape...), tensor.WithBacking(append([]float64(nil), vals[i]...)))))
		}
		out, err := build(g, nodes)
		if err != nil {
			t.Fatalf("build: %v", err)
		}
		return nodes, out
	}
	// Forward alone: gorgonia's backward pass may overwrite forward values
	// in place (Sqrt, BroadcastHadamardDiv), so the forward check runs on a
	// graph without gradients.
	fg := G.NewGraph()
	_, fout := mk(fg)
	fvm := G.NewTapeMachine(fg)
	if err := fvm.RunAll(); err != nil {
		t.Fatalf("forward run: %v", err)
	}
	outV := append([]float64(nil), valueData(fout)...)
	fvm.Close()
	if ref != nil {
		want := ref(vals)
		if len(want) != len(outV) {
			t.Fatalf("forward: %d values, reference %d", len(outV), len(want))
		}
		for j := range want {
			if math.Abs(outV[j]-want[j]) > 1e-9*(1+math.Abs(want[j])) {
				t.Fatalf("forward[%d] = %v, reference %v", j, outV[j], want[j])
			}
		}
	}

	if len(ins) > 0 && allFixed(ins) {
		return
	}
	g := G.NewGraph()
	nodes, out := mk(g)
	var wrt []*G.Node
	var wrtIdx []int
	for i, c := range ins {
		if !c.fixed {
			wrt = append(wrt, nodes[i])
			wrtIdx = append(wrtIdx, i)
		}
	}
	rv := make([]float64, out.Shape().TotalSize())
	for j := range rv {
		rv[j] = r.Float64()*2 - 1
	}
	cost := out
	if out.Dims() > 0 {
		R := G.NewTensor(g, tensor.Float64, out.Dims(), G.WithShape(out.Shape().Clone()...), G.WithName("R"), G.WithValue(tensor.New(tensor.WithShape(out.Shape().Clone()...), tensor.WithBacking(rv))))
		prod, err := G.HadamardProd(out, R)
		if err != nil {
			t.Fatal(err)
		}
		if cost, err = G.Sum(prod); err != nil {
			t.Fatal(err)
		}
	} else {
		rv[0] = 1
	}
	grads, err := G.Grad(cost, wrt...)
	if err != nil {
		t.Fatalf("grad: %v", err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	run := func() {
		vm.Reset()
		if err := vm.RunAll(); err != nil {
			t.Fatalf("run: %v", err)
		}
	}
	run()
	var costWant float64
	for j := range outV {
		costWant += outV[j] * rv[j]
	}
	if c := cost.Value().Data().(float64); math.Abs(c-costWant) > 1e-9*(1+math.Abs(costWant)) {
		t.Fatalf("cost Σ out⊙R = %v, plain Go %v", c, costWant)
	}
	gv := make([][]float64, len(grads))
	for k, gn := range grads {
		gv[k] = append([]float64(nil), gn.Value().Data().([]float64)...)
	}
	const h = 1e-6
	for k, i := range wrtIdx {
		v := vals[i]
		// check up to 60 elements spread over the tensor
		step := max(1, len(v)/60)
		for j := 0; j < len(v); j += step {
			set := func(x float64) {
				w := append([]float64(nil), v...)
				w[j] = x
				if err := G.Let(nodes[i], tensor.New(tensor.WithShape(ins[i].shape...), tensor.WithBacking(w))); err != nil {
					t.Fatal(err)
				}
			}
			set(v[j] + h)
			run()
			cp := cost.Value().Data().(float64)
			set(v[j] - h)
			run()
			cm := cost.Value().Data().(float64)
			set(v[j])
			num := (cp - cm) / (2 * h)
			if math.Abs(num-gv[k][j]) > 1e-5*(1+math.Abs(num)) {
				t.Errorf("input %d elem %d: gradient %v, finite difference %v", i, j, gv[k][j], num)
			}
		}
	}
}

func allFixed(ins []in) bool {
	for _, c := range ins {
		if !c.fixed {
			return false
		}
	}
	return true
}

func valueData(n *G.Node) []float64 {
	switch d := n.Value().Data().(type) {
	case []float64:
		return d
	case float64:
		return []float64{d}
	}
	panic("valueData: not float64")
}

func name(i int) string { return "x" + string(rune('a'+i)) }

// hopData is a random hop: n targets with t slots into m rows; some slots
// unused (weight 0, index = the target itself).
type hopData struct {
	n, t, m         int
	idx             []int
	w, mean, mask   []float64
	idxSelf         []int
	wSelf, biasSelf []float64
}

func randHop(r *rand.Rand, n, t, m int) hopData {
	d := hopData{n: n, t: t, m: m}
	for u := 0; u < n; u++ {
		valid := 1 + r.IntN(t) // at least one valid slot
		if u == 0 {
			valid = t
		}
		var sum float64
		ws := make([]float64, t)
		for s := 0; s < t; s++ {
			if s < valid {
				d.idx = append(d.idx, r.IntN(m))
				ws[s] = 0.1 + r.Float64()
				sum += ws[s]
				d.mask = append(d.mask, 1)
			} else {
				d.idx = append(d.idx, u)
				d.mask = append(d.mask, 0)
			}
		}
		for s := 0; s < t; s++ {
			d.w = append(d.w, ws[s]/sum)
			if s < valid {
				d.mean = append(d.mean, 1/float64(valid))
			} else {
				d.mean = append(d.mean, 0)
			}
		}
		for s := 0; s < t; s++ {
			d.idxSelf = append(d.idxSelf, d.idx[u*t+s])
			if s < valid {
				d.wSelf = append(d.wSelf, 1/float64(valid+1))
				d.biasSelf = append(d.biasSelf, 0)
			} else {
				d.wSelf = append(d.wSelf, 0)
				d.biasSelf = append(d.biasSelf, -1e9)
			}
		}
		d.idxSelf = append(d.idxSelf, u)
		d.wSelf = append(d.wSelf, 1/float64(valid+1))
		d.biasSelf = append(d.biasSelf, 0)
	}
	return d
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}
