//go:build !cuda

package sage

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/trainerd/trainerd/batch"
	"github.com/trainerd/trainerd/consumer/embedcore"
	"github.com/trainerd/trainerd/consumer/loss"
)

// gnnLoss is the bridge between a convolutional model's gorgonia graph and
// package loss. The graph's output Z (one row per Layers[0] node) feeds a
// lossOp whose Do gathers the Query/Pos/Neg/Hard rows, calls
// loss.Loss.Compute (hand-written gradients on linalg.Sgemm) and scatters
// the gradients into dZ; the op's symbolic derivative returns dZ. So one
// RunAll does forward, loss and backward with no second forward pass, and
// the loss code is the one every model shares (not a gorgonia copy of it).
type gnnLoss struct {
	loss *loss.Loss
	// set per step: indices of the batch's rows into Z, and sizes
	queryIdx, posIdx, negIdx, hardIdx []int32
	hardPer                           int
	// the batch's false-negative masks (see batch.Batch)
	negMask, negMaskPtr, inMask, inMaskPtr []int32
	in                                     loss.Inputs
	dZ                                     []float32
	value                                  float64
	err                                    error
}

// setBatch points the loss at batch b's rows of Z (b.QueryIdx, …) and at
// its negative masks, for the next RunAll.
func (l *gnnLoss) setBatch(b *batch.Batch) {
	l.queryIdx, l.posIdx, l.negIdx, l.hardIdx, l.hardPer = b.QueryIdx, b.PosIdx, b.NegIdx, b.HardIdx, b.HardPer
	l.negMask, l.negMaskPtr, l.inMask, l.inMaskPtr = b.NegMask, b.NegMaskPtr, b.InMask, b.InMaskPtr
	l.err = nil
}

// compute runs the loss on Z (rows × d).
func (l *gnnLoss) compute(z []float32, rows, d int) float64 {
	B, P, H := len(l.queryIdx), len(l.negIdx), l.hardPer
	in := &l.in
	embedcore.ShapeInputs(in, B, P, H, d, l.negMask, l.negMaskPtr, l.inMask, l.inMaskPtr)
	embedcore.GatherRows(in.Q, z, l.queryIdx, d)
	embedcore.GatherRows(in.Pos, z, l.posIdx, d)
	embedcore.GatherRows(in.Pool, z, l.negIdx, d)
	embedcore.GatherRows(in.Hard, z, l.hardIdx, d)
	v, g, err := l.loss.Compute(*in)
	l.dZ = embedcore.Grow(l.dZ, rows*d)
	clear(l.dZ)
	if err != nil {
		l.err = err
		return 0
	}
	add := func(src []float32, idx []int32) {
		for k, r := range idx {
			dst := l.dZ[int(r)*d : int(r)*d+d]
			for i, x := range src[k*d : k*d+d] {
				dst[i] += x
			}
		}
	}
	add(g.Q, l.queryIdx)
	add(g.Pos, l.posIdx)
	add(g.Pool, l.negIdx)
	add(g.Hard, l.hardIdx)
	l.value = v
	return v
}

// lossOp maps Z (float32 matrix) to the scalar loss.
type lossOp struct{ l *gnnLoss }

func (op lossOp) Arity() int { return 1 }
func (op lossOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(G.TensorType{Dims: 2, Of: a}, a)
}
func (op lossOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return tensor.ScalarShape(), nil }
func (op lossOp) Do(v ...G.Value) (G.Value, error) {
	z, ok := v[0].(*tensor.Dense)
	if !ok {
		return nil, fmt.Errorf("gnn loss: want *tensor.Dense, got %T", v[0])
	}
	data, ok := z.Data().([]float32)
	if !ok {
		return nil, fmt.Errorf("gnn loss: want float32 output, got %v", z.Dtype())
	}
	val := op.l.compute(data, z.Shape()[0], z.Shape()[1])
	if op.l.err != nil {
		return nil, fmt.Errorf("gnn loss: %w", op.l.err)
	}
	return G.NewF32(float32(val)), nil
}
func (op lossOp) ReturnsPtr() bool      { return false }
func (op lossOp) CallsExtern() bool     { return false }
func (op lossOp) OverwritesInput() int  { return -1 }
func (op lossOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "GNNLoss%p", op.l) }
func (op lossOp) Hashcode() uint32      { return strHash(op.String()) }
func (op lossOp) String() string        { return fmt.Sprintf("GNNLoss(%p)", op.l) }

// DiffWRT says the loss is differentiable in Z.
func (op lossOp) DiffWRT(int) []bool { return []bool{true} }

// SymDiff returns dZ (computed by Do) scaled by the upstream gradient; it
// takes the loss node as an input so it runs after Do.
func (op lossOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	dz, err := G.ApplyOp(lossGradOp(op), inputs[0], output, grad)
	if err != nil {
		return nil, fmt.Errorf("gnn loss gradient: %w", err)
	}
	return G.Nodes{dz}, nil
}

// lossGradOp returns dZ·g (inputs Z, loss, g).
type lossGradOp struct{ l *gnnLoss }

func (op lossGradOp) Arity() int { return 3 }
func (op lossGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	m := G.TensorType{Dims: 2, Of: a}
	return hm.NewFnType(m, a, a, m)
}
func (op lossGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, ok := in[0].(tensor.Shape)
	if !ok {
		return nil, fmt.Errorf("gnn loss gradient: bad shape %v", in[0])
	}
	return s.Clone(), nil
}
func (op lossGradOp) Do(v ...G.Value) (G.Value, error) {
	z := v[0].(*tensor.Dense)
	g := float32(1)
	if s, ok := v[2].(*G.F32); ok {
		g = float32(*s)
	}
	out := make([]float32, len(op.l.dZ))
	for i, x := range op.l.dZ {
		out[i] = g * x
	}
	return tensor.New(tensor.WithShape(z.Shape().Clone()...), tensor.WithBacking(out)), nil
}
func (op lossGradOp) ReturnsPtr() bool      { return false }
func (op lossGradOp) CallsExtern() bool     { return false }
func (op lossGradOp) OverwritesInput() int  { return -1 }
func (op lossGradOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "GNNLossGrad%p", op.l) }
func (op lossGradOp) Hashcode() uint32      { return strHash(op.String()) }
func (op lossGradOp) String() string        { return fmt.Sprintf("GNNLossGrad(%p)", op.l) }

func strHash(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}
