//go:build cuda

package cuda

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/trainerd/trainerd/batch"
	"github.com/trainerd/trainerd/consumer/embedcore"
	"github.com/trainerd/trainerd/consumer/optim"
	"github.com/trainerd/trainerd/model"
	"github.com/trainerd/trainerd/modelspec"
)

// PinSage is consumer/sage's PinSage on the GPU: the producer's K hops
// convolved layer by layer (messages ReLU(h·Q + q) for every row of the
// layer below, importance- or mean-weighted pooling over each target's
// valid slots, z = ReLU([h_self ‖ pooled]·W + b), row L2 normalisation),
// then the dense pair G2·ReLU(G1·z + g1). Inputs are id embeddings (one
// table, sparse Adam on the rows of Layers[K]), store features through
// proj/W, proj/b, or both; every layer parameter has dense Adam. Parameter
// and optimiser state carry the CPU model's names and shapes, and the
// initial values are the CPU model's for the same seed, so checkpoints move
// between the two. The max aggregator has no kernel here: it trains on CPU.
type PinSage struct {
	name    string
	cfg     model.Config
	info    model.Info
	dev     *Device
	k, d    int
	hidden  int
	uniform bool
	useID   bool
	useFeat bool
	featDim int
	n       int // users + items
	sched   optim.Schedule
	adam    AdamParams
	lossCfg LossConfig
	step    int

	params []*sageParam
	byName map[string]*sageParam
	pmem   *Arena
	table  F32 // id table (useID) and its Adam state
	tm, tv F32
	tsteps F32

	work *Arena
	cap  sageCap
	loss *RankLoss
	// activations and gradients, sized for cap
	h0, dh0   F32
	ls        []sageLayerBufs
	y1, dy1   F32 // dense pair hidden (N0×hidden)
	out, dout F32 // N0×dim
	xl, gl    F32 // loss rows [Q | Pos | Pool | Hard]
	sumsq     F64
	lossOut   *Pinned
	slots     [2]sageSlot
	cur       int
	nbrFn     model.NeighborFunc
	embedT    int
	evWait    cu.Event
	evStart   cu.Event
	evEnd     cu.Event
	timing    Timing
}

// sageParam is one dense parameter on the device with its gradient and
// Adam state (rows × cols, per-row step counters as consumer/optim keeps).
type sageParam struct {
	name        string
	rows, cols  int
	val, grad   F32
	m, v, steps F32
	init        []float32
}

// sageLayerBufs are one convolution layer's device buffers.
type sageLayerBufs struct {
	m, dm           F32 // messages M×hid and their gradient
	pooled, dpooled F32 // N×hid
	out, dout       F32 // N×hid: output (normalised in place) and gradient
	inv             F32 // N inverse norms
}

// sageCap is the capacity the work buffers were sized for.
type sageCap struct {
	sizes      []int
	t, b, p, h int
}

func (c sageCap) fits(o sageCap) bool {
	if len(c.sizes) != len(o.sizes) {
		return false
	}
	for i, s := range c.sizes {
		if s > o.sizes[i] {
			return false
		}
	}
	return c.t <= o.t && c.b <= o.b && c.p <= o.p && c.h <= o.h
}

func (c sageCap) union(o sageCap) sageCap {
	if len(o.sizes) != len(c.sizes) {
		return c
	}
	u := sageCap{sizes: make([]int, len(c.sizes)), t: max(c.t, o.t), b: max(c.b, o.b), p: max(c.p, o.p), h: max(c.h, o.h)}
	for i := range c.sizes {
		u.sizes[i] = max(c.sizes[i], o.sizes[i])
	}
	return u
}

// sageSlot is one of two upload buffers: the batch's Layers[K] ids, hop
// indices and pooling weights, loss row indices, features and masks, in one
// pinned buffer copied with one call.
type sageSlot struct {
	batch    *batch.Batch
	c        sageCap
	host     *Pinned
	dev      cu.DevicePtr
	words    int // capacity in 4-byte words
	ids      I32
	idx      []I32
	w        []F32
	lossIdx  I32
	feat     F32
	masks    Masks
	copyDone cu.Event
}

// NewPinSage builds PinSage on dev.
func NewPinSage(dev *Device, cfg model.Config, info model.Info) (*PinSage, error) {
	cfg = embedcore.Defaults(cfg, modelspec.PinSage, info)
	const name = modelspec.PinSage
	if info.NumUsers <= 0 || info.NumItems <= 0 {
		return nil, fmt.Errorf("%s (cuda): need users and items, got %d users and %d items", name, info.NumUsers, info.NumItems)
	}
	m := &PinSage{name: name, cfg: cfg, info: info, dev: dev, k: cfg.Layers, d: cfg.Dim, hidden: cfg.Hidden,
		featDim: info.UserFeatDim + info.ItemFeatDim, n: info.NumUsers + info.NumItems, embedT: 10,
		adam: AdamParams{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}, byName: map[string]*sageParam{}}
	switch cfg.Aggregator {
	case "importance":
	case "mean":
		m.uniform = true
	case "max":
		return nil, fmt.Errorf("%s (cuda): model.aggregator: max pooling has no CUDA kernel; train it on CPU (train.device: cpu) or use importance or mean", name)
	default:
		return nil, fmt.Errorf("%s (cuda): model.aggregator: unknown %q (want importance or mean)", name, cfg.Aggregator)
	}
	if cfg.Residual {
		return nil, fmt.Errorf("%s (cuda): model.residual has no CUDA kernel; train it on CPU (train.device: cpu)", name)
	}
	var err error
	if m.useID, m.useFeat, err = embedcore.Inputs(cfg.Inputs, m.featDim); err != nil {
		return nil, fmt.Errorf("%s (cuda): %w", name, err)
	}
	if m.k < 1 || m.d <= 0 || m.hidden <= 0 {
		return nil, fmt.Errorf("%s (cuda): model.layers %d, model.dim %d, model.hidden %d: want all > 0", name, m.k, m.d, m.hidden)
	}
	if cfg.Optimizer != "adam" {
		return nil, fmt.Errorf("%s (cuda): model.optimizer %q: the CUDA consumer implements adam only", name, cfg.Optimizer)
	}
	kind, err := ParseLoss(cfg.Loss)
	if err != nil {
		return nil, fmt.Errorf("%s (cuda): model.loss: %w", name, err)
	}
	m.lossCfg = LossConfig{Kind: kind, Margin: float32(cfg.Margin), Temperature: float32(cfg.Temperature), InBatch: cfg.InBatch, Cosine: cfg.Normalize}
	m.sched = optim.Schedule{Kind: cfg.LRSchedule, Base: cfg.LR, Warmup: cfg.WarmupSteps, DecaySteps: cfg.DecaySteps,
		DecayRate: cfg.DecayRate, MinLR: cfg.MinLR}
	if err := m.sched.Validate(); err != nil {
		return nil, fmt.Errorf("%s (cuda): model.lr_schedule: %w", name, err)
	}
	// The parameter list and initialisation of consumer/sage's convModel
	// (newConvModel, pinSage.params): proj first, then the layers, then the
	// dense pair; Glorot normal from stream 100+i, biases zero.
	type shape struct {
		name       string
		rows, cols int
	}
	var ps []shape
	if m.useFeat {
		ps = append(ps, shape{"proj/W", m.featDim, m.d}, shape{"proj/b", 1, m.d})
	}
	in := m.d
	for l := 1; l <= m.k; l++ {
		pre := fmt.Sprintf("conv%d/", l)
		ps = append(ps, shape{pre + "Q", in, m.hidden}, shape{pre + "Q/b", 1, m.hidden},
			shape{pre + "W", in + m.hidden, m.hidden}, shape{pre + "W/b", 1, m.hidden})
		in = m.hidden
	}
	ps = append(ps, shape{"dense/G1", in, m.hidden}, shape{"dense/G1/b", 1, m.hidden}, shape{"dense/G2", m.hidden, m.d})
	for i, s := range ps {
		p := &sageParam{name: s.name, rows: s.rows, cols: s.cols}
		if strings.HasSuffix(s.name, "/b") || s.rows == 1 {
			p.init = make([]float32, s.rows*s.cols)
		} else {
			p.init = embedcore.InitNormal(s.rows*s.cols, math.Sqrt(2/float64(s.rows+s.cols)), cfg.Seed, uint64(100+i))
		}
		m.params = append(m.params, p)
		m.byName[s.name] = p
	}
	var emb []float32
	if m.useID {
		emb = embedcore.InitNormal(m.n*m.d, cfg.InitStd, cfg.Seed, 1)
	}
	err = dev.Do(func() error {
		bytes := int64(8 * arenaAlign)
		for _, p := range m.params {
			bytes += int64(4*(4*p.rows*p.cols+p.rows)) + 5*arenaAlign
		}
		if m.useID {
			bytes += int64(4*(3*m.n*m.d+m.n)) + 4*arenaAlign
		}
		var err error
		if m.pmem, err = NewArena(bytes); err != nil {
			return err
		}
		take := func(dst *F32, n int) {
			if err == nil {
				*dst, err = m.pmem.F32(n)
			}
		}
		for _, p := range m.params {
			take(&p.val, p.rows*p.cols)
			take(&p.grad, p.rows*p.cols)
			take(&p.m, p.rows*p.cols)
			take(&p.v, p.rows*p.cols)
			take(&p.steps, p.rows)
		}
		if m.useID {
			take(&m.table, m.n*m.d)
			take(&m.tm, m.n*m.d)
			take(&m.tv, m.n*m.d)
			take(&m.tsteps, m.n)
		}
		if err != nil {
			return err
		}
		for _, p := range m.params {
			for _, b := range []F32{p.m, p.v, p.steps} {
				if err := cu.MemsetD32(b.Ptr, 0, int64(b.N)); err != nil {
					return fmt.Errorf("cuda: zero optimiser state: %w", err)
				}
			}
			if err := UploadF32(p.val, p.init); err != nil {
				return err
			}
		}
		if m.useID {
			for _, b := range []F32{m.tm, m.tv, m.tsteps} {
				if err := cu.MemsetD32(b.Ptr, 0, int64(b.N)); err != nil {
					return fmt.Errorf("cuda: zero optimiser state: %w", err)
				}
			}
			if err := UploadF32(m.table, emb); err != nil {
				return err
			}
		}
		for _, ev := range []*cu.Event{&m.evWait, &m.evStart, &m.evEnd, &m.slots[0].copyDone, &m.slots[1].copyDone} {
			if *ev, err = cu.MakeEvent(cu.DefaultEvent); err != nil {
				return fmt.Errorf("cuda: make event: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		_ = m.Close()
		return nil, fmt.Errorf("%s (cuda): %w", name, err)
	}
	return m, nil
}

// Name implements model.Model.
func (m *PinSage) Name() string { return m.name }

// SetNeighbors implements model.NeighborSetter: Embed convolves over fn's
// neighbourhoods with t slots per node.
func (m *PinSage) SetNeighbors(fn model.NeighborFunc, t int) {
	m.nbrFn = fn
	if t > 0 {
		m.embedT = t
	}
}

// Timing implements Model.
func (m *PinSage) Timing() Timing { return m.timing }

// check validates a batch as consumer/sage's convModel does, plus the
// collision masks the loss indexes with.
func (m *PinSage) check(b *batch.Batch, train bool) error {
	if err := b.CheckGraph(m.k, m.n); err != nil {
		return err
	}
	if m.useFeat && (b.FeatDim != m.featDim || len(b.Feat) != len(b.Layers[m.k])*m.featDim) {
		return fmt.Errorf("features %d×%d, want %d×%d (model.inputs=%s)", len(b.Feat)/max(1, b.FeatDim), b.FeatDim, len(b.Layers[m.k]), m.featDim, m.cfg.Inputs)
	}
	if !train {
		return nil
	}
	if err := b.CheckTargets(); err != nil {
		return err
	}
	// the masks index the loss's score matrices (B = len(QueryIdx) rows)
	mb := &batch.Batch{Query: make([]uint32, len(b.QueryIdx)), Neg: make([]uint32, len(b.NegIdx)),
		NegMask: b.NegMask, NegMaskPtr: b.NegMaskPtr, InMask: b.InMask, InMaskPtr: b.InMaskPtr}
	return mb.CheckMasks(m.lossCfg.InBatch)
}

func (m *PinSage) capOf(b *batch.Batch) sageCap {
	c := sageCap{sizes: make([]int, m.k+1), t: b.T, b: len(b.QueryIdx), p: len(b.NegIdx), h: b.HardPer}
	for k := range c.sizes {
		c.sizes[k] = len(b.Layers[k])
	}
	return c
}

// freeWork releases the per-shape buffers (device thread, nothing in flight).
func (m *PinSage) freeWork() {
	for i := range m.slots {
		sl := &m.slots[i]
		if sl.host != nil {
			_ = sl.host.Free()
			sl.host = nil
		}
		if sl.dev != 0 {
			_ = cu.MemFree(sl.dev)
			sl.dev = 0
		}
		sl.words, sl.batch = 0, nil
	}
	if m.lossOut != nil {
		_ = m.lossOut.Free()
		m.lossOut = nil
	}
	if m.work != nil {
		_ = m.work.Free()
		m.work = nil
	}
	m.cap = sageCap{}
}

// ensure sizes the work buffers for c (device thread, nothing in flight).
func (m *PinSage) ensure(c sageCap) error {
	if m.work != nil && c.fits(m.cap) {
		return nil
	}
	if m.work != nil {
		c = c.union(m.cap)
	}
	if err := m.dev.Sync(); err != nil {
		return err
	}
	m.freeWork()
	K, d, hd := m.k, m.d, m.hidden
	ls := LossShape{B: c.b, P: c.p, H: c.h, D: d}
	R := ls.Rows()
	type req struct {
		dst *F32
		n   int
	}
	var reqs []req
	add := func(dst *F32, n int) { reqs = append(reqs, req{dst, n}) }
	mK := c.sizes[K]
	add(&m.h0, mK*d)
	add(&m.dh0, mK*d)
	m.ls = make([]sageLayerBufs, K)
	for l := 0; l < K; l++ {
		M, N := c.sizes[K-l], c.sizes[K-l-1]
		b := &m.ls[l]
		add(&b.m, M*hd)
		add(&b.dm, M*hd)
		add(&b.pooled, N*hd)
		add(&b.dpooled, N*hd)
		add(&b.out, N*hd)
		add(&b.dout, N*hd)
		add(&b.inv, N)
	}
	n0 := c.sizes[0]
	add(&m.y1, n0*hd)
	add(&m.dy1, n0*hd)
	add(&m.out, n0*d)
	add(&m.dout, n0*d)
	add(&m.xl, R*d)
	add(&m.gl, R*d)
	bytes := int64(0)
	for _, r := range reqs {
		bytes += int64(4*max(r.n, 1)) + arenaAlign
	}
	bytes += int64(8*max(mK, 1)) + arenaAlign
	// RankLoss's buffers (NewRankLoss)
	lossFloats := c.b*c.p + c.b + c.b*c.h + c.b*c.b + R*(d+1) + c.b
	bytes += int64(4*lossFloats+8*c.b) + 16*arenaAlign
	var err error
	if m.work, err = NewArena(bytes); err != nil {
		return err
	}
	for _, r := range reqs {
		if *r.dst, err = m.work.F32(r.n); err != nil {
			return err
		}
	}
	if m.sumsq, err = m.work.F64(mK); err != nil {
		return err
	}
	if m.loss, err = NewRankLoss(m.dev.Kernels, m.work, m.lossCfg, ls); err != nil {
		return err
	}
	if m.lossOut, err = NewPinned(8 * (max(c.b, 1) + max(mK, 1))); err != nil {
		return err
	}
	m.cap = c
	return nil
}

// stage packs b into slot i's pinned buffer and enqueues its upload on the
// copy stream (device thread). On error the slot is left empty.
func (m *PinSage) stage(b *batch.Batch, i int, train bool) error {
	sl := &m.slots[i]
	sl.batch = nil
	// an earlier upload from this slot (a prefetch) may still be in flight
	if err := sl.copyDone.Synchronize(); err != nil {
		return fmt.Errorf("cuda: wait for upload: %w", err)
	}
	c := m.capOf(b)
	K, T := m.k, b.T
	mK := c.sizes[K]
	R := 0
	if train {
		R = len(b.QueryIdx) + len(b.PosIdx) + len(b.NegIdx) + len(b.HardIdx)
	}
	words := mK + R
	for k := 0; k < K; k++ {
		words += 2 * c.sizes[k] * T
	}
	if m.useFeat {
		words += mK * m.featDim
	}
	negMask, inMask := train && b.NegMaskPtr != nil, train && m.lossCfg.InBatch && b.InMaskPtr != nil
	if negMask {
		words += len(b.NegMaskPtr) + len(b.NegMask)
	}
	if inMask {
		words += len(b.InMaskPtr) + len(b.InMask)
	}
	if words > sl.words {
		if sl.host != nil {
			_ = sl.host.Free()
			sl.host = nil
		}
		if sl.dev != 0 {
			_ = cu.MemFree(sl.dev)
			sl.dev = 0
		}
		sl.words = 0
		w := max(words+words/2, 1<<16)
		h, err := NewPinned(4 * w)
		if err != nil {
			return err
		}
		p, err := cu.MemAlloc(int64(4 * w))
		if err != nil {
			_ = h.Free()
			return fmt.Errorf("cuda: allocate %d-byte batch buffer: %w", 4*w, err)
		}
		sl.host, sl.dev, sl.words = h, p, w
	}
	o := 0 // words
	i32 := func(src []int32) I32 {
		copy(sl.host.I32(4*o, len(src)), src)
		v := I32{Ptr: sl.dev + cu.DevicePtr(4*o), N: len(src)}
		o += len(src)
		return v
	}
	ids := sl.host.I32(0, mK)
	for r, id := range b.Layers[K] {
		ids[r] = int32(id)
	}
	sl.ids = I32{Ptr: sl.dev, N: mK}
	o = mK
	sl.idx = sl.idx[:0]
	sl.w = sl.w[:0]
	for k := 0; k < K; k++ {
		sl.idx = append(sl.idx, i32(b.NbrIdx[k]))
		// pooling weights as the CPU network takes them: a slot is valid
		// when its weight is > 0; mean pooling weighs the valid slots
		// 1/valid, importance pooling by their weights.
		n := c.sizes[k]
		w := sl.host.F32(4*o, n*T)
		src := b.NbrW[k]
		for u := 0; u < n; u++ {
			valid := 0
			for s := 0; s < T; s++ {
				if src[u*T+s] > 0 {
					valid++
				}
			}
			for s := 0; s < T; s++ {
				j := u*T + s
				switch {
				case !(src[j] > 0):
					w[j] = 0
				case m.uniform:
					w[j] = 1 / float32(valid)
				default:
					w[j] = src[j]
				}
			}
		}
		sl.w = append(sl.w, F32{Ptr: sl.dev + cu.DevicePtr(4*o), N: n * T})
		o += n * T
	}
	sl.lossIdx = I32{}
	if train {
		start := o
		for _, src := range [][]int32{b.QueryIdx, b.PosIdx, b.NegIdx, b.HardIdx} {
			i32(src)
		}
		sl.lossIdx = I32{Ptr: sl.dev + cu.DevicePtr(4*start), N: R}
	}
	sl.feat = F32{}
	if m.useFeat {
		n := mK * m.featDim
		copy(sl.host.F32(4*o, n), b.Feat[:n])
		sl.feat = F32{Ptr: sl.dev + cu.DevicePtr(4*o), N: n}
		o += n
	}
	sl.masks = Masks{}
	if negMask {
		sl.masks.NegPtr = i32(b.NegMaskPtr)
		sl.masks.Neg = i32(b.NegMask)
	}
	if inMask {
		sl.masks.InPtr = i32(b.InMaskPtr)
		sl.masks.In = i32(b.InMask)
	}
	if err := cu.MemcpyHtoDAsync(sl.dev, sl.host.Ptr(0), int64(4*o), m.dev.Copy); err != nil {
		return fmt.Errorf("cuda: upload batch: %w", err)
	}
	if err := sl.copyDone.Record(m.dev.Copy); err != nil {
		return fmt.Errorf("cuda: record event: %w", err)
	}
	sl.batch, sl.c = b, c
	return nil
}

// forward enqueues the network on slot sl's batch and returns the output
// (Layers[0] rows × dim).
func (m *PinSage) forward(st cu.Stream, sl *sageSlot) (F32, error) {
	k, K, d, hd := m.dev.Kernels, m.k, m.d, m.hidden
	mK := sl.c.sizes[K]
	h0 := m.h0.Slice(0, mK*d)
	if m.useID {
		if err := k.GatherRows(st, h0, m.table, sl.ids, mK, d); err != nil {
			return F32{}, err
		}
	}
	if m.useFeat {
		P, pb := m.byName["proj/W"], m.byName["proj/b"]
		beta := float32(0)
		if m.useID {
			beta = 1
		}
		if err := k.Sgemm(st, false, false, mK, d, m.featDim, 1, sl.feat, m.featDim, P.val, d, beta, h0, d); err != nil {
			return F32{}, err
		}
		if err := k.BiasAct(st, h0, h0, pb.val, mK, d, false); err != nil {
			return F32{}, err
		}
	}
	h, in := h0, d
	for l := 0; l < K; l++ {
		M, N := sl.c.sizes[K-l], sl.c.sizes[K-l-1]
		hop := K - 1 - l
		b := &m.ls[l]
		pre := fmt.Sprintf("conv%d/", l+1)
		Q, q, W, wb := m.byName[pre+"Q"], m.byName[pre+"Q/b"], m.byName[pre+"W"], m.byName[pre+"W/b"]
		msg := b.m.Slice(0, M*hd)
		if err := k.Sgemm(st, false, false, M, hd, in, 1, h, in, Q.val, hd, 0, msg, hd); err != nil {
			return F32{}, err
		}
		if err := k.BiasAct(st, msg, msg, q.val, M, hd, true); err != nil {
			return F32{}, err
		}
		pooled := b.pooled.Slice(0, N*hd)
		if err := k.PoolForward(st, pooled, msg, sl.idx[hop], sl.w[hop], N, sl.c.t, hd); err != nil {
			return F32{}, err
		}
		out := b.out.Slice(0, N*hd)
		// [h_self ‖ pooled]·W: the self rows are the first N rows of h
		// (Layers[k+1] starts with Layers[k]); W's first in rows map them.
		if err := k.Sgemm(st, false, false, N, hd, in, 1, h, in, W.val.Slice(0, in*hd), hd, 0, out, hd); err != nil {
			return F32{}, err
		}
		if err := k.Sgemm(st, false, false, N, hd, hd, 1, pooled, hd, W.val.Slice(in*hd, (in+hd)*hd), hd, 1, out, hd); err != nil {
			return F32{}, err
		}
		if err := k.BiasAct(st, out, out, wb.val, N, hd, true); err != nil {
			return F32{}, err
		}
		if err := k.L2NormForward(st, out, b.inv, out, N, hd); err != nil {
			return F32{}, err
		}
		h, in = out, hd
	}
	n0 := sl.c.sizes[0]
	G1, g1, G2 := m.byName["dense/G1"], m.byName["dense/G1/b"], m.byName["dense/G2"]
	y1 := m.y1.Slice(0, n0*hd)
	if err := k.Sgemm(st, false, false, n0, hd, in, 1, h, in, G1.val, hd, 0, y1, hd); err != nil {
		return F32{}, err
	}
	if err := k.BiasAct(st, y1, y1, g1.val, n0, hd, true); err != nil {
		return F32{}, err
	}
	out := m.out.Slice(0, n0*d)
	if err := k.Sgemm(st, false, false, n0, d, hd, 1, y1, hd, G2.val, d, 0, out, d); err != nil {
		return F32{}, err
	}
	return out, nil
}

// backward enqueues the gradients of every parameter (p.grad) from the
// output gradient m.dout and leaves the input rows' gradient in m.dh0.
func (m *PinSage) backward(st cu.Stream, sl *sageSlot) error {
	k, K, d, hd := m.dev.Kernels, m.k, m.d, m.hidden
	n0 := sl.c.sizes[0]
	G1, g1, G2 := m.byName["dense/G1"], m.byName["dense/G1/b"], m.byName["dense/G2"]
	zw := hd
	z := m.ls[K-1].out.Slice(0, n0*zw)
	y1, dy1, dout := m.y1.Slice(0, n0*hd), m.dy1.Slice(0, n0*hd), m.dout.Slice(0, n0*d)
	if err := k.Sgemm(st, true, false, hd, d, n0, 1, y1, hd, dout, d, 0, G2.grad, d); err != nil {
		return err
	}
	if err := k.Sgemm(st, false, true, n0, hd, d, 1, dout, d, G2.val, d, 0, dy1, hd); err != nil {
		return err
	}
	if err := k.ReLUBackward(st, dy1, dy1, y1, n0*hd); err != nil {
		return err
	}
	if err := k.ColSum(st, g1.grad, dy1, n0, hd, 0); err != nil {
		return err
	}
	if err := k.Sgemm(st, true, false, zw, hd, n0, 1, z, zw, dy1, hd, 0, G1.grad, hd); err != nil {
		return err
	}
	g := m.ls[K-1].dout.Slice(0, n0*zw)
	if err := k.Sgemm(st, false, true, n0, zw, hd, 1, dy1, hd, G1.val, hd, 0, g, zw); err != nil {
		return err
	}
	for l := K - 1; l >= 0; l-- {
		M, N := sl.c.sizes[K-l], sl.c.sizes[K-l-1]
		hop := K - 1 - l
		in := hd
		var h, dh F32
		if l == 0 {
			in = d
			h, dh = m.h0.Slice(0, M*d), m.dh0.Slice(0, M*d)
		} else {
			h, dh = m.ls[l-1].out.Slice(0, M*hd), m.ls[l-1].dout.Slice(0, M*hd)
		}
		b := &m.ls[l]
		pre := fmt.Sprintf("conv%d/", l+1)
		Q, q, W, wb := m.byName[pre+"Q"], m.byName[pre+"Q/b"], m.byName[pre+"W"], m.byName[pre+"W/b"]
		out, dz := b.out.Slice(0, N*hd), b.dout.Slice(0, N*hd)
		if err := k.L2NormBackward(st, dz, dz, out, b.inv, N, hd); err != nil {
			return err
		}
		if err := k.ReLUBackward(st, dz, dz, out, N*hd); err != nil { // out > 0 exactly where the pre-norm ReLU passed
			return err
		}
		if err := k.ColSum(st, wb.grad, dz, N, hd, 0); err != nil {
			return err
		}
		pooled, dpooled := b.pooled.Slice(0, N*hd), b.dpooled.Slice(0, N*hd)
		Wt, Wp := W.val.Slice(0, in*hd), W.val.Slice(in*hd, (in+hd)*hd)
		if err := k.Sgemm(st, true, false, in, hd, N, 1, h, in, dz, hd, 0, W.grad.Slice(0, in*hd), hd); err != nil {
			return err
		}
		if err := k.Sgemm(st, true, false, hd, hd, N, 1, pooled, hd, dz, hd, 0, W.grad.Slice(in*hd, (in+hd)*hd), hd); err != nil {
			return err
		}
		if err := k.Sgemm(st, false, true, N, hd, hd, 1, dz, hd, Wp, hd, 0, dpooled, hd); err != nil {
			return err
		}
		// dh: the self rows' part, zero below them, then the messages'
		if err := k.Sgemm(st, false, true, N, in, hd, 1, dz, hd, Wt, hd, 0, dh, in); err != nil {
			return err
		}
		if M > N {
			if err := cu.MemsetD32Async(dh.Slice(N*in, M*in).Ptr, 0, int64((M-N)*in), st); err != nil {
				return fmt.Errorf("cuda: zero gradient: %w", err)
			}
		}
		msg, dm := b.m.Slice(0, M*hd), b.dm.Slice(0, M*hd)
		if err := cu.MemsetD32Async(dm.Ptr, 0, int64(M*hd), st); err != nil {
			return fmt.Errorf("cuda: zero gradient: %w", err)
		}
		if err := k.PoolBackwardX(st, dm, dpooled, sl.idx[hop], sl.w[hop], N, sl.c.t, hd); err != nil {
			return err
		}
		if err := k.ReLUBackward(st, dm, dm, msg, M*hd); err != nil {
			return err
		}
		if err := k.ColSum(st, q.grad, dm, M, hd, 0); err != nil {
			return err
		}
		if err := k.Sgemm(st, true, false, in, hd, M, 1, h, in, dm, hd, 0, Q.grad, hd); err != nil {
			return err
		}
		if err := k.Sgemm(st, false, true, M, in, hd, 1, dm, hd, Q.val, hd, 1, dh, in); err != nil {
			return err
		}
	}
	if m.useFeat {
		mK := sl.c.sizes[K]
		P, pb := m.byName["proj/W"], m.byName["proj/b"]
		dh0 := m.dh0.Slice(0, mK*d)
		if err := k.Sgemm(st, true, false, m.featDim, d, mK, 1, sl.feat, m.featDim, dh0, d, 0, P.grad, d); err != nil {
			return err
		}
		if err := k.ColSum(st, pb.grad, dh0, mK, d, 0); err != nil {
			return err
		}
	}
	return nil
}

// Step implements model.Model.
func (m *PinSage) Step(ctx context.Context, b *batch.Batch) (model.StepStats, error) {
	return m.StepNext(ctx, b, nil)
}

// StepNext implements Model: forward, loss, backward and the Adam updates
// of b on the device; next (may be nil) is staged into the other upload
// buffer while the GPU works on b.
func (m *PinSage) StepNext(ctx context.Context, b, next *batch.Batch) (model.StepStats, error) {
	if err := ctx.Err(); err != nil {
		return model.StepStats{}, err
	}
	if err := m.check(b, true); err != nil {
		return model.StepStats{}, fmt.Errorf("%s (cuda): batch %d/%d: %w", m.name, b.Epoch, b.Index, err)
	}
	B := len(b.QueryIdx)
	if B == 0 {
		return model.StepStats{}, nil
	}
	if next != nil && m.check(next, true) != nil {
		next = nil // its own Step reports the error
	}
	var stats model.StepStats
	enqueued := false
	err := m.dev.Do(func() error {
		c := m.capOf(b)
		if m.work == nil || !c.fits(m.cap) {
			if err := m.ensure(c); err != nil {
				return err
			}
		}
		var sl *sageSlot
		prefetched := false
		for i := range m.slots {
			if m.slots[i].batch == b {
				sl, m.cur, prefetched = &m.slots[i], i, true
			}
		}
		if sl == nil {
			m.cur = 1 - m.cur
			if err := m.stage(b, m.cur, true); err != nil {
				return err
			}
			sl = &m.slots[m.cur]
		}
		st := m.dev.Compute
		if err := m.evWait.Record(st); err != nil {
			return fmt.Errorf("cuda: record event: %w", err)
		}
		if err := st.Wait(sl.copyDone, 0); err != nil {
			return fmt.Errorf("cuda: wait for upload: %w", err)
		}
		if err := m.evStart.Record(st); err != nil {
			return fmt.Errorf("cuda: record event: %w", err)
		}
		l2n, err := m.enqueueStep(st, sl)
		if err != nil {
			return err
		}
		enqueued = true
		if err := cu.MemcpyDtoHAsync(m.lossOut.Ptr(0), m.loss.RowLoss().Ptr, int64(8*B), st); err != nil {
			return fmt.Errorf("cuda: download loss: %w", err)
		}
		if l2n > 0 {
			if err := cu.MemcpyDtoHAsync(m.lossOut.Ptr(8*max(m.cap.b, 1)), m.sumsq.Ptr, int64(8*l2n), st); err != nil {
				return fmt.Errorf("cuda: download l2: %w", err)
			}
		}
		if err := m.evEnd.Record(st); err != nil {
			return fmt.Errorf("cuda: record event: %w", err)
		}
		if next != nil && m.capOf(next).fits(m.cap) {
			_ = m.stage(next, 1-m.cur, true)
		}
		if err := m.evEnd.Synchronize(); err != nil {
			return fmt.Errorf("cuda: %s step: %w", m.name, err)
		}
		sl.batch = nil
		var total float64
		for _, v := range unsafe.Slice((*float64)(m.lossOut.Ptr(0)), B) {
			total += v
		}
		l := total / float64(B)
		if l2n > 0 {
			var sum float64
			for _, v := range unsafe.Slice((*float64)(m.lossOut.Ptr(8*max(m.cap.b, 1))), l2n) {
				sum += v
			}
			l += 0.5 * m.cfg.L2 * sum / float64(B)
		}
		if w, err := m.evWait.Elapsed(m.evStart); err == nil {
			m.timing.CopyWait += time.Duration(w * float64(time.Millisecond))
		}
		if w, err := m.evWait.Elapsed(m.evEnd); err == nil {
			m.timing.Step += time.Duration(w * float64(time.Millisecond))
		}
		m.timing.Steps++
		if prefetched {
			m.timing.Prefetched++
		}
		if math.IsNaN(l) || math.IsInf(l, 0) {
			return fmt.Errorf("loss is %v", l)
		}
		stats = model.StepStats{Loss: l, Examples: B}
		return nil
	})
	if enqueued {
		m.step++ // as the CPU model, which counts a step once its optimisers ran
	}
	if err != nil {
		return model.StepStats{}, fmt.Errorf("%s (cuda): batch %d/%d: %w", m.name, b.Epoch, b.Index, err)
	}
	return stats, nil
}

// enqueueStep enqueues forward, loss, backward and the updates; it returns
// the number of L2 row sums it left in m.sumsq.
func (m *PinSage) enqueueStep(st cu.Stream, sl *sageSlot) (int, error) {
	k, K, d := m.dev.Kernels, m.k, m.d
	z, err := m.forward(st, sl)
	if err != nil {
		return 0, err
	}
	ls := LossShape{B: sl.c.b, P: sl.c.p, H: sl.c.h, D: d}
	R := ls.Rows()
	xl, gl := m.xl.Slice(0, R*d), m.gl.Slice(0, R*d)
	if err := k.GatherRows(st, xl, z, sl.lossIdx, R, d); err != nil {
		return 0, err
	}
	if err := m.loss.Enqueue(st, xl, gl, ls, sl.masks); err != nil {
		return 0, err
	}
	n0 := sl.c.sizes[0]
	dout := m.dout.Slice(0, n0*d)
	if err := cu.MemsetD32Async(dout.Ptr, 0, int64(n0*d), st); err != nil {
		return 0, fmt.Errorf("cuda: zero gradient: %w", err)
	}
	if err := k.ScatterAddRows(st, dout, gl, sl.lossIdx, R, d, 1); err != nil {
		return 0, err
	}
	if err := m.backward(st, sl); err != nil {
		return 0, err
	}
	p := m.adam
	p.LR = float32(m.sched.LR(m.step))
	for _, pr := range m.params {
		if err := k.SparseAdam(st, pr.val, pr.m, pr.v, pr.steps, I32{}, pr.grad, pr.rows, pr.cols, p); err != nil {
			return 0, fmt.Errorf("adam on %s: %w", pr.name, err)
		}
	}
	if !m.useID {
		return 0, nil
	}
	mK := sl.c.sizes[K]
	gx := m.dh0.Slice(0, mK*d)
	l2n := 0
	if m.cfg.L2 > 0 {
		lam := float32(m.cfg.L2 / float64(sl.c.b))
		if err := k.L2RegRows(st, gx, m.sumsq, m.table, sl.ids, mK, d, lam, true); err != nil {
			return 0, err
		}
		l2n = mK
	}
	return l2n, k.SparseAdam(st, m.table, m.tm, m.tv, m.tsteps, sl.ids, gx, mK, d, p)
}

// embedChunk is the number of nodes Embed convolves at once, as on CPU.
const embedChunk = 1024

// Embed implements model.Model: every node's output row, computed chunk by
// chunk over SetNeighbors' neighbourhoods (else up to T graph neighbours,
// uniform), as consumer/sage's Embed does.
func (m *PinSage) Embed(ctx context.Context) (*model.Embeddings, error) {
	all := make([]uint32, m.n)
	for i := range all {
		all[i] = uint32(i)
	}
	d := m.d
	dst := make([]float32, m.n*d)
	fn := m.nbrFn
	if fn == nil {
		fn = model.GraphNeighbors(m.info.Graph, m.info.NumUsers)
	}
	for lo := 0; lo < len(all); lo += embedChunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hi := min(lo+embedChunk, len(all))
		b := &batch.Batch{T: m.embedT}
		b.Layers, b.NbrIdx, b.NbrW = model.Hops(all[lo:hi], m.k, m.embedT, fn)
		if m.useFeat {
			b.Feat, b.FeatDim = model.NodeFeatures(m.info, b.Layers[m.k]), m.featDim
		}
		err := m.dev.Do(func() error {
			c := m.capOf(b)
			c.b, c.p, c.h = max(m.cap.b, 1), m.cap.p, m.cap.h
			if m.work == nil || !c.fits(m.cap) {
				if err := m.ensure(c); err != nil {
					return err
				}
			}
			m.cur = 1 - m.cur
			if err := m.stage(b, m.cur, false); err != nil {
				return err
			}
			sl := &m.slots[m.cur]
			st := m.dev.Compute
			if err := st.Wait(sl.copyDone, 0); err != nil {
				return fmt.Errorf("cuda: wait for upload: %w", err)
			}
			out, err := m.forward(st, sl)
			if err != nil {
				return err
			}
			sl.batch = nil
			return DownloadStream(st, dst[lo*d:hi*d], out.Slice(0, (hi-lo)*d))
		})
		if err != nil {
			return nil, fmt.Errorf("%s (cuda): embed nodes %d..%d: %w", m.name, lo, hi, err)
		}
	}
	if m.cfg.Normalize {
		embedcore.NormalizeRows(dst, d)
	}
	U := m.info.NumUsers
	return &model.Embeddings{Dim: d, Users: dst[:U*d], Items: dst[U*d:]}, nil
}

// stateBufs lists (name, shape, buffer) in the CPU model's State order:
// parameters, the id table, each parameter's Adam state, the table's.
func (m *PinSage) stateBufs() []struct {
	name  string
	shape []int
	buf   F32
} {
	type sb = struct {
		name  string
		shape []int
		buf   F32
	}
	var out []sb
	for _, p := range m.params {
		out = append(out, sb{"param/" + p.name, []int{p.rows, p.cols}, p.val})
	}
	if m.useID {
		out = append(out, sb{"param/emb", []int{m.n, m.d}, m.table})
	}
	for _, p := range m.params {
		pre := "opt/" + p.name + "/"
		out = append(out, sb{pre + "/adam_m", []int{p.rows, p.cols}, p.m}, sb{pre + "/adam_v", []int{p.rows, p.cols}, p.v},
			sb{pre + "/adam_steps", []int{p.rows}, p.steps})
	}
	if m.useID {
		out = append(out, sb{"opt/emb//adam_m", []int{m.n, m.d}, m.tm}, sb{"opt/emb//adam_v", []int{m.n, m.d}, m.tv},
			sb{"opt/emb//adam_steps", []int{m.n}, m.tsteps})
	}
	return out
}

// State implements model.Model, in consumer/sage's names and order.
func (m *PinSage) State() []model.Tensor {
	var ts []model.Tensor
	err := m.dev.Do(func() error {
		if err := m.dev.Sync(); err != nil {
			return err
		}
		for _, s := range m.stateBufs() {
			data := make([]float32, s.buf.N)
			if err := DownloadF32(data, s.buf); err != nil {
				return err
			}
			ts = append(ts, model.Tensor{Name: s.name, Shape: s.shape, Data: data})
		}
		return nil
	})
	if err != nil {
		return nil
	}
	return append(ts, model.Tensor{Name: "opt/step", Shape: []int{1}, Data: []float32{float32(m.step)}})
}

// Load implements model.Model: it checks every tensor before changing
// anything.
func (m *PinSage) Load(state []model.Tensor) error {
	byName := make(map[string]model.Tensor, len(state))
	for _, t := range state {
		byName[t.Name] = t
	}
	bufs := m.stateBufs()
	for _, s := range bufs {
		t, ok := byName[s.name]
		if !ok {
			return fmt.Errorf("%s (cuda): load: missing %s", m.name, s.name)
		}
		if len(t.Data) != s.buf.N {
			return fmt.Errorf("%s (cuda): load: %s has %d values, want %d", m.name, s.name, len(t.Data), s.buf.N)
		}
	}
	st, ok := byName["opt/step"]
	if !ok || len(st.Data) != 1 {
		return fmt.Errorf("%s (cuda): load: missing opt/step", m.name)
	}
	err := m.dev.Do(func() error {
		if err := m.dev.Sync(); err != nil {
			return err
		}
		for _, s := range bufs {
			if err := UploadF32(s.buf, byName[s.name].Data); err != nil {
				return fmt.Errorf("load %s: %w", s.name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s (cuda): %w", m.name, err)
	}
	m.step = int(st.Data[0])
	return nil
}

// Close implements Model: it frees the model's device memory.
func (m *PinSage) Close() error {
	return m.dev.Do(func() error {
		m.freeWork()
		for _, ev := range []*cu.Event{&m.evWait, &m.evStart, &m.evEnd, &m.slots[0].copyDone, &m.slots[1].copyDone} {
			if *ev != (cu.Event{}) {
				_ = cu.DestroyEvent(ev)
				*ev = cu.Event{}
			}
		}
		if m.pmem != nil {
			err := m.pmem.Free()
			m.pmem = nil
			return err
		}
		return nil
	})
}
