//go:build !cuda

package sage

import (
	"context"
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"sort"
	"strings"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/trainerd/trainerd/batch"
	"github.com/trainerd/trainerd/consumer/embedcore"
	"github.com/trainerd/trainerd/consumer/loss"
	"github.com/trainerd/trainerd/consumer/nn"
	"github.com/trainerd/trainerd/consumer/optim"
	"github.com/trainerd/trainerd/internal/parallel"
	"github.com/trainerd/trainerd/linalg"
	"github.com/trainerd/trainerd/model"
)

// dparam is one dense parameter with its optimiser.
type dparam struct {
	name  string
	shape []int // rows × cols
	data  []float32
	opt   optim.Optimizer
}

// convSpec is what distinguishes PinSage from GraphSAGE: its layers.
type convSpec interface {
	// params lists the dense parameters (shapes) for input width in.
	params(in int) []dparam
	// forward maps the K+1 layers' input h (rows of Layers[K]) to the
	// outputs of Layers[0] through the hops (hops[k] maps Layers[k+1] to
	// Layers[k]).
	forward(p map[string]*G.Node, h *G.Node, hops []nn.Hop) (*G.Node, error)
	// needs says which hop inputs the aggregator uses.
	needs() hopNeeds
	// arch describes the hand-written network (convnet.go) for input
	// width in, or reports false for aggregators that run on the gorgonia
	// graph.
	arch(in int) (netArch, bool)
}

type hopNeeds struct {
	w, uniform, mask, self, idxSelf, wSelf, bias bool
}

// convModel is the shared machinery of PinSage and GraphSAGE: inputs (id
// embeddings gathered outside the network and updated with sparse Adam,
// store features through a projection), the hand-written network of
// convnet.go (PinSage; GraphSAGE mean and pool) or else one gorgonia
// machine per padded shape (GraphSAGE gcn and gat), the loss, dense Adam
// on the layer parameters, Embed and State.
type convModel struct {
	name    string
	cfg     model.Config
	info    model.Info
	spec    convSpec
	k       int
	useID   bool
	useFeat bool
	featDim int

	params []*dparam
	emb    []float32 // (U+I)×Dim id table, nil unless useID
	embOpt optim.Optimizer
	loss   gnnLoss
	sched  optim.Schedule
	embedcore.HyperOverride
	step int

	// net is the hand-written network when the spec has one; the gorgonia
	// machines below serve the other aggregators.
	net      *convNet[float32]
	netGrads [][]float32 // net's gradient of params[i]
	sizes    []int       // scratch: a batch's layer sizes

	train map[string]*machine
	embed map[string]*machine

	nbrFn  model.NeighborFunc
	embedT int

	rows []int32 // scratch: Layers[K] ids for the sparse update
}

// machine is one compiled graph for one padded shape.
type machine struct {
	sizes  []int // padded |Layers[0..K]|
	t      int
	g      *G.ExprGraph
	vm     G.VM
	x, f   *G.Node
	xv, fv []float32
	hops   []hopInputs
	pnodes []*G.Node
	out    *G.Node
	cost   *G.Node
	grads  []*G.Node // params then x (when useID)
}

type hopInputs struct {
	idx, self, idxSelf []int
	w, mask, wSelf     []float32
	bias               []float32
}

func newConvModel(name string, cfg model.Config, info model.Info, spec convSpec) (*convModel, error) {
	G.Use(linalg.Implementation{})
	if info.NumUsers <= 0 || info.NumItems <= 0 {
		return nil, fmt.Errorf("%s: need users and items, got %d users and %d items", name, info.NumUsers, info.NumItems)
	}
	m := &convModel{name: name, cfg: cfg, info: info, spec: spec, k: cfg.Layers,
		featDim: info.UserFeatDim + info.ItemFeatDim, train: map[string]*machine{}, embed: map[string]*machine{}, embedT: 10}
	var err error
	if m.useID, m.useFeat, err = embedcore.Inputs(cfg.Inputs, m.featDim); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	// one team runs the network's row blocks, the loss's rows and the
	// optimisers' rows: a step launches no goroutine.
	team := parallel.NewTeam(netThreads(cfg.Threads))
	l, err := loss.New(loss.Config{Kind: cfg.Loss, Margin: float32(cfg.Margin), NegWeight: float32(cfg.NegWeight), Temperature: float32(cfg.Temperature),
		InBatch: cfg.InBatch, Cosine: cfg.Normalize, Threads: cfg.Threads, Team: team})
	if err != nil {
		return nil, fmt.Errorf("%s: model.loss: %w", name, err)
	}
	m.loss.loss = l
	m.sched = optim.Schedule{Kind: cfg.LRSchedule, Base: cfg.LR, Warmup: cfg.WarmupSteps, DecaySteps: cfg.DecaySteps,
		DecayRate: cfg.DecayRate, MinLR: cfg.MinLR}
	if err := m.sched.Validate(); err != nil {
		return nil, fmt.Errorf("%s: model.lr_schedule: %w", name, err)
	}
	newOpt := func(rows, dim int) (optim.Optimizer, error) {
		o, err := optim.New(optim.Params{Kind: cfg.Optimizer, Threads: cfg.Threads, Team: team}, rows, dim)
		if err != nil {
			return nil, fmt.Errorf("%s: model.optimizer: %w", name, err)
		}
		return o, nil
	}
	var ps []dparam
	if m.useFeat {
		ps = append(ps, dparam{name: "proj/W", shape: []int{m.featDim, cfg.Dim}}, dparam{name: "proj/b", shape: []int{1, cfg.Dim}})
	}
	ps = append(ps, spec.params(cfg.Dim)...)
	for i := range ps {
		p := ps[i]
		rows, cols := p.shape[0], p.shape[1]
		if strings.HasSuffix(p.name, "/b") || rows == 1 {
			p.data = make([]float32, rows*cols) // biases start at zero
		} else {
			// Glorot normal
			p.data = embedcore.InitNormal(rows*cols, math.Sqrt(2/float64(rows+cols)), cfg.Seed, uint64(100+i))
		}
		if p.opt, err = newOpt(rows, cols); err != nil {
			return nil, err
		}
		m.params = append(m.params, &p)
	}
	if m.useID {
		n := info.NumUsers + info.NumItems
		m.emb = embedcore.InitNormal(n*cfg.Dim, cfg.InitStd, cfg.Seed, 1)
		if m.embOpt, err = newOpt(n, cfg.Dim); err != nil {
			return nil, err
		}
	}
	if arch, ok := spec.arch(cfg.Dim); ok {
		arch.dim, arch.useID = cfg.Dim, m.useID
		if m.useFeat {
			arch.featDim = m.featDim
		}
		byName := make(map[string][]float32, len(m.params))
		for _, p := range m.params {
			byName[p.name] = p.data
		}
		if m.net, err = newConvNet(arch, byName, team); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for _, p := range m.params {
			g, ok := m.net.grad[p.name]
			if !ok {
				return nil, fmt.Errorf("%s: parameter %s is not in the network", name, p.name)
			}
			m.netGrads = append(m.netGrads, g)
		}
	}
	return m, nil
}

// netThreads is model.threads with its default, GOMAXPROCS.
func netThreads(n int) int {
	if n <= 0 {
		return runtime.GOMAXPROCS(0)
	}
	return n
}

// Name implements Model.
func (m *convModel) Name() string { return m.name }

// SetNeighbors implements NeighborSetter.
func (m *convModel) SetNeighbors(fn model.NeighborFunc, t int) {
	m.nbrFn = fn
	if t > 0 {
		m.embedT = t
	}
}

// bucket rounds n up to a padded size: at most 12.5% larger than n, so a
// training run meets few distinct shapes (one compiled machine each).
func bucket(n int) int {
	if n <= 64 {
		return 64
	}
	step := 1 << (bits.Len(uint(n)) - 4)
	return (n + step - 1) / step * step
}

// maxMachines bounds the machine caches; beyond it the cache is dropped.
const maxMachines = 64

func shapeKey(sizes []int, t int) string { return fmt.Sprint(sizes, t) }

// buildMachine compiles the graph for padded sizes and T slots; with
// train it adds the loss and the gradients.
func (m *convModel) buildMachine(sizes []int, t int, train bool) (*machine, error) {
	g := G.NewGraph()
	mc := &machine{sizes: sizes, t: t, g: g}
	K := m.k
	nK := sizes[K]
	var h *G.Node
	if m.useID {
		mc.xv = make([]float32, nK*m.cfg.Dim)
		mc.x = G.NewMatrix(g, tensor.Float32, G.WithShape(nK, m.cfg.Dim), G.WithName("x"),
			G.WithValue(tensor.New(tensor.WithShape(nK, m.cfg.Dim), tensor.WithBacking(mc.xv))))
		h = mc.x
	}
	pn := map[string]*G.Node{}
	for _, p := range m.params {
		n := G.NewMatrix(g, tensor.Float32, G.WithShape(p.shape...), G.WithName(p.name),
			G.WithValue(tensor.New(tensor.WithShape(p.shape...), tensor.WithBacking(p.data))))
		pn[p.name] = n
		mc.pnodes = append(mc.pnodes, n)
	}
	if m.useFeat {
		mc.fv = make([]float32, nK*m.featDim)
		mc.f = G.NewMatrix(g, tensor.Float32, G.WithShape(nK, m.featDim), G.WithName("feat"),
			G.WithValue(tensor.New(tensor.WithShape(nK, m.featDim), tensor.WithBacking(mc.fv))))
		fp, err := nn.Linear{W: pn["proj/W"], B: pn["proj/b"]}.Fwd(mc.f)
		if err != nil {
			return nil, err
		}
		if h == nil {
			h = fp
		} else if h, err = G.Add(h, fp); err != nil {
			return nil, err
		}
	}
	need := m.spec.needs()
	hops := make([]nn.Hop, K)
	mc.hops = make([]hopInputs, K)
	intVec := func(name string, v []int) *G.Node {
		return G.NewVector(g, tensor.Int, G.WithShape(len(v)), G.WithName(name),
			G.WithValue(tensor.New(tensor.WithShape(len(v)), tensor.WithBacking(v))))
	}
	f32 := func(name string, v []float32, shape ...int) *G.Node {
		return G.NewTensor(g, tensor.Float32, len(shape), G.WithShape(shape...), G.WithName(name),
			G.WithValue(tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))))
	}
	for k := 0; k < K; k++ {
		n := sizes[k]
		hi := &mc.hops[k]
		hp := nn.Hop{N: n, T: t}
		pre := fmt.Sprintf("hop%d/", k)
		if need.w {
			hi.idx, hi.w = make([]int, n*t), make([]float32, n*t)
			hp.Idx, hp.W = intVec(pre+"idx", hi.idx), f32(pre+"w", hi.w, n*t)
		}
		if need.mask {
			if hi.idx == nil {
				hi.idx = make([]int, n*t)
				hp.Idx = intVec(pre+"idx", hi.idx)
			}
			hi.mask = make([]float32, n*t)
			hp.Mask = f32(pre+"mask", hi.mask, n*t)
		}
		if need.self {
			hi.self = make([]int, n)
			for i := range hi.self {
				hi.self[i] = i
			}
			hp.Self = intVec(pre+"self", hi.self)
		}
		if need.idxSelf {
			hi.idxSelf = make([]int, n*(t+1))
			hp.IdxSelf = intVec(pre+"idxself", hi.idxSelf)
		}
		if need.wSelf {
			hi.wSelf = make([]float32, n*(t+1))
			hp.WSelf = f32(pre+"wself", hi.wSelf, n*(t+1))
		}
		if need.bias {
			hi.bias = make([]float32, n*(t+1))
			hp.BiasSelf = f32(pre+"bias", hi.bias, n, t+1)
		}
		hops[k] = hp
	}
	out, err := m.spec.forward(pn, h, hops)
	if err != nil {
		return nil, fmt.Errorf("%s: building graph %v: %w", m.name, sizes, err)
	}
	mc.out = out
	if train {
		if mc.cost, err = G.ApplyOp(lossOp{&m.loss}, out); err != nil {
			return nil, fmt.Errorf("%s: loss node: %w", m.name, err)
		}
		wrt := append([]*G.Node(nil), mc.pnodes...)
		if m.useID {
			wrt = append(wrt, mc.x)
		}
		if mc.grads, err = G.Grad(mc.cost, wrt...); err != nil {
			return nil, fmt.Errorf("%s: gradient graph %v: %w", m.name, sizes, err)
		}
	}
	mc.vm = G.NewTapeMachine(g)
	return mc, nil
}

// machineFor returns the (cached) machine for padded sizes.
func (m *convModel) machineFor(sizes []int, t int, train bool) (*machine, error) {
	cache := m.embed
	if train {
		cache = m.train
	}
	key := shapeKey(sizes, t)
	if mc, ok := cache[key]; ok {
		return mc, nil
	}
	if len(cache) >= maxMachines {
		for k, mc := range cache {
			mc.vm.Close()
			delete(cache, k)
		}
	}
	mc, err := m.buildMachine(sizes, t, train)
	if err != nil {
		return nil, err
	}
	cache[key] = mc
	return mc, nil
}

// fill copies a computation graph (layers, hops, features) into mc's inputs.
func (m *convModel) fill(mc *machine, layers [][]uint32, nbrIdx [][]int32, nbrW [][]float32, feat []float32) {
	d, t := m.cfg.Dim, mc.t
	K := m.k
	if m.useID {
		clear(mc.xv)
		for r, id := range layers[K] {
			copy(mc.xv[r*d:r*d+d], m.emb[int(id)*d:int(id)*d+d])
		}
	}
	if m.useFeat {
		clear(mc.fv)
		copy(mc.fv, feat)
	}
	for k := 0; k < K; k++ {
		hi := &mc.hops[k]
		n := len(layers[k])
		idx, w := nbrIdx[k], nbrW[k]
		for u := 0; u < mc.sizes[k]; u++ {
			valid := 0
			if u < n {
				for s := 0; s < t; s++ {
					if w[u*t+s] > 0 {
						valid++
					}
				}
			}
			for s := 0; s < t; s++ {
				j := u*t + s
				var ix int
				var wt float32
				ok := u < n && w[j] > 0
				if ok {
					ix, wt = int(idx[j]), w[j]
				}
				if hi.w != nil {
					hi.idx[j] = ix
					if m.spec.needs().uniform {
						wt = 0
						if ok {
							wt = 1 / float32(valid)
						}
					}
					hi.w[j] = wt
				} else if hi.idx != nil {
					hi.idx[j] = ix
				}
				if hi.mask != nil {
					hi.mask[j] = 0
					if ok {
						hi.mask[j] = 1
					}
				}
				js := u*(t+1) + s
				if hi.idxSelf != nil {
					hi.idxSelf[js] = ix
				}
				if hi.wSelf != nil {
					hi.wSelf[js] = 0
					if ok {
						hi.wSelf[js] = 1 / float32(valid+1)
					}
				}
				if hi.bias != nil {
					hi.bias[js] = -1e9
					if ok {
						hi.bias[js] = 0
					}
				}
			}
			js := u*(t+1) + t
			if hi.idxSelf != nil {
				hi.idxSelf[js] = u
			}
			if hi.wSelf != nil {
				hi.wSelf[js] = 1 / float32(valid+1)
			}
			if hi.bias != nil {
				hi.bias[js] = 0
			}
		}
	}
}

// check validates a batch against the model.
func (m *convModel) check(b *batch.Batch) error {
	if err := m.checkBatch(b); err != nil {
		return fmt.Errorf("%s: batch %d/%d: %w", m.name, b.Epoch, b.Index, err)
	}
	return nil
}

// checkBatch is check without the batch's name in the errors (formatted
// only on failure: a step allocates nothing).
func (m *convModel) checkBatch(b *batch.Batch) error {
	if err := b.CheckGraph(m.k, m.info.NumUsers+m.info.NumItems); err != nil {
		return err
	}
	if err := b.CheckTargets(); err != nil {
		return err
	}
	if m.useFeat && (b.FeatDim != m.featDim || len(b.Feat) != len(b.Layers[m.k])*m.featDim) {
		return fmt.Errorf("features %d×%d, want %d×%d (model.inputs=%s)", len(b.Feat)/max(1, b.FeatDim), b.FeatDim, len(b.Layers[m.k]), m.featDim, m.cfg.Inputs)
	}
	return nil
}

// Step implements Model: one forward, loss, backward and update.
func (m *convModel) Step(ctx context.Context, b *batch.Batch) (model.StepStats, error) {
	if err := ctx.Err(); err != nil {
		return model.StepStats{}, err
	}
	if err := m.check(b); err != nil {
		return model.StepStats{}, err
	}
	if len(b.QueryIdx) == 0 {
		return model.StepStats{}, nil
	}
	if m.net != nil {
		return m.stepNet(b)
	}
	sizes := make([]int, m.k+1)
	for k := range sizes {
		sizes[k] = bucket(len(b.Layers[k]))
	}
	mc, err := m.machineFor(sizes, b.T, true)
	if err != nil {
		return model.StepStats{}, err
	}
	m.fill(mc, b.Layers, b.NbrIdx, b.NbrW, b.Feat)
	m.ApplyMargin(m.loss.loss)
	m.loss.setBatch(b)
	mc.vm.Reset()
	if err := mc.vm.RunAll(); err != nil {
		return model.StepStats{}, fmt.Errorf("%s: batch %d/%d: %w", m.name, b.Epoch, b.Index, err)
	}
	lr := m.LRAt(m.sched, m.step)
	for i, p := range m.params {
		gd, ok := mc.grads[i].Value().Data().([]float32)
		if !ok || len(gd) != len(p.data) {
			return model.StepStats{}, fmt.Errorf("%s: gradient of %s has the wrong type or size", m.name, p.name)
		}
		p.opt.Update(p.data, nil, gd, lr)
	}
	var gx []float32
	if m.useID {
		gx = mc.grads[len(m.params)].Value().Data().([]float32)
	}
	return m.finishStep(b, gx, lr)
}

// stepNet is Step on the hand-written network.
func (m *convModel) stepNet(b *batch.Batch) (model.StepStats, error) {
	net, d, K := m.net, m.cfg.Dim, m.k
	m.sizes = embedcore.Grow(m.sizes, K+1)
	for k := range m.sizes {
		m.sizes[k] = len(b.Layers[k])
	}
	net.setHops(m.sizes, b.T, b.NbrIdx, b.NbrW, true)
	z := net.forward(m.emb, b.Layers[K], b.Feat)
	m.ApplyMargin(m.loss.loss)
	m.loss.setBatch(b)
	m.loss.compute(z, m.sizes[0], d)
	if m.loss.err != nil {
		return model.StepStats{}, fmt.Errorf("%s: batch %d/%d: %w", m.name, b.Epoch, b.Index, m.loss.err)
	}
	gx := net.backward(m.loss.dZ)
	lr := m.LRAt(m.sched, m.step)
	for i, p := range m.params {
		p.opt.Update(p.data, nil, m.netGrads[i], lr)
	}
	return m.finishStep(b, gx, lr)
}

// finishStep applies the id rows' gradient gx (rows of Layers[K], when
// useID) with the L2 term through the sparse optimiser, and counts the
// step.
func (m *convModel) finishStep(b *batch.Batch, gx []float32, lr float32) (model.StepStats, error) {
	lossV := m.loss.value
	if m.useID {
		d := m.cfg.Dim
		ids := b.Layers[m.k]
		m.rows = m.rows[:0]
		for _, id := range ids {
			m.rows = append(m.rows, int32(id))
		}
		g := gx[:len(ids)*d]
		if m.cfg.L2 > 0 {
			lam := float32(m.cfg.L2 / float64(len(b.QueryIdx)))
			var s float64
			for r, id := range ids {
				e := m.emb[int(id)*d : int(id)*d+d]
				for c, v := range e {
					g[r*d+c] += lam * v
					s += float64(v) * float64(v)
				}
			}
			lossV += 0.5 * m.cfg.L2 * s / float64(len(b.QueryIdx))
		}
		m.embOpt.Update(m.emb, m.rows, g, lr)
	}
	m.step++
	if math.IsNaN(lossV) || math.IsInf(lossV, 0) {
		return model.StepStats{}, fmt.Errorf("%s: batch %d/%d: loss is %v", m.name, b.Epoch, b.Index, lossV)
	}
	return model.StepStats{Loss: lossV, Examples: len(b.QueryIdx)}, nil
}

// embedChunk is the number of target nodes Embed convolves at once.
const embedChunk = 1024

// Embed implements Model: every user's and item's output vector, computed
// chunk by chunk over the neighbourhoods of SetNeighbors (or the graph's):
// EmbedNodes over every node id in order.
func (m *convModel) Embed(ctx context.Context) (*model.Embeddings, error) {
	all := make([]uint32, m.info.NumUsers+m.info.NumItems)
	for i := range all {
		all[i] = uint32(i)
	}
	out, d, err := m.EmbedNodes(ctx, all)
	if err != nil {
		return nil, err
	}
	return &model.Embeddings{Dim: d, Users: out[:m.info.NumUsers*d], Items: out[m.info.NumUsers*d:]}, nil
}

// embedNet runs the hand-written network forward on one computation
// graph (hopsFor's layout) and returns its output rows.
func (m *convModel) embedNet(layers [][]uint32, idx [][]int32, w [][]float32, feat []float32) []float32 {
	net, K := m.net, m.k
	m.sizes = embedcore.Grow(m.sizes, K+1)
	for k := range m.sizes {
		m.sizes[k] = len(layers[k])
	}
	net.setHops(m.sizes, m.embedT, idx, w, false)
	return net.forward(m.emb, layers[K], feat)
}

// State implements Model: "param/<name>" for every dense parameter and
// "param/emb" for the id table, then "opt/<name>/..." and "opt/step".
func (m *convModel) State() []model.Tensor {
	var ts []model.Tensor
	for _, p := range m.params {
		ts = append(ts, model.Tensor{Name: "param/" + p.name, Shape: p.shape, Data: p.data})
	}
	if m.useID {
		ts = append(ts, model.Tensor{Name: "param/emb", Shape: []int{m.info.NumUsers + m.info.NumItems, m.cfg.Dim}, Data: m.emb})
	}
	for _, p := range m.params {
		ts = append(ts, embedcore.OptTensors(p.opt.State("opt/"+p.name+"/"))...)
	}
	if m.useID {
		ts = append(ts, embedcore.OptTensors(m.embOpt.State("opt/emb/"))...)
	}
	ts = append(ts, model.Tensor{Name: "opt/step", Shape: []int{1}, Data: []float32{float32(m.step)}})
	return embedcore.CloneTensors(ts)
}

// Load implements Model.
func (m *convModel) Load(state []model.Tensor) error {
	byName := make(map[string]model.Tensor, len(state))
	for _, t := range state {
		byName[t.Name] = t
	}
	want := map[string][]float32{}
	for _, p := range m.params {
		want["param/"+p.name] = p.data
	}
	if m.useID {
		want["param/emb"] = m.emb
	}
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t, ok := byName[n]
		if !ok {
			return fmt.Errorf("%s: load: missing %s", m.name, n)
		}
		if len(t.Data) != len(want[n]) {
			return fmt.Errorf("%s: load: %s has %d values, want %d", m.name, n, len(t.Data), len(want[n]))
		}
	}
	st, ok := byName["opt/step"]
	if !ok || len(st.Data) != 1 {
		return fmt.Errorf("%s: load: missing opt/step", m.name)
	}
	arrs := embedcore.OptArrays(state)
	for _, p := range m.params {
		if err := p.opt.Load("opt/"+p.name+"/", arrs); err != nil {
			return fmt.Errorf("%s: load optimiser of %s: %w", m.name, p.name, err)
		}
	}
	if m.useID {
		if err := m.embOpt.Load("opt/emb/", arrs); err != nil {
			return fmt.Errorf("%s: load optimiser of emb: %w", m.name, err)
		}
	}
	for _, n := range names {
		copy(want[n], byName[n].Data)
	}
	m.step = int(st.Data[0])
	return nil
}
