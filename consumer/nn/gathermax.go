//go:build !cuda

package nn

import (
	"fmt"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// GatherMax returns the N×h node out[n][c] = max over valid slots s of
// x[idx[n·slots+s]][c], where a slot is valid when mask[n·slots+s] > 0; a
// target without valid slots gets 0. The gradient goes to the first slot
// attaining the maximum. (ByIndices → Reshape → gorgonia's Max gives every
// tied slot the full gradient, so duplicate neighbours or identical rows
// would double-count; this op does not.)
func GatherMax(x, idx, mask *G.Node, slots int) (*G.Node, error) {
	if slots <= 0 {
		return nil, fmt.Errorf("nn.GatherMax: slots=%d must be positive", slots)
	}
	if x.Dims() != 2 || idx.Dims() != 1 || mask.Dims() != 1 || idx.Shape()[0] != mask.Shape()[0] || idx.Shape()[0]%slots != 0 {
		return nil, fmt.Errorf("nn.GatherMax: bad shapes x %v idx %v mask %v slots %d", x.Shape(), idx.Shape(), mask.Shape(), slots)
	}
	return G.ApplyOp(gatherMaxOp{slotOp{"GatherMax", slots}}, x, idx, mask)
}

// argmaxSlot returns the first valid slot of target n with the largest
// value in column c, or -1.
func argmaxSlot[F float](x []F, idx []int, mask []F, n, c, h, slots int) int {
	best := -1
	bv := F(math.Inf(-1))
	for s := 0; s < slots; s++ {
		j := n*slots + s
		if mask[j] <= 0 {
			continue
		}
		if v := x[idx[j]*h+c]; best < 0 || v > bv {
			best, bv = j, v
		}
	}
	return best
}

func gatherMax[F float](out, x []F, idx []int, mask []F, m, h, slots int) error {
	for j, r := range idx {
		if r < 0 || r >= m {
			return fmt.Errorf("nn.GatherMax: idx[%d]=%d out of range [0,%d)", j, r, m)
		}
	}
	n := len(idx) / slots
	for u := 0; u < n; u++ {
		for c := 0; c < h; c++ {
			if j := argmaxSlot(x, idx, mask, u, c, h, slots); j >= 0 {
				out[u*h+c] = x[idx[j]*h+c]
			}
		}
	}
	return nil
}

func scatterMax[F float](dx, x, g []F, idx []int, mask []F, h, slots int) {
	n := len(idx) / slots
	for u := 0; u < n; u++ {
		for c := 0; c < h; c++ {
			if j := argmaxSlot(x, idx, mask, u, c, h, slots); j >= 0 {
				dx[idx[j]*h+c] += g[u*h+c]
			}
		}
	}
}

type gatherMaxOp struct{ slotOp }

func (op gatherMaxOp) Arity() int { return 3 }
func (op gatherMaxOp) Type() hm.Type {
	return hm.NewFnType(matType(), intVecType(), vecType(), matType())
}
func (op gatherMaxOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	xs, ok1 := in[0].(tensor.Shape)
	is, ok2 := in[1].(tensor.Shape)
	if !ok1 || !ok2 || len(xs) != 2 {
		return nil, fmt.Errorf("nn.GatherMax: bad input shapes %v %v", in[0], in[1])
	}
	return tensor.Shape{is.TotalSize() / op.slots, xs[1]}, nil
}
func (op gatherMaxOp) Do(vals ...G.Value) (G.Value, error) {
	x, idx, mask, err := dense3(vals, "GatherMax")
	if err != nil {
		return nil, err
	}
	ix := idx.Data().([]int)
	m, h := x.Shape()[0], x.Shape()[1]
	out := tensor.New(tensor.Of(x.Dtype()), tensor.WithShape(len(ix)/op.slots, h))
	switch xd := x.Data().(type) {
	case []float32:
		err = gatherMax(out.Data().([]float32), xd, ix, mask.Data().([]float32), m, h, op.slots)
	case []float64:
		err = gatherMax(out.Data().([]float64), xd, ix, mask.Data().([]float64), m, h, op.slots)
	default:
		err = fmt.Errorf("nn.GatherMax: unsupported dtype %v", x.Dtype())
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

func dense3(vals []G.Value, what string) (a, b, c *tensor.Dense, err error) {
	if a, err = denseOf(vals[0], what); err != nil {
		return
	}
	if b, err = denseOf(vals[1], what); err != nil {
		return
	}
	if _, ok := b.Data().([]int); !ok {
		return nil, nil, nil, fmt.Errorf("nn.%s: idx dtype %v, want int", what, b.Dtype())
	}
	c, err = denseOf(vals[2], what)
	return
}

// DiffWRT says GatherMax is differentiable in x only.
func (op gatherMaxOp) DiffWRT(int) []bool { return []bool{true, false, false} }

// SymDiff routes each output gradient to its argmax row.
func (op gatherMaxOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	dx, err := G.ApplyOp(gatherMaxGrad{slotOp{"GatherMaxGrad", op.slots}}, inputs[0], inputs[1], inputs[2], grad)
	if err != nil {
		return nil, fmt.Errorf("nn.GatherMax: dx: %w", err)
	}
	return G.Nodes{dx, nil, nil}, nil
}

// gatherMaxGrad computes dx (inputs x, idx, mask, g).
type gatherMaxGrad struct{ slotOp }

func (op gatherMaxGrad) Arity() int { return 4 }
func (op gatherMaxGrad) Type() hm.Type {
	return hm.NewFnType(matType(), intVecType(), vecType(), matType(), matType())
}
func (op gatherMaxGrad) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	xs, ok := in[0].(tensor.Shape)
	if !ok {
		return nil, fmt.Errorf("nn.GatherMax dx: bad shape %v", in[0])
	}
	return xs.Clone(), nil
}
func (op gatherMaxGrad) Do(vals ...G.Value) (G.Value, error) {
	x, idx, mask, err := dense3(vals, "GatherMax dx")
	if err != nil {
		return nil, err
	}
	g, err := denseOf(vals[3], "GatherMax dx g")
	if err != nil {
		return nil, err
	}
	ix := idx.Data().([]int)
	h := x.Shape()[1]
	out := tensor.New(tensor.Of(x.Dtype()), tensor.WithShape(x.Shape().Clone()...))
	switch od := out.Data().(type) {
	case []float32:
		scatterMax(od, x.Data().([]float32), g.Data().([]float32), ix, mask.Data().([]float32), h, op.slots)
	case []float64:
		scatterMax(od, x.Data().([]float64), g.Data().([]float64), ix, mask.Data().([]float64), h, op.slots)
	default:
		return nil, fmt.Errorf("nn.GatherMax dx: unsupported dtype %v", x.Dtype())
	}
	return out, nil
}
