package consumer

import (
	"github.com/trainerd/trainerd/internal/parallel"
	"github.com/trainerd/trainerd/internal/vec"

	"fmt"
	"math"
	"math/rand/v2"

	"github.com/trainerd/trainerd/batch"
	"github.com/trainerd/trainerd/consumer/loss"
	"github.com/trainerd/trainerd/consumer/optim"
	"github.com/trainerd/trainerd/model"
	"github.com/trainerd/trainerd/modelspec"
)

// embedDefaults fills the zero fields the embedding models (MF, DeepWalk,
// LightGCN, NGCF) use with the defaults of the model called name (a
// modelspec name).
func embedDefaults(cfg model.Config, name string) model.Config {
	s, _ := modelspec.Lookup(name)
	return cfg.WithModelDefaults(s, model.Info{})
}

// embedCore is what every embedding model shares: the loss, the schedule,
// the step counter, gathering a batch's rows out of a global-id-indexed
// output matrix F (users 0..U-1 then items), and scattering the loss
// gradients back.
type embedCore struct {
	name     string
	cfg      model.Config
	numUsers int
	numItems int
	n        int // numUsers + numItems
	outDim   int // columns of F
	loss     *loss.Loss
	sched    optim.Schedule
	step     int
	hyperOverride

	in loss.Inputs // gather buffers, reused

	// unique-row accumulator for sparse updates
	slot    []int32
	rows    []int32
	rowGrad []float32
}

func newEmbedCore(name string, cfg model.Config, info model.Info, outDim int) (*embedCore, error) {
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
	c := &embedCore{name: name, cfg: cfg, numUsers: info.NumUsers, numItems: info.NumItems, n: n,
		outDim: outDim, loss: l, sched: s, slot: make([]int32, n)}
	for i := range c.slot {
		c.slot[i] = -1
	}
	return c, nil
}

func (c *embedCore) newOptimizer(rows, dim int) (optim.Optimizer, error) {
	o, err := optim.New(optim.Params{Kind: c.cfg.Optimizer, Threads: c.cfg.Threads}, rows, dim)
	if err != nil {
		return nil, fmt.Errorf("%s: model.optimizer: %w", c.name, err)
	}
	return o, nil
}

// lr returns the learning rate of the current step.
func (c *embedCore) lr() float32 { return c.lrAt(c.sched, c.step) }

// initNormal returns n values ~ N(0, std²) from a generator seeded by seed
// and stream.
func initNormal(n int, std float64, seed, stream uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, stream))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * std)
	}
	return v
}

// grow returns b resliced to n, or a new slice when b is too small; the
// contents are not cleared.
func grow[T any](b []T, n int) []T {
	if cap(b) < n {
		return make([]T, n)
	}
	return b[:n]
}

// check validates a batch's ids and shapes.
func (c *embedCore) check(b *batch.Batch) error {
	if err := b.Check(c.n); err != nil {
		return fmt.Errorf("%s: %w", c.name, err)
	}
	return nil
}

// gather copies the rows of F (n × outDim) the batch uses into loss inputs,
// with the batch's negative masks.
func (c *embedCore) gather(b *batch.Batch, F []float32) loss.Inputs {
	d := c.outDim
	in := &c.in
	// the producer's false-negative masks (nil in hand-built batches)
	shapeInputs(in, len(b.Query), len(b.Neg), b.HardPer, d, b.NegMask, b.NegMaskPtr, b.InMask, b.InMaskPtr)
	gatherRows(in.Q, F, b.Query, d)
	gatherRows(in.Pos, F, b.Pos, d)
	gatherRows(in.Pool, F, b.Neg, d)
	gatherRows(in.Hard, F, b.Hard, d)
	return *in
}

// shapeInputs sizes in for B examples, P pool rows and H hard negatives per
// example of width d, reusing its buffers, and sets the collision masks.
func shapeInputs(in *loss.Inputs, B, P, H, d int, negMask, negMaskPtr, inMask, inMaskPtr []int32) {
	*in = loss.Inputs{B: B, P: P, H: H, D: d, Q: grow(in.Q, B*d), Pos: grow(in.Pos, B*d),
		Pool: grow(in.Pool, P*d), Hard: grow(in.Hard, B*H*d),
		NegMask: negMask, NegMaskPtr: negMaskPtr, InMask: inMask, InMaskPtr: inMaskPtr}
}

// gatherRows copies rows ids of src (rows of width d) into dst, in order.
func gatherRows[T uint32 | int32](dst, src []float32, ids []T, d int) {
	for k, id := range ids {
		copy(dst[k*d:k*d+d], src[int(id)*d:int(id)*d+d])
	}
}

// scatterDense adds the gradients of g into G (n × outDim), in batch order.
func (c *embedCore) scatterDense(b *batch.Batch, g loss.Grads, G []float32) {
	d := c.outDim
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

// groupedGrad is gradient rows shared by groups of nodes: node j of
// ids[ptr[k]:ptr[k+1]] receives coef[j] times the d-wide row k of src (a
// user tower's history items, which share their user's gradient, each by
// its weight in the user's mean).
type groupedGrad struct {
	ids  []uint32
	ptr  []int32
	src  []float32
	coef []float32
}

// scatterSparse sums the gradients of g, then those of extra, per distinct
// node into c.rows (in order of first appearance) and c.rowGrad.
func (c *embedCore) scatterSparse(b *batch.Batch, g loss.Grads, extra groupedGrad) {
	d := c.outDim
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
	for k := 0; k+1 < len(extra.ptr); k++ {
		src := extra.src[k*d : k*d+d]
		for j := extra.ptr[k]; j < extra.ptr[k+1]; j++ {
			vec.Axpy(row(extra.ids[j]), extra.coef[j], src)
		}
	}
	for _, r := range c.rows {
		c.slot[r] = -1
	}
}

// distinctRows lists the distinct nodes of a batch in order of first
// appearance (used for the L2 term of dense models).
func (c *embedCore) distinctRows(b *batch.Batch) []int32 {
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

// l2 adds the regularisation (L2/2)·Σ‖e_r‖²/B over rows (of table E, width
// d) into grad rows (width d, indexed like rows when sparse is true, by node
// id otherwise) and returns the loss term.
func (c *embedCore) l2(E []float32, d int, rows []int32, grad []float32, sparse bool, B int) float64 {
	if c.cfg.L2 == 0 || B == 0 {
		return 0
	}
	lam := float32(c.cfg.L2 / float64(B))
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
	return 0.5 * c.cfg.L2 * sum / float64(B)
}

// embeddings splits F into users and items, L2-normalising the rows when
// the model scores by cosine similarity.
func (c *embedCore) embeddings(F []float32) *model.Embeddings {
	d := c.outDim
	out := make([]float32, len(F))
	copy(out, F)
	if c.cfg.Normalize {
		for r := 0; r < c.n; r++ {
			row := out[r*d : r*d+d]
			var s float64
			for _, v := range row {
				s += float64(v) * float64(v)
			}
			inv := float32(1 / math.Sqrt(s+1e-12))
			for i := range row {
				row[i] *= inv
			}
		}
	}
	return &model.Embeddings{Dim: d, Users: out[:c.numUsers*d], Items: out[c.numUsers*d:]}
}

// stepTensor exports the step counter.
func (c *embedCore) stepTensor() model.Tensor {
	return model.Tensor{Name: "opt/step", Shape: []int{1}, Data: []float32{float32(c.step)}}
}

func optTensors(arrs []optim.Array) []model.Tensor {
	out := make([]model.Tensor, len(arrs))
	for i, a := range arrs {
		out[i] = model.Tensor{Name: a.Name, Shape: a.Shape, Data: a.Data}
	}
	return out
}

func optArrays(ts []model.Tensor) []optim.Array {
	out := make([]optim.Array, len(ts))
	for i, t := range ts {
		out[i] = optim.Array{Name: t.Name, Shape: t.Shape, Data: t.Data}
	}
	return out
}

// cloneTensors deep-copies state so that later training does not change a
// returned snapshot.
func cloneTensors(ts []model.Tensor) []model.Tensor {
	out := make([]model.Tensor, len(ts))
	for i, t := range ts {
		out[i] = model.Tensor{Name: t.Name, Shape: append([]int(nil), t.Shape...), Data: append([]float32(nil), t.Data...)}
	}
	return out
}

// loadParams copies the named parameter tensors and the step counter out
// of state, checking sizes.
func (c *embedCore) loadParams(state []model.Tensor, params map[string][]float32) error {
	found := 0
	stepFound := false
	for _, t := range state {
		if t.Name == "opt/step" {
			if len(t.Data) != 1 {
				return fmt.Errorf("%s: load: opt/step has %d values, want 1", c.name, len(t.Data))
			}
			c.step = int(t.Data[0])
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

// parallelFor runs f over [0,n) in at most threads fixed contiguous chunks
// (inline when n < 256: not worth a goroutine).
func parallelFor(n, threads int, f func(lo, hi int)) { parallel.Chunks(n, threads, 256, f) }

// parallelChunks is parallelFor without the small-n shortcut, for loops
// whose items are already big (SpMM row chunks).
func parallelChunks(n, threads int, f func(lo, hi int)) { parallel.Chunks(n, threads, 0, f) }
