//go:build !cuda

package nn

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// GatherSum returns the N×h node out[n] = Σ_{s<slots} w[n·slots+s] · x[idx[n·slots+s]]
// for x of shape M×h, idx an Int vector of N·slots row indices into x and w
// a vector of N·slots weights of x's dtype. It is the fused form of
// ByIndices → broadcast multiply → Reshape → Sum(axis 1): one pass, no
// (N·slots)×h intermediate. Its gradient is a weighted scatter-add into x
// and a row dot product for w, both hand-written and tested against finite
// differences.
func GatherSum(x, idx, w *G.Node, slots int) (*G.Node, error) {
	if slots <= 0 {
		return nil, fmt.Errorf("nn.GatherSum: slots=%d must be positive", slots)
	}
	if x.Dims() != 2 || idx.Dims() != 1 || w.Dims() != 1 {
		return nil, fmt.Errorf("nn.GatherSum: want x matrix, idx and w vectors; got shapes %v %v %v", x.Shape(), idx.Shape(), w.Shape())
	}
	if idx.Shape()[0] != w.Shape()[0] || idx.Shape()[0]%slots != 0 {
		return nil, fmt.Errorf("nn.GatherSum: idx %v and w %v must have equal length divisible by slots=%d", idx.Shape(), w.Shape(), slots)
	}
	return G.ApplyOp(gatherSumOp{slotOp{"GatherSum", slots}}, x, idx, w)
}

// The ops' types: x and out are matrices, w a vector, all of one dtype a.
func matType() hm.Type    { return G.TensorType{Dims: 2, Of: hm.TypeVariable('a')} }
func vecType() hm.Type    { return G.TensorType{Dims: 1, Of: hm.TypeVariable('a')} }
func intVecType() hm.Type { return G.TensorType{Dims: 1, Of: tensor.Int} }

type float interface{ float32 | float64 }

// denseOf unwraps a Value into a *tensor.Dense.
func denseOf(v G.Value, what string) (*tensor.Dense, error) {
	d, ok := v.(*tensor.Dense)
	if !ok {
		return nil, fmt.Errorf("nn: %s: want *tensor.Dense, got %T", what, v)
	}
	return d, nil
}

func hashOf(s fmt.Stringer) uint32 {
	h := fnv.New32a()
	fmt.Fprint(h, s.String())
	return h.Sum32()
}

// slotOp is what the fused gather ops share: a name and the slot count, the
// gorgonia.Op methods that follow from them (pure, no extern call, no
// in-place write) and a hash of the name and slots.
type slotOp struct {
	name  string
	slots int
}

func (op slotOp) ReturnsPtr() bool      { return false }
func (op slotOp) CallsExtern() bool     { return false }
func (op slotOp) OverwritesInput() int  { return -1 }
func (op slotOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op slotOp) Hashcode() uint32      { return hashOf(op) }
func (op slotOp) String() string        { return fmt.Sprintf("%s{slots=%d}", op.name, op.slots) }

// gatherSumOp is the forward op of GatherSum.
type gatherSumOp struct{ slotOp }

func (op gatherSumOp) Arity() int { return 3 }
func (op gatherSumOp) Type() hm.Type {
	return hm.NewFnType(matType(), intVecType(), vecType(), matType())
}
func (op gatherSumOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	xs, ok1 := in[0].(tensor.Shape)
	is, ok2 := in[1].(tensor.Shape)
	if !ok1 || !ok2 || len(xs) != 2 {
		return nil, fmt.Errorf("nn.GatherSum: bad input shapes %v %v", in[0], in[1])
	}
	return tensor.Shape{is.TotalSize() / op.slots, xs[1]}, nil
}
func (op gatherSumOp) Do(vals ...G.Value) (G.Value, error) {
	x, err := denseOf(vals[0], "GatherSum x")
	if err != nil {
		return nil, err
	}
	idx, err := denseOf(vals[1], "GatherSum idx")
	if err != nil {
		return nil, err
	}
	w, err := denseOf(vals[2], "GatherSum w")
	if err != nil {
		return nil, err
	}
	ix, ok := idx.Data().([]int)
	if !ok {
		return nil, fmt.Errorf("nn.GatherSum: idx dtype %v, want int", idx.Dtype())
	}
	m, h := x.Shape()[0], x.Shape()[1]
	n := len(ix) / op.slots
	out := tensor.New(tensor.Of(x.Dtype()), tensor.WithShape(n, h))
	switch xd := x.Data().(type) {
	case []float32:
		err = gatherSum(out.Data().([]float32), xd, ix, w.Data().([]float32), m, h, op.slots)
	case []float64:
		err = gatherSum(out.Data().([]float64), xd, ix, w.Data().([]float64), m, h, op.slots)
	default:
		err = fmt.Errorf("nn.GatherSum: unsupported dtype %v", x.Dtype())
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// gatherSum is the forward kernel: out (n×h) = Σ_s w·x[idx].
func gatherSum[F float](out, x []F, idx []int, w []F, m, h, slots int) error {
	for j, r := range idx {
		if r < 0 || r >= m {
			return fmt.Errorf("nn.GatherSum: idx[%d]=%d out of range [0,%d)", j, r, m)
		}
		wj := w[j]
		if wj == 0 {
			continue
		}
		o := out[(j/slots)*h : (j/slots+1)*h]
		xr := x[r*h : (r+1)*h]
		for c := range o {
			o[c] += wj * xr[c]
		}
	}
	return nil
}

// DiffWRT says GatherSum is differentiable in x and w, not in idx.
func (op gatherSumOp) DiffWRT(inputs int) []bool { return []bool{true, false, true} }

// SymDiff builds dx = scatter(w·g) and dw = rowdot(g, x[idx]).
func (op gatherSumOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	x, idx, w := inputs[0], inputs[1], inputs[2]
	dx, err := G.ApplyOp(gatherSumGradX{slotOp{"GatherSumGradX", op.slots}}, x, idx, w, grad)
	if err != nil {
		return nil, fmt.Errorf("nn.GatherSum: dx: %w", err)
	}
	dw, err := G.ApplyOp(gatherSumGradW{slotOp{"GatherSumGradW", op.slots}}, x, idx, grad)
	if err != nil {
		return nil, fmt.Errorf("nn.GatherSum: dw: %w", err)
	}
	return G.Nodes{dx, nil, dw}, nil
}

// gatherSumGradX computes dx[idx[j]] += w[j]·g[j/slots] (inputs x, idx, w, g).
type gatherSumGradX struct{ slotOp }

func (op gatherSumGradX) Arity() int { return 4 }
func (op gatherSumGradX) Type() hm.Type {
	return hm.NewFnType(matType(), intVecType(), vecType(), matType(), matType())
}
func (op gatherSumGradX) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	xs, ok := in[0].(tensor.Shape)
	if !ok {
		return nil, fmt.Errorf("nn.GatherSum dx: bad shape %v", in[0])
	}
	return xs.Clone(), nil
}
func (op gatherSumGradX) Do(vals ...G.Value) (G.Value, error) {
	x, err := denseOf(vals[0], "GatherSum dx x")
	if err != nil {
		return nil, err
	}
	idx, err := denseOf(vals[1], "GatherSum dx idx")
	if err != nil {
		return nil, err
	}
	w, err := denseOf(vals[2], "GatherSum dx w")
	if err != nil {
		return nil, err
	}
	g, err := denseOf(vals[3], "GatherSum dx g")
	if err != nil {
		return nil, err
	}
	ix := idx.Data().([]int)
	h := x.Shape()[1]
	out := tensor.New(tensor.Of(x.Dtype()), tensor.WithShape(x.Shape().Clone()...))
	switch od := out.Data().(type) {
	case []float32:
		scatterSum(od, g.Data().([]float32), ix, w.Data().([]float32), h, op.slots)
	case []float64:
		scatterSum(od, g.Data().([]float64), ix, w.Data().([]float64), h, op.slots)
	default:
		return nil, fmt.Errorf("nn.GatherSum dx: unsupported dtype %v", x.Dtype())
	}
	return out, nil
}

// scatterSum is GatherSum's backward kernel for x.
func scatterSum[F float](dx, g []F, idx []int, w []F, h, slots int) {
	for j, r := range idx {
		wj := w[j]
		if wj == 0 {
			continue
		}
		gr := g[(j/slots)*h : (j/slots+1)*h]
		d := dx[r*h : (r+1)*h]
		for c := range d {
			d[c] += wj * gr[c]
		}
	}
}

// gatherSumGradW computes dw[j] = <g[j/slots], x[idx[j]]> (inputs x, idx, g).
type gatherSumGradW struct{ slotOp }

func (op gatherSumGradW) Arity() int { return 3 }
func (op gatherSumGradW) Type() hm.Type {
	return hm.NewFnType(matType(), intVecType(), matType(), vecType())
}
func (op gatherSumGradW) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	is, ok := in[1].(tensor.Shape)
	if !ok {
		return nil, fmt.Errorf("nn.GatherSum dw: bad shape %v", in[1])
	}
	return tensor.Shape{is.TotalSize()}, nil
}
func (op gatherSumGradW) Do(vals ...G.Value) (G.Value, error) {
	x, err := denseOf(vals[0], "GatherSum dw x")
	if err != nil {
		return nil, err
	}
	idx, err := denseOf(vals[1], "GatherSum dw idx")
	if err != nil {
		return nil, err
	}
	g, err := denseOf(vals[2], "GatherSum dw g")
	if err != nil {
		return nil, err
	}
	ix := idx.Data().([]int)
	h := x.Shape()[1]
	out := tensor.New(tensor.Of(x.Dtype()), tensor.WithShape(len(ix)))
	switch od := out.Data().(type) {
	case []float32:
		rowDots(od, x.Data().([]float32), g.Data().([]float32), ix, h, op.slots)
	case []float64:
		rowDots(od, x.Data().([]float64), g.Data().([]float64), ix, h, op.slots)
	default:
		return nil, fmt.Errorf("nn.GatherSum dw: unsupported dtype %v", x.Dtype())
	}
	return out, nil
}

// rowDots is GatherSum's backward kernel for w.
func rowDots[F float](dw, x, g []F, idx []int, h, slots int) {
	for j, r := range idx {
		gr := g[(j/slots)*h : (j/slots+1)*h]
		xr := x[r*h : (r+1)*h]
		var s F
		for c := range gr {
			s += gr[c] * xr[c]
		}
		dw[j] = s
	}
}
