//go:build cuda

package cuda

import (
	"context"
	"fmt"
	"time"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/trainerd/trainerd/batch"
	"github.com/trainerd/trainerd/consumer/embedcore"
	"github.com/trainerd/trainerd/consumer/optim"
	"github.com/trainerd/trainerd/model"
)

// Timing accumulates what the device spent, measured with events.
type Timing struct {
	Steps int
	// Step is the device time from the start of a step's stream work (the
	// wait for its upload included) to its end.
	Step time.Duration
	// CopyWait is the part of Step the compute stream spent waiting for the
	// step's host→device upload.
	CopyWait time.Duration
	// Prefetched counts steps whose batch was uploaded during the previous
	// step (StepNext).
	Prefetched int
}

// WaitFraction is CopyWait / Step.
func (t Timing) WaitFraction() float64 {
	if t.Step <= 0 {
		return 0
	}
	return float64(t.CopyWait) / float64(t.Step)
}

// slot is one of the two upload buffers (double buffering).
type slot struct {
	batch               *batch.Batch // staged batch, nil when empty
	shape               LossShape
	nRows               int // distinct rows
	host                *Pinned
	ids                 I32 // [Query | Pos | Neg | Hard] global ids
	pos                 I32 // per id, its index among the distinct rows
	rows                I32 // distinct rows in order of first appearance
	copyStart, copyDone cu.Event

	// The staged batch's collision masks, views of maskDev. Their size
	// varies per batch, so they live outside the work arena in a pinned
	// and a device buffer of maskCap int32s each that stage grows.
	masks    Masks
	maskHost *Pinned
	maskDev  cu.DevicePtr
	maskCap  int
}

// freeMasks releases the slot's mask buffers (device thread; no copy into
// them may be in flight).
func (sl *slot) freeMasks() error {
	var err error
	if sl.maskHost != nil {
		err = sl.maskHost.Free()
		sl.maskHost = nil
	}
	if sl.maskDev != 0 {
		if ferr := cu.MemFree(sl.maskDev); ferr != nil && err == nil {
			err = fmt.Errorf("cuda: free mask buffer: %w", ferr)
		}
		sl.maskDev = 0
	}
	sl.maskCap = 0
	sl.masks = Masks{}
	return err
}

// growMasks makes the slot's mask buffers hold at least n int32s (device
// thread). The slot is not in use by the compute stream when it is staged
// (see run), but the copy stream may still be uploading an earlier batch
// into it (a prefetch the caller did not use), so that copy is waited for
// before the buffers are freed.
func (sl *slot) growMasks(n int) error {
	if n <= sl.maskCap {
		return nil
	}
	if err := sl.copyDone.Synchronize(); err != nil {
		return fmt.Errorf("cuda: wait for upload before growing mask buffer: %w", err)
	}
	if err := sl.freeMasks(); err != nil {
		return err
	}
	c := max(n+n/2, 4096) // headroom: a slightly bigger mask next batch does not reallocate
	h, err := NewPinned(4 * c)
	if err != nil {
		return err
	}
	p, err := cu.MemAlloc(int64(4 * c))
	if err != nil {
		_ = h.Free()
		return fmt.Errorf("cuda: allocate %d-byte mask buffer: %w", 4*c, err)
	}
	sl.maskHost, sl.maskDev, sl.maskCap = h, p, c
	return nil
}

// embedGPU is what the GPU embedding models share: batch staging with
// double-buffered uploads, the gather → loss → scatter pipeline, L2 and the
// Adam update of one (n × d) table, and state export in consumer's names.
type embedGPU struct {
	name    string
	cfg     model.Config
	dev     *Device
	n, d    int
	users   int
	sched   optim.Schedule
	adam    AdamParams
	step    int
	lossCfg LossConfig

	params *Arena // table, adam state (lives as long as the model)
	table  F32
	m, v   F32
	steps  F32

	work    *Arena // per-shape buffers, regrown when a bigger batch comes
	cap     LossShape
	loss    *RankLoss
	x, g    F32
	rowGrad F32
	sumsq   F64
	slots   [2]slot
	cur     int
	lossOut *Pinned // rowLoss (B doubles) then sumsq (rows doubles)

	// host dedup scratch
	seen    []int32
	hostRow []int32

	evWait, evStart, evEnd cu.Event
	timing                 Timing
}

func newEmbedGPU(dev *Device, name string, cfg model.Config, info model.Info) (*embedGPU, error) {
	if info.NumUsers <= 0 || info.NumItems <= 0 {
		return nil, fmt.Errorf("%s (cuda): need users and items, got %d users and %d items", name, info.NumUsers, info.NumItems)
	}
	if cfg.Optimizer != "adam" {
		return nil, fmt.Errorf("%s (cuda): model.optimizer %q: the CUDA consumer implements adam only", name, cfg.Optimizer)
	}
	kind, err := ParseLoss(cfg.Loss)
	if err != nil {
		return nil, fmt.Errorf("%s (cuda): model.loss: %w", name, err)
	}
	s := optim.Schedule{Kind: cfg.LRSchedule, Base: cfg.LR, Warmup: cfg.WarmupSteps, DecaySteps: cfg.DecaySteps,
		DecayRate: cfg.DecayRate, MinLR: cfg.MinLR}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("%s (cuda): model.lr_schedule: %w", name, err)
	}
	n := info.NumUsers + info.NumItems
	e := &embedGPU{name: name, cfg: cfg, dev: dev, n: n, d: cfg.Dim, users: info.NumUsers, sched: s,
		adam:    AdamParams{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8},
		lossCfg: LossConfig{Kind: kind, Margin: float32(cfg.Margin), Temperature: float32(cfg.Temperature), InBatch: cfg.InBatch, Cosine: cfg.Normalize},
		seen:    make([]int32, n)}
	for i := range e.seen {
		e.seen[i] = -1
	}
	init := embedcore.InitNormal(n*cfg.Dim, cfg.InitStd, cfg.Seed, 1)
	err = dev.Do(func() error {
		sz := int64(n*cfg.Dim)*4*3 + int64(n)*4 + 4*arenaAlign
		var err error
		if e.params, err = NewArena(sz); err != nil {
			return err
		}
		if e.table, err = e.params.F32(n * cfg.Dim); err != nil {
			return err
		}
		if e.m, err = e.params.F32(n * cfg.Dim); err != nil {
			return err
		}
		if e.v, err = e.params.F32(n * cfg.Dim); err != nil {
			return err
		}
		if e.steps, err = e.params.F32(n); err != nil {
			return err
		}
		for _, b := range []F32{e.m, e.v, e.steps} {
			if err := cu.MemsetD32(b.Ptr, 0, int64(b.N)); err != nil {
				return fmt.Errorf("cuda: zero optimiser state: %w", err)
			}
		}
		for _, ev := range []*cu.Event{&e.evWait, &e.evStart, &e.evEnd} {
			if *ev, err = cu.MakeEvent(cu.DefaultEvent); err != nil {
				return fmt.Errorf("cuda: make event: %w", err)
			}
		}
		for i := range e.slots {
			for _, ev := range []*cu.Event{&e.slots[i].copyStart, &e.slots[i].copyDone} {
				if *ev, err = cu.MakeEvent(cu.DefaultEvent); err != nil {
					return fmt.Errorf("cuda: make event: %w", err)
				}
			}
		}
		return UploadF32(e.table, init)
	})
	if err != nil {
		e.close()
		return nil, fmt.Errorf("%s (cuda): %w", name, err)
	}
	return e, nil
}

// close frees device memory (idempotent). It does not close the Device.
func (e *embedGPU) close() error {
	return e.dev.Do(func() error {
		e.freeWork()
		for _, ev := range []*cu.Event{&e.evWait, &e.evStart, &e.evEnd, &e.slots[0].copyStart, &e.slots[0].copyDone, &e.slots[1].copyStart, &e.slots[1].copyDone} {
			if *ev != (cu.Event{}) {
				_ = cu.DestroyEvent(ev)
				*ev = cu.Event{}
			}
		}
		if e.params != nil {
			err := e.params.Free()
			e.params = nil
			return err
		}
		return nil
	})
}

func (e *embedGPU) freeWork() {
	for i := range e.slots {
		if e.slots[i].host != nil {
			_ = e.slots[i].host.Free()
			e.slots[i].host = nil
		}
		_ = e.slots[i].freeMasks()
		e.slots[i].batch = nil
	}
	if e.lossOut != nil {
		_ = e.lossOut.Free()
		e.lossOut = nil
	}
	if e.work != nil {
		_ = e.work.Free()
		e.work = nil
	}
	e.cap = LossShape{}
}

// ensure (re)allocates the per-shape buffers for s (device thread; no work
// may be in flight).
func (e *embedGPU) ensure(s LossShape) error {
	if e.work != nil && s.fits(e.cap) {
		return nil
	}
	c := LossShape{B: max(s.B, e.cap.B), P: max(s.P, e.cap.P), H: max(s.H, e.cap.H), D: e.d}
	e.freeWork()
	rows := c.Rows()
	ln := c.B*c.P + c.B + c.B*c.H + rows*(c.D+1) + c.B // + RankLoss's nmasked
	if e.lossCfg.InBatch {
		ln += c.B * c.B
	}
	bytes := int64(4*(2*rows*c.D+rows*c.D+ln) + 8*(c.B+rows) + 2*4*3*rows + 32*arenaAlign)
	var err error
	if e.work, err = NewArena(bytes); err != nil {
		return err
	}
	e.cap = c
	take := func(dst *F32, n int) {
		if err == nil {
			*dst, err = e.work.F32(n)
		}
	}
	take(&e.x, rows*c.D)
	take(&e.g, rows*c.D)
	take(&e.rowGrad, rows*c.D)
	if err != nil {
		return err
	}
	if e.sumsq, err = e.work.F64(rows); err != nil {
		return err
	}
	if e.loss, err = NewRankLoss(e.dev.Kernels, e.work, e.lossCfg, c); err != nil {
		return err
	}
	for i := range e.slots {
		sl := &e.slots[i]
		if sl.host, err = NewPinned(3 * 4 * rows); err != nil {
			return err
		}
		for _, b := range []*I32{&sl.ids, &sl.pos, &sl.rows} {
			if *b, err = e.work.I32(rows); err != nil {
				return err
			}
		}
	}
	e.lossOut, err = NewPinned(8 * (c.B + rows))
	return err
}

// check validates a batch's shapes, ids and the collision masks the loss
// uses (they index score matrices on the device).
func (e *embedGPU) check(b *batch.Batch) error {
	if err := b.Check(e.n); err != nil {
		return fmt.Errorf("%s (cuda): %w", e.name, err)
	}
	if err := b.CheckMasks(e.lossCfg.InBatch); err != nil {
		return fmt.Errorf("%s (cuda): %w", e.name, err)
	}
	return nil
}

func shapeOf(b *batch.Batch, d int) LossShape {
	return LossShape{B: len(b.Query), P: len(b.Neg), H: b.HardPer, D: d}
}

// stage fills slot i's pinned buffers with b's ids, their distinct-row
// positions, the distinct rows and the collision masks the loss uses, and
// enqueues the upload on the copy stream (device thread). b must have
// passed check. On error the slot is left empty.
func (e *embedGPU) stage(b *batch.Batch, i int) error {
	sl := &e.slots[i]
	sl.batch = nil
	s := shapeOf(b, e.d)
	// Masks: [NegMaskPtr | NegMask | InMaskPtr | InMask], the in-batch
	// mask only when the loss uses it; a nil pointer list means none.
	negMask, inMask := b.NegMaskPtr != nil, e.lossCfg.InBatch && b.InMaskPtr != nil
	nm := 0
	if negMask {
		nm += len(b.NegMaskPtr) + len(b.NegMask)
	}
	if inMask {
		nm += len(b.InMaskPtr) + len(b.InMask)
	}
	if err := sl.growMasks(nm); err != nil {
		return err
	}
	R := s.Rows()
	ids := sl.host.I32(0, R)
	pos := sl.host.I32(4*R, R)
	rows := sl.host.I32(8*R, R)
	nr := 0
	k := 0
	for _, src := range [][]uint32{b.Query, b.Pos, b.Neg, b.Hard} {
		for _, id := range src {
			p := e.seen[id]
			if p < 0 {
				p = int32(nr)
				e.seen[id] = p
				rows[nr] = int32(id)
				nr++
			}
			ids[k] = int32(id)
			pos[k] = p
			k++
		}
	}
	for _, r := range rows[:nr] {
		e.seen[r] = -1
	}
	sl.masks = Masks{}
	if nm > 0 {
		h := sl.maskHost.I32(0, nm)
		dev := I32{Ptr: sl.maskDev, N: nm}
		o := 0
		view := func(src []int32) I32 {
			copy(h[o:], src)
			v := dev.Slice(o, o+len(src))
			o += len(src)
			return v
		}
		if negMask {
			sl.masks.NegPtr = view(b.NegMaskPtr)
			sl.masks.Neg = view(b.NegMask)
		}
		if inMask {
			sl.masks.InPtr = view(b.InMaskPtr)
			sl.masks.In = view(b.InMask)
		}
	}
	// One copy each for ids, positions, rows and masks (contiguous in
	// pinned memory but not on the device).
	type upload struct {
		dst cu.DevicePtr
		src unsafe.Pointer
		n   int // int32s
	}
	copies := []upload{{sl.ids.Ptr, sl.host.Ptr(0), R}, {sl.pos.Ptr, sl.host.Ptr(4 * R), R}, {sl.rows.Ptr, sl.host.Ptr(8 * R), nr}}
	if nm > 0 {
		copies = append(copies, upload{sl.maskDev, sl.maskHost.Ptr(0), nm})
	}
	if err := sl.copyStart.Record(e.dev.Copy); err != nil {
		return fmt.Errorf("cuda: record event: %w", err)
	}
	for _, c := range copies {
		if c.n == 0 {
			continue
		}
		if err := cu.MemcpyHtoDAsync(c.dst, c.src, int64(4*c.n), e.dev.Copy); err != nil {
			return fmt.Errorf("cuda: upload batch: %w", err)
		}
	}
	if err := sl.copyDone.Record(e.dev.Copy); err != nil {
		return fmt.Errorf("cuda: record event: %w", err)
	}
	sl.batch, sl.shape, sl.nRows = b, s, nr
	return nil
}

// gradFn is the model-specific part of a step, enqueued on the compute
// stream after the batch is uploaded: it must leave the loss in
// e.loss.RowLoss() and apply the update. It returns the L2 row count whose
// sums of squares it left in e.sumsq (0 for none).
type gradFn func(sl *slot, st cu.Stream) (l2Rows int, err error)

// run does one step for b on the device thread; next, when non-nil, is
// staged into the other slot while the GPU computes b.
func (e *embedGPU) run(ctx context.Context, b, next *batch.Batch, body gradFn) (model.StepStats, error) {
	if err := ctx.Err(); err != nil {
		return model.StepStats{}, err
	}
	if err := e.check(b); err != nil {
		return model.StepStats{}, err
	}
	B := b.Size()
	if B == 0 {
		return model.StepStats{}, nil
	}
	if next != nil && e.check(next) != nil {
		next = nil // its own Step reports the error
	}
	var stats model.StepStats
	err := e.dev.Do(func() error {
		s := shapeOf(b, e.d)
		if !s.fits(e.cap) || e.work == nil {
			if err := e.dev.Sync(); err != nil {
				return err
			}
			if err := e.ensure(s); err != nil {
				return err
			}
		}
		var sl *slot
		prefetched := false
		for i := range e.slots {
			if e.slots[i].batch == b {
				sl, e.cur, prefetched = &e.slots[i], i, true
			}
		}
		if sl == nil {
			e.cur = 1 - e.cur
			if err := e.stage(b, e.cur); err != nil {
				return err
			}
			sl = &e.slots[e.cur]
		}
		st := e.dev.Compute
		if err := e.evWait.Record(st); err != nil {
			return fmt.Errorf("cuda: record event: %w", err)
		}
		if err := st.Wait(sl.copyDone, 0); err != nil {
			return fmt.Errorf("cuda: wait for upload: %w", err)
		}
		if err := e.evStart.Record(st); err != nil {
			return fmt.Errorf("cuda: record event: %w", err)
		}
		l2n, err := body(sl, st)
		if err != nil {
			return err
		}
		if err := cu.MemcpyDtoHAsync(e.lossOut.Ptr(0), e.loss.RowLoss().Ptr, int64(8*B), st); err != nil {
			return fmt.Errorf("cuda: download loss: %w", err)
		}
		if l2n > 0 {
			if err := cu.MemcpyDtoHAsync(e.lossOut.Ptr(8*e.cap.B), e.sumsq.Ptr, int64(8*l2n), st); err != nil {
				return fmt.Errorf("cuda: download l2: %w", err)
			}
		}
		if err := e.evEnd.Record(st); err != nil {
			return fmt.Errorf("cuda: record event: %w", err)
		}
		// Host work for the next batch overlaps the GPU's work on this one.
		// A failed prefetch leaves its slot empty: next's own step stages
		// it again and reports the error.
		if next != nil && shapeOf(next, e.d).fits(e.cap) {
			_ = e.stage(next, 1-e.cur)
		}
		if err := e.evEnd.Synchronize(); err != nil {
			return fmt.Errorf("cuda: %s step: %w", e.name, err)
		}
		sl.batch = nil
		rl := unsafe.Slice((*float64)(e.lossOut.Ptr(0)), B)
		var total float64
		for _, v := range rl {
			total += v
		}
		l := total / float64(B)
		if l2n > 0 {
			sq := unsafe.Slice((*float64)(e.lossOut.Ptr(8*e.cap.B)), l2n)
			var sum float64
			for _, v := range sq {
				sum += v
			}
			l += 0.5 * e.cfg.L2 * sum / float64(B)
		}
		if w, err := e.evWait.Elapsed(e.evStart); err == nil {
			e.timing.CopyWait += time.Duration(w * float64(time.Millisecond))
		}
		if w, err := e.evWait.Elapsed(e.evEnd); err == nil {
			e.timing.Step += time.Duration(w * float64(time.Millisecond))
		}
		e.timing.Steps++
		if prefetched {
			e.timing.Prefetched++
		}
		stats = model.StepStats{Loss: l, Examples: B}
		return nil
	})
	if err != nil {
		return model.StepStats{}, fmt.Errorf("%s (cuda): batch %d/%d: %w", e.name, b.Epoch, b.Index, err)
	}
	e.step++
	return stats, nil
}

// lr is the learning rate of the current step.
func (e *embedGPU) lr() float32 { return float32(e.sched.LR(e.step)) }

// l2 enqueues the regularisation term over the slot's distinct rows into
// grad (sparse: row k of grad; dense: row id) and returns the row count.
func (e *embedGPU) l2(sl *slot, st cu.Stream, grad F32, sparse bool) (int, error) {
	if e.cfg.L2 == 0 {
		return 0, nil
	}
	lam := float32(e.cfg.L2 / float64(sl.shape.B))
	if err := e.dev.Kernels.L2RegRows(st, grad, e.sumsq, e.table, sl.rows, sl.nRows, e.d, lam, sparse); err != nil {
		return 0, err
	}
	return sl.nRows, nil
}

// download copies a device buffer to a new host slice after syncing.
func (e *embedGPU) download(buf F32) ([]float32, error) {
	out := make([]float32, buf.N)
	err := e.dev.Do(func() error {
		if err := e.dev.Sync(); err != nil {
			return err
		}
		return DownloadF32(out, buf)
	})
	return out, err
}

// state exports the table and Adam state under consumer's names.
func (e *embedGPU) state() ([]model.Tensor, error) {
	var bufs [4][]float32
	for i, b := range []F32{e.table, e.m, e.v, e.steps} {
		var err error
		if bufs[i], err = e.download(b); err != nil {
			return nil, err
		}
	}
	return []model.Tensor{
		{Name: "param/emb", Shape: []int{e.n, e.d}, Data: bufs[0]},
		{Name: "opt/step", Shape: []int{1}, Data: []float32{float32(e.step)}},
		{Name: "opt/emb/adam_m", Shape: []int{e.n, e.d}, Data: bufs[1]},
		{Name: "opt/emb/adam_v", Shape: []int{e.n, e.d}, Data: bufs[2]},
		{Name: "opt/emb/adam_steps", Shape: []int{e.n}, Data: bufs[3]},
	}, nil
}

// load restores what state returned.
func (e *embedGPU) load(state []model.Tensor) error {
	want := map[string]F32{"param/emb": e.table, "opt/emb/adam_m": e.m, "opt/emb/adam_v": e.v, "opt/emb/adam_steps": e.steps}
	found := 0
	step := -1
	for _, t := range state {
		if t.Name == "opt/step" {
			if len(t.Data) != 1 {
				return fmt.Errorf("%s (cuda): load: opt/step has %d values, want 1", e.name, len(t.Data))
			}
			step = int(t.Data[0])
			continue
		}
		dst, ok := want[t.Name]
		if !ok {
			continue
		}
		if len(t.Data) != dst.N {
			return fmt.Errorf("%s (cuda): load: %s has %d values, want %d", e.name, t.Name, len(t.Data), dst.N)
		}
		if err := e.dev.Do(func() error { return UploadF32(dst, t.Data) }); err != nil {
			return fmt.Errorf("%s (cuda): load %s: %w", e.name, t.Name, err)
		}
		found++
	}
	if found != len(want) || step < 0 {
		return fmt.Errorf("%s (cuda): load: found %d of %d tensors (step counter found: %v)", e.name, found, len(want), step >= 0)
	}
	e.step = step
	return nil
}

// embeddings splits F (n × d) into users and items, L2-normalising rows
// when the model scores by cosine (as consumer does).
func (e *embedGPU) embeddings(F []float32) *model.Embeddings {
	d := e.d
	if e.cfg.Normalize {
		embedcore.NormalizeRows(F[:e.n*d], d)
	}
	return &model.Embeddings{Dim: d, Users: F[:e.users*d], Items: F[e.users*d:]}
}

// Timing returns the accumulated device timings.
func (e *embedGPU) Timing() Timing { return e.timing }
