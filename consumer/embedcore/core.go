package embedcore

import (
	"context"
	"fmt"

	"github.com/trainerd/trainerd/batch"
	"github.com/trainerd/trainerd/consumer/loss"
	"github.com/trainerd/trainerd/consumer/optim"
	"github.com/trainerd/trainerd/internal/vec"
	"github.com/trainerd/trainerd/model"
)

// Core is what every model with one output matrix shares: the loss, the
// schedule, the step counter, gathering a batch's rows out of a global-id-indexed
// output matrix F (users 0..U-1 then items), and scattering the loss
// gradients back.
type Core struct {
	name string
	// Cfg is the model's configuration, defaults filled.
	Cfg model.Config
	// NumUsers and NumItems count the nodes; N is their sum, the rows of F.
	NumUsers, NumItems, N int
	// OutDim is the number of columns of F.
	OutDim int
	// Loss is the model's loss.
	Loss  *loss.Loss
	sched optim.Schedule
	// Steps counts the optimiser steps taken.
	Steps int
	HyperOverride

	in loss.Inputs // gather buffers, reused

	// unique-row accumulator for sparse updates
	slot    []int32
	rows    []int32
	rowGrad []float32
}

// NewCore checks info and builds the loss and the schedule cfg (defaults
// filled) names, for a model called name whose output has outDim columns.
func NewCore(name string, cfg model.Config, info model.Info, outDim int) (*Core, error) {
	if info.NumUsers <= 0 || info.NumItems <= 0 {
		return nil, fmt.Errorf("%s: need users and items, got %d users and %d items", name, info.NumUsers, info.NumItems)
	}
	l, err := loss.New(loss.Config{Kind: cfg.Loss, Margin: float32(cfg.Margin), NegWeight: float32(cfg.NegWeight), Temperature: float32(cfg.Temperature),
		InBatch: cfg.InBatch, Cosine: cfg.Normalize, Threads: cfg.Threads})
	if err != nil {
		return nil, fmt.Errorf("%s: model.loss: %w", name, err)
	}
	s := optim.Schedule{Kind: cfg.LRSchedule, Base: cfg.LR, Warmup: cfg.WarmupSteps, DecaySteps: cfg.DecaySteps,
		DecayRate: cfg.DecayRate, MinLR: cfg.MinLR}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("%s: model.lr_schedule: %w", name, err)
	}
	n := info.NumUsers + info.NumItems
	c := &Core{name: name, Cfg: cfg, NumUsers: info.NumUsers, NumItems: info.NumItems, N: n,
		OutDim: outDim, Loss: l, sched: s, slot: make([]int32, n)}
	for i := range c.slot {
		c.slot[i] = -1
	}
	return c, nil
}

// NewOptimizer builds the configured optimiser over a rows×dim parameter.
func (c *Core) NewOptimizer(rows, dim int) (optim.Optimizer, error) {
	o, err := optim.New(optim.Params{Kind: c.Cfg.Optimizer, Threads: c.Cfg.Threads}, rows, dim)
	if err != nil {
		return nil, fmt.Errorf("%s: model.optimizer: %w", c.name, err)
	}
	return o, nil
}

// Name implements model.Model.
func (c *Core) Name() string { return c.name }

// LR returns the learning rate of the current step.
func (c *Core) LR() float32 { return c.LRAt(c.sched, c.Steps) }

// Begin opens a training step: it fails when ctx is done or the batch's
// ids or shapes are wrong, and returns the number of examples (0: nothing
// to train on).
func (c *Core) Begin(ctx context.Context, b *batch.Batch) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := c.Check(b); err != nil {
		return 0, err
	}
	return b.Size(), nil
}

// Check validates a batch's ids and shapes.
func (c *Core) Check(b *batch.Batch) error {
	if err := b.Check(c.N); err != nil {
		return fmt.Errorf("%s: %w", c.name, err)
	}
	return nil
}

// Gather copies the rows of F (N × OutDim) the batch uses into loss inputs,
// with the batch's negative masks.
func (c *Core) Gather(b *batch.Batch, F []float32) loss.Inputs {
	d := c.OutDim
	in := &c.in
	// the producer's false-negative masks (nil in hand-built batches)
	ShapeInputs(in, len(b.Query), len(b.Neg), b.HardPer, d, b.NegMask, b.NegMaskPtr, b.InMask, b.InMaskPtr)
	GatherRows(in.Q, F, b.Query, d)
	GatherRows(in.Pos, F, b.Pos, d)
	GatherRows(in.Pool, F, b.Neg, d)
	GatherRows(in.Hard, F, b.Hard, d)
	return *in
}

// ScatterDense adds the gradients of g into G (N × OutDim), in batch order.
func (c *Core) ScatterDense(b *batch.Batch, g loss.Grads, G []float32) {
	d := c.OutDim
	add := func(src []float32, ids []uint32) {
		for k, id := range ids {
			vec.Add(G[int(id)*d:int(id)*d+d], src[k*d:k*d+d])
		}
	}
	add(g.Q, b.Query)
	add(g.Pos, b.Pos)
	add(g.Pool, b.Neg)
	add(g.Hard, b.Hard)
}

// GroupedGrad is gradient rows shared by groups of nodes: node j of
// IDs[Ptr[k]:Ptr[k+1]] receives Coef[j] times the d-wide row k of Src (a
// user tower's history items, which share their user's gradient, each by
// its weight in the user's mean).
type GroupedGrad struct {
	IDs  []uint32
	Ptr  []int32
	Src  []float32
	Coef []float32
}

// ScatterSparse sums the gradients of g, then those of extra, per distinct
// node and returns the nodes (in order of first appearance) and their
// gradient rows, valid until the next call.
func (c *Core) ScatterSparse(b *batch.Batch, g loss.Grads, extra GroupedGrad) (rows []int32, rowGrad []float32) {
	d := c.OutDim
	c.rows = c.rows[:0]
	c.rowGrad = c.rowGrad[:0]
	row := func(id uint32) []float32 {
		s := c.slot[id]
		if s < 0 {
			s = int32(len(c.rows))
			c.slot[id] = s
			c.rows = append(c.rows, int32(id))
			c.rowGrad = append(c.rowGrad, make([]float32, d)...)
		}
		return c.rowGrad[int(s)*d : int(s)*d+d]
	}
	add := func(src []float32, ids []uint32) {
		for k, id := range ids {
			vec.Add(row(id), src[k*d:k*d+d])
		}
	}
	add(g.Q, b.Query)
	add(g.Pos, b.Pos)
	add(g.Pool, b.Neg)
	add(g.Hard, b.Hard)
	for k := 0; k+1 < len(extra.Ptr); k++ {
		src := extra.Src[k*d : k*d+d]
		for j := extra.Ptr[k]; j < extra.Ptr[k+1]; j++ {
			vec.Axpy(row(extra.IDs[j]), extra.Coef[j], src)
		}
	}
	for _, r := range c.rows {
		c.slot[r] = -1
	}
	return c.rows, c.rowGrad
}

// DistinctRows lists the distinct nodes of a batch in order of first
// appearance (used for the L2 term of dense models).
func (c *Core) DistinctRows(b *batch.Batch) []int32 {
	c.rows = c.rows[:0]
	for _, ids := range [][]uint32{b.Query, b.Pos, b.Neg, b.Hard} {
		for _, id := range ids {
			if c.slot[id] < 0 {
				c.slot[id] = 0
				c.rows = append(c.rows, int32(id))
			}
		}
	}
	for _, r := range c.rows {
		c.slot[r] = -1
	}
	return c.rows
}

// L2 adds the regularisation (L2/2)·Σ‖e_r‖²/B over rows (of table E, width
// d) into grad rows (width d, indexed like rows when sparse is true, by node
// id otherwise) and returns the loss term.
func (c *Core) L2(E []float32, d int, rows []int32, grad []float32, sparse bool, B int) float64 {
	if c.Cfg.L2 == 0 || B == 0 {
		return 0
	}
	lam := float32(c.Cfg.L2 / float64(B))
	var sum float64
	for k, r := range rows {
		e := E[int(r)*d : int(r)*d+d]
		gi := int(r)
		if sparse {
			gi = k
		}
		g := grad[gi*d : gi*d+d]
		for i, v := range e {
			sum += float64(v) * float64(v)
			g[i] += lam * v
		}
	}
	return 0.5 * c.Cfg.L2 * sum / float64(B)
}

// Embeddings splits F into users and items, L2-normalising the rows when
// the model scores by cosine similarity.
func (c *Core) Embeddings(F []float32) *model.Embeddings {
	d := c.OutDim
	out := make([]float32, len(F))
	copy(out, F)
	if c.Cfg.Normalize {
		NormalizeRows(out, d)
	}
	return &model.Embeddings{Dim: d, Users: out[:c.NumUsers*d], Items: out[c.NumUsers*d:]}
}

// StepTensor exports the step counter.
func (c *Core) StepTensor() model.Tensor {
	return model.Tensor{Name: "opt/step", Shape: []int{1}, Data: []float32{float32(c.Steps)}}
}

// LoadParams copies the named parameter tensors and the step counter out
// of state, checking sizes.
func (c *Core) LoadParams(state []model.Tensor, params map[string][]float32) error {
	found := 0
	stepFound := false
	for _, t := range state {
		if t.Name == "opt/step" {
			if len(t.Data) != 1 {
				return fmt.Errorf("%s: load: opt/step has %d values, want 1", c.name, len(t.Data))
			}
			c.Steps = int(t.Data[0])
			stepFound = true
			continue
		}
		dst, ok := params[t.Name]
		if !ok {
			continue
		}
		if len(dst) != len(t.Data) {
			return fmt.Errorf("%s: load: %s has %d values, want %d", c.name, t.Name, len(t.Data), len(dst))
		}
		copy(dst, t.Data)
		found++
	}
	if found != len(params) || !stepFound {
		return fmt.Errorf("%s: load: found %d of %d parameter tensors (step counter found: %v)", c.name, found, len(params), stepFound)
	}
	return nil
}

// ShapeInputs sizes in for B examples, P pool rows and H hard negatives per
// example of width d, reusing its buffers, and sets the collision masks.
func ShapeInputs(in *loss.Inputs, B, P, H, d int, negMask, negMaskPtr, inMask, inMaskPtr []int32) {
	*in = loss.Inputs{B: B, P: P, H: H, D: d, Q: Grow(in.Q, B*d), Pos: Grow(in.Pos, B*d),
		Pool: Grow(in.Pool, P*d), Hard: Grow(in.Hard, B*H*d),
		NegMask: negMask, NegMaskPtr: negMaskPtr, InMask: inMask, InMaskPtr: inMaskPtr}
}

// GatherRows copies rows ids of src (rows of width d) into dst, in order.
func GatherRows[T uint32 | int32](dst, src []float32, ids []T, d int) {
	for k, id := range ids {
		copy(dst[k*d:k*d+d], src[int(id)*d:int(id)*d+d])
	}
}
