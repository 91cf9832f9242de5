package producer

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/trainerd/trainerd/dataset"
	"github.com/trainerd/trainerd/graph"
	"github.com/trainerd/trainerd/modelspec"
)

// FeatureSource supplies node input features; the featurestore satisfies
// it. A nil FeatureSource means no features.
type FeatureSource interface {
	// Schema is the feature schema of node type t (empty: none).
	Schema(t dataset.NodeType) dataset.Schema
	// FetchFeatures reads the rows of ids (dense ids of type t) into dst,
	// row-major, len(ids)*Schema(t).Dim() values, in one batched read.
	FetchFeatures(t dataset.NodeType, ids []uint32, dst []float32) error
}

// RowFeatureSource is a FeatureSource that can also write each vector
// straight into its row of a wider matrix (the featurestore can): the
// vector of ids[k] goes to dst[rows[k]*stride+off:][:Schema(t).Dim()].
// Batches then skip a staging buffer and a copy of every feature.
type RowFeatureSource interface {
	FeatureSource
	FetchFeatureRows(t dataset.NodeType, ids []uint32, dst []float32, rows []int32, stride, off int) error
}

// Sampler builds batches. Batch is a pure function of its inputs and the
// Sampler is safe for concurrent use: each call borrows a scratch set
// (visit counters, marks) from a free list, so the steady state allocates
// little.
type Sampler struct {
	g      *graph.Bipartite
	fs     FeatureSource
	cfg    Config
	nu, ni int
	kind   ExampleKind
	alphaT uint32

	userDim, itemDim int

	numExamples int
	anchors     []uint32 // item_item: UserAdj positions whose user has degree ≥ 2
	starts      []uint32 // walks: global ids of nodes with degree > 0
	walkPairs   [][2]uint8
	negBase     uint32 // global id of pool index 0
	negN        int    // pool domain size
	negAlias    *alias // nil: uniform

	cache *nbrCache
	// hcache holds each query's hard-negative candidates for one epoch
	// (nil when hard.candidates is -1).
	hcache *slotCache[uint32]

	freeMu sync.Mutex
	free   []*scratch

	walks, steps, built atomic.Uint64
}

// New validates cfg (after EnsureDefaults) and prepares the sampler's
// read-only tables: example anchors, the negative alias table and, when
// configured, the neighborhood cache.
func New(g *graph.Bipartite, fs FeatureSource, cfg Config) (*Sampler, error) {
	if g == nil {
		return nil, fmt.Errorf("producer: nil graph")
	}
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Sampler{g: g, fs: fs, cfg: cfg, nu: g.NumUsers, ni: g.NumItems, alphaT: restartThreshold(cfg.Walk.Alpha)}
	if uint64(s.nu)+uint64(s.ni) >= math.MaxUint32 {
		return nil, fmt.Errorf("producer: %d users + %d items exceed the uint32 global id space", s.nu, s.ni)
	}
	if fs != nil {
		s.userDim = fs.Schema(dataset.User).Dim()
		s.itemDim = fs.Schema(dataset.Item).Dim()
	}
	s.negBase, s.negN = uint32(s.nu), s.ni
	s.kind, _ = modelspec.ParseExampleKind(cfg.Examples.Kind) // Validate checked it
	switch s.kind {
	case UserItem:
		s.numExamples = g.NumEdges()
	case ItemItem:
		for u := 0; u < s.nu; u++ {
			if g.UserDegree(uint32(u)) >= 2 {
				for e := g.UserPtr[u]; e < g.UserPtr[u+1]; e++ {
					s.anchors = append(s.anchors, e)
				}
			}
		}
		s.numExamples = len(s.anchors)
	case WalkPair:
		if cfg.Examples.WalkLength > 255 {
			return nil, fmt.Errorf("producer.examples.walk_length: must be ≤ 255, got %d", cfg.Examples.WalkLength)
		}
		for v := 0; v < s.nu+s.ni; v++ {
			if s.degree(uint32(v)) > 0 {
				s.starts = append(s.starts, uint32(v))
			}
		}
		L, W := cfg.Examples.WalkLength, cfg.Examples.Window
		for i := 0; i < L; i++ {
			for j := max(0, i-W); j <= min(L-1, i+W); j++ {
				if j != i {
					s.walkPairs = append(s.walkPairs, [2]uint8{uint8(i), uint8(j)})
				}
			}
		}
		s.numExamples = len(s.starts) * cfg.Examples.WalksPerNode * len(s.walkPairs)
		s.negBase, s.negN = 0, s.nu+s.ni
	}
	if s.negN == 0 {
		return nil, fmt.Errorf("producer: empty negative domain (%d users, %d items)", s.nu, s.ni)
	}
	if cfg.Negatives.Dist == "degree" {
		w := make([]float64, s.negN)
		any := false
		for i := range w {
			if d := s.degree(s.negBase + uint32(i)); d > 0 {
				w[i] = math.Pow(float64(d), cfg.Negatives.Power)
				any = true
			}
		}
		if any {
			s.negAlias = newAlias(w)
		}
	}
	if cfg.Neighbors.Cache && cfg.Layers > 0 {
		s.cache = newNbrCache(s.nu+s.ni, cfg.Neighbors.T)
	}
	if cfg.Hard.Candidates > 0 {
		s.hcache = newSlotCache[uint32](s.nu+s.ni, cfg.Hard.Candidates)
	}
	return s, nil
}

// Config returns the sampler's configuration with defaults filled.
func (s *Sampler) Config() Config { return s.cfg }

// NumExamples is the number of training examples per epoch.
func (s *Sampler) NumExamples() int { return s.numExamples }

// BatchesPerEpoch is ⌈NumExamples/BatchSize⌉.
func (s *Sampler) BatchesPerEpoch() int {
	return (s.numExamples + s.cfg.BatchSize - 1) / s.cfg.BatchSize
}

// FeatDim is the width of Batch.Feat rows (user dim + item dim; 0 without
// a FeatureSource).
func (s *Sampler) FeatDim() int { return s.userDim + s.itemDim }

// degree of global node v.
func (s *Sampler) degree(v uint32) int {
	if int(v) < s.nu {
		return s.g.UserDegree(v)
	}
	return s.g.ItemDegree(v - uint32(s.nu))
}

// split turns a global id into (side, local id).
func (s *Sampler) split(v uint32) (dataset.NodeType, uint32) {
	if int(v) < s.nu {
		return dataset.User, v
	}
	return dataset.Item, v - uint32(s.nu)
}

// global turns (side, local id) into a global id.
func (s *Sampler) global(t dataset.NodeType, v uint32) uint32 {
	if t == dataset.User {
		return v
	}
	return v + uint32(s.nu)
}

// scratch is the per-goroutine working memory of Batch.
type scratch struct {
	w      *walker
	gen    uint32
	mark   []uint32 // global id → gen: positive of the batch or already pooled
	pos    []int32  // global id → position in the layers when posGen == gen
	posGen []uint32
	slot   []int32 // global id → pool slot when slotGn == gen
	slotGn []uint32
	head   []int32 // global id → first example with that positive when headGn == gen
	headGn []uint32
	next   []int32 // example → next example with the same positive, -1 at the end
	hgen   uint32
	hmark  []uint32 // global id → hgen: positive of the current hard query
	cands  []uint32 // hard-negative candidates of one query
	packed []uint64 // one packed neighborhood-cache slot
	nbrIDs []uint32
	nbrCnt []uint32
	nbrW   []float32
	walk   []uint32
	ranks  []int
	uids   []uint32
	urows  []int32
	iids   []uint32
	irows  []int32
	fbuf   []float32
}

func (s *Sampler) getScratch() *scratch {
	s.freeMu.Lock()
	if n := len(s.free); n > 0 {
		sc := s.free[n-1]
		s.free = s.free[:n-1]
		s.freeMu.Unlock()
		return sc
	}
	s.freeMu.Unlock()
	n := s.nu + s.ni
	T := s.cfg.Neighbors.T
	return &scratch{
		w:      newWalker(s.g),
		mark:   make([]uint32, n),
		pos:    make([]int32, n),
		posGen: make([]uint32, n),
		slot:   make([]int32, n),
		slotGn: make([]uint32, n),
		head:   make([]int32, n),
		headGn: make([]uint32, n),
		hmark:  make([]uint32, n),
		cands:  make([]uint32, max(s.cfg.Hard.Candidates, 0)),
		packed: make([]uint64, T),
		nbrIDs: make([]uint32, T),
		nbrCnt: make([]uint32, T),
		nbrW:   make([]float32, T),
		walk:   make([]uint32, s.cfg.Examples.WalkLength),
	}
}

func (s *Sampler) putScratch(sc *scratch) {
	s.walks.Add(sc.w.walks)
	s.steps.Add(sc.w.steps)
	sc.w.walks, sc.w.steps = 0, 0
	s.freeMu.Lock()
	s.free = append(s.free, sc)
	s.freeMu.Unlock()
}

// nextGen advances a generation stamp, clearing its array on wrap-around.
func nextGen(gen *uint32, arrs ...[]uint32) {
	*gen++
	if *gen == 0 {
		for _, a := range arrs {
			clear(a)
		}
		*gen = 1
	}
}

// SamplerStats are the Sampler's cumulative counters.
type SamplerStats struct {
	Walks   uint64 // Pixie / PPR walks (restarts)
	Steps   uint64 // walk steps (two hops each)
	Batches uint64 // batches built
}

// Stats returns the cumulative counters.
func (s *Sampler) Stats() SamplerStats {
	return SamplerStats{Walks: s.walks.Load(), Steps: s.steps.Load(), Batches: s.built.Load()}
}

// Batch builds batch index of epoch into dst, reusing dst's slices. The
// result depends only on the graph, the features, the config, epoch, index
// and p, never on the caller's goroutine or on other calls.
func (s *Sampler) Batch(epoch, index int, p EpochParams, dst *Batch) error {
	if epoch < 0 || index < 0 || index >= s.BatchesPerEpoch() {
		return fmt.Errorf("producer: batch (epoch %d, index %d) out of range (%d batches per epoch)", epoch, index, s.BatchesPerEpoch())
	}
	if err := p.validate(); err != nil {
		return err
	}
	p = p.resolve(&s.cfg)
	if s.kind == WalkPair {
		p.HardPer = 0
	}
	sc := s.getScratch()
	defer s.putScratch(sc)
	if s.cache != nil {
		s.cache.acquire(epoch)
		defer s.cache.release()
	}
	if s.hcache != nil {
		s.hcache.acquire(epoch)
		defer s.hcache.release()
	}
	nextGen(&sc.gen, sc.mark, sc.posGen, sc.slotGn, sc.headGn)

	dst.Epoch, dst.Index, dst.Kind = epoch, index, s.kind
	s.examples(sc, epoch, index, dst)
	if err := s.pool(sc, epoch, index, p.PoolSize, dst); err != nil {
		return err
	}
	s.masks(sc, dst)
	if err := s.hard(sc, epoch, index, p, dst); err != nil {
		return err
	}
	if err := s.assemble(sc, epoch, index, dst); err != nil {
		return err
	}
	s.built.Add(1)
	return nil
}

// examples fills Query and Pos with the batch's slice of the epoch's
// shuffled example sequence.
func (s *Sampler) examples(sc *scratch, epoch, index int, dst *Batch) {
	B := s.cfg.BatchSize
	lo := index * B
	hi := min(lo+B, s.numExamples)
	perm := newPermutation(uint64(s.numExamples), streamKey(s.cfg.Seed, tagPerm, uint64(epoch), 0, 0))
	dst.Query, dst.Pos = dst.Query[:0], dst.Pos[:0]
	g := s.g
	for x := lo; x < hi; x++ {
		id := perm.at(uint64(x))
		var q, pp uint32
		switch s.kind {
		case UserItem:
			e := uint32(id)
			u := s.userOfEdge(e)
			q, pp = u, uint32(s.nu)+g.UserAdj[e]
		case ItemItem:
			e := s.anchors[id]
			u := s.userOfEdge(e)
			items := g.ItemsOf(u)
			at := e - g.UserPtr[u]
			i := items[at]
			r := newRNG(streamKey(s.cfg.Seed, tagExample, uint64(epoch), id, 0))
			j := uint32(math.MaxUint32)
			if s.cfg.Examples.ItemItem == "walk" {
				j = s.coVisited(i, &r)
			}
			if j == math.MaxUint32 {
				k := r.intn(uint32(len(items) - 1))
				if k >= at {
					k++
				}
				j = items[k]
			}
			q, pp = uint32(s.nu)+i, uint32(s.nu)+j
		case WalkPair:
			np := uint64(len(s.walkPairs))
			w, k := id/np, s.walkPairs[id%np]
			q, pp = s.walkNode(sc, epoch, w, k)
		}
		dst.Query = append(dst.Query, q)
		dst.Pos = append(dst.Pos, pp)
	}
}

// userOfEdge finds the user whose CSR row holds position e.
func (s *Sampler) userOfEdge(e uint32) uint32 {
	ptr := s.g.UserPtr
	lo, hi := 0, s.nu // invariant: ptr[lo] ≤ e < ptr[hi]
	for hi-lo > 1 {
		m := int(uint(lo+hi) >> 1)
		if ptr[m] <= e {
			lo = m
		} else {
			hi = m
		}
	}
	return uint32(lo)
}

// coVisited walks item→user→item (restarting with probability α) from
// item i until it lands on another item; MaxUint32 if 64 steps do not.
func (s *Sampler) coVisited(i uint32, r *rng) uint32 {
	g := s.g
	cur := i
	for step := 0; step < 64; step++ {
		us := g.UsersOf(cur)
		u := us[r.intn(uint32(len(us)))]
		its := g.ItemsOf(u)
		cur = its[r.intn(uint32(len(its)))]
		if cur != i {
			return cur
		}
		if uint32(r.next()) < s.alphaT {
			cur = i
		}
	}
	return math.MaxUint32
}

// walkNode regenerates DeepWalk walk w of epoch (seeded by (seed, epoch,
// w)) far enough to return its nodes at positions k[0] and k[1].
func (s *Sampler) walkNode(sc *scratch, epoch int, w uint64, k [2]uint8) (uint32, uint32) {
	r := newRNG(streamKey(s.cfg.Seed, tagWalkPair, uint64(epoch), w, 0))
	n := int(max(k[0], k[1])) + 1
	walk := sc.walk[:n]
	v := s.starts[w%uint64(len(s.starts))]
	nu := uint32(s.nu)
	for t := 0; t < n; t++ {
		walk[t] = v
		if v < nu {
			its := s.g.ItemsOf(v)
			v = nu + its[r.intn(uint32(len(its)))]
		} else {
			us := s.g.UsersOf(v - nu)
			v = us[r.intn(uint32(len(us)))]
		}
	}
	return walk[k[0]], walk[k[1]]
}

// pool draws the shared negative pool: size distinct nodes of the negative
// domain (items, or all nodes for walk pairs), uniform or ∝ degree^power.
// For item_item and walks no pool node is a Query[j] or Pos[j] of the batch.
// For user_item every item stays eligible and the Batch masks, for each
// query alone, the pool items it engaged (NegMask, see masks). When fewer
// than size candidates remain the pool holds all of them.
//
// A user_item pool used to exclude every train item of every query user,
// and later every positive of the batch. With big batches the positives
// alone are the catalogue's popular head (over 10k of Gowalla's 41k items at
// B=8192), so popular items were never negatives, the model never learnt to
// rank them against each other, and LightGCN with sampled softmax stalled.
func (s *Sampler) pool(sc *scratch, epoch, index, size int, dst *Batch) error {
	mark, gen := sc.mark, sc.gen
	if s.kind != UserItem {
		for j, q := range dst.Query {
			mark[q] = gen
			mark[dst.Pos[j]] = gen
		}
	}
	neg := dst.Neg[:0]
	r := newRNG(streamKey(s.cfg.Seed, tagPool, uint64(epoch), uint64(index), 0))
	tries := 16*size + 256
	for len(neg) < size && tries > 0 {
		tries--
		var x uint32
		if s.negAlias != nil {
			x = s.negAlias.sample(&r)
		} else {
			x = r.intn(uint32(s.negN))
		}
		v := s.negBase + x
		if mark[v] == gen {
			continue
		}
		mark[v] = gen
		neg = append(neg, v)
	}
	if len(neg) < size { // crowded domain: scan from a random offset
		start := r.intn(uint32(s.negN))
		for k := 0; k < s.negN && len(neg) < size; k++ {
			v := s.negBase + uint32((int(start)+k)%s.negN)
			if mark[v] != gen {
				mark[v] = gen
				neg = append(neg, v)
			}
		}
	}
	dst.Neg = neg
	for k, v := range neg {
		sc.slot[v], sc.slotGn[v] = int32(k), gen
	}
	return nil
}

// masks fills NegMask/NegMaskPtr and InMask/InMaskPtr (see Batch) in
// O(B + Σ_j deg(Query[j]) + mask size): pool items carry their slot
// (sc.slot, set by pool) and each positive the list of examples that have
// it (sc.head/sc.next, built here), so one pass over each query's train
// items finds every collision.
func (s *Sampler) masks(sc *scratch, dst *Batch) {
	gen := sc.gen
	B := len(dst.Query)
	next := resize(sc.next, B)
	sc.next = next
	for k := B - 1; k >= 0; k-- { // lists in increasing example order
		v := dst.Pos[k]
		next[k] = -1
		if sc.headGn[v] == gen {
			next[k] = sc.head[v]
		}
		sc.head[v], sc.headGn[v] = int32(k), gen
	}
	negMask, negPtr := dst.NegMask[:0], append(dst.NegMaskPtr[:0], 0)
	inMask, inPtr := dst.InMask[:0], append(dst.InMaskPtr[:0], 0)
	inBatch := func(j int, v uint32) {
		if sc.headGn[v] != gen {
			return
		}
		for k := sc.head[v]; k >= 0; k = next[k] {
			if int(k) != j {
				inMask = append(inMask, k)
			}
		}
	}
	nu := uint32(s.nu)
	for j, q := range dst.Query {
		if s.kind == UserItem {
			for _, it := range s.g.ItemsOf(q) {
				v := nu + it
				if sc.slotGn[v] == gen {
					negMask = append(negMask, sc.slot[v])
				}
				inBatch(j, v)
			}
		} else {
			p := dst.Pos[j]
			a, b := q, p
			if b < a {
				a, b = b, a
			}
			inBatch(j, a)
			if b != a {
				inBatch(j, b)
			}
		}
		negPtr = append(negPtr, int32(len(negMask)))
		inPtr = append(inPtr, int32(len(inMask)))
	}
	dst.NegMask, dst.NegMaskPtr = negMask, negPtr
	dst.InMask, dst.InMaskPtr = inMask, inPtr
}

// hard draws HardPer hard negatives per example from the personalized
// PageRank rank window [RankLo, RankHi) of its query (see hardFor).
func (s *Sampler) hard(sc *scratch, epoch, index int, p EpochParams, dst *Batch) error {
	dst.HardPer = p.HardPer
	dst.Hard = dst.Hard[:0]
	if p.HardPer == 0 {
		return nil
	}
	for j := range dst.Query {
		var err error
		dst.Hard, err = s.hardFor(sc, epoch, index, j, p, dst.Query[j], dst.Pos[j], dst.Hard)
		if err != nil {
			return err
		}
	}
	return nil
}

// hardFor appends p.HardPer hard negatives of example j (query q, positive
// pos, global ids). Items are ranked by Monte-Carlo PPR from q (Pixie walks
// with restart α, Hard.Steps steps, counting items; ties by smaller id,
// unvisited items last by id) after removing the query's positives (a user's
// train items; for an item query the query and pos). The window is clamped
// to the number of ranked items, keeping its width when it falls beyond.
func (s *Sampler) hardFor(sc *scratch, epoch, index, j int, p EpochParams, q, pos uint32, out []uint32) ([]uint32, error) {
	nextGen(&sc.hgen, sc.hmark)
	hm, hg := sc.hmark, sc.hgen
	nu := uint32(s.nu)
	side, local := s.split(q)
	positives := 0
	markPos := func(v uint32) {
		if v >= nu && hm[v] != hg {
			hm[v] = hg
			positives++
		}
	}
	if side == dataset.User {
		for _, it := range s.g.ItemsOf(local) {
			markPos(nu + it)
		}
	} else {
		markPos(q)
	}
	cached := s.cfg.Hard.Candidates > 0
	if !cached {
		// Cached candidates must not depend on the example: an item
		// query's pos is skipped when picking instead.
		markPos(pos)
	}
	allowed := s.ni - positives
	if allowed <= 0 {
		return out, fmt.Errorf("producer: epoch %d batch %d example %d: query %d has no non-positive item for hard negatives", epoch, index, j, q)
	}
	hi := min(p.RankHi, allowed)
	lo := p.RankLo
	if lo >= hi {
		lo = max(0, hi-(p.RankHi-p.RankLo))
	}
	pick := newRNG(streamKey(s.cfg.Seed, tagHard, uint64(epoch), uint64(index), uint64(j)))
	if C := s.cfg.Hard.Candidates; cached {
		// The walk depends on (seed, epoch, q, window) only, so one walk per
		// query and epoch serves all its examples through the cache.
		cands := sc.cands[:C]
		if !s.hcache.get(epoch, q, cands) {
			s.windowSample(sc, epoch, side, local, lo, hi, p.RankHi, cands)
			s.hcache.put(epoch, q, cands)
		}
		for h := 0; h < p.HardPer; h++ {
			v := cands[pick.intn(uint32(C))]
			for tries := 0; v == pos && tries < 4*C; tries++ { // an item query's pos
				v = cands[pick.intn(uint32(C))]
			}
			out = append(out, v)
		}
		return out, nil
	}
	w := s.pprRank(sc, epoch, side, local, p.RankHi)
	ranked := w.ranked(func(v uint32) bool { return hm[nu+v] == hg })
	for h := 0; h < p.HardPer; h++ {
		out = append(out, s.atRank(sc, w, ranked, lo+int(pick.intn(uint32(hi-lo)))))
	}
	w.reset()
	return out, nil
}

// pprRank runs the Monte-Carlo PPR walks of a query (randomness from
// (seed, epoch, q)) and returns the walker holding the item visit counts.
func (s *Sampler) pprRank(sc *scratch, epoch int, side dataset.NodeType, local uint32, rankHi int) *walker {
	steps := s.cfg.Hard.Steps
	if steps == 0 {
		steps = 4 * rankHi
	}
	w := sc.w
	r := newRNG(streamKey(s.cfg.Seed, tagPPR, uint64(epoch), uint64(s.global(side, local)), 0))
	w.pixie(side, local, side == dataset.User, s.alphaT, steps, math.MaxInt32, -1, &r)
	return w
}

// atRank returns the global id of the item at rank rk: a visited item by
// visit count, or beyond them the unvisited non-positive items in id order.
// The current hard query's positives are marked in sc.hmark.
func (s *Sampler) atRank(sc *scratch, w *walker, ranked []uint64, rk int) uint32 {
	nu := uint32(s.nu)
	if rk < len(ranked) {
		return nu + uint32(ranked[rk])
	}
	want := rk - len(ranked)
	cnt := w.cnt[dataset.Item]
	last := uint32(0)
	for it := 0; it < s.ni; it++ {
		if cnt[it] != 0 || sc.hmark[nu+uint32(it)] == sc.hgen {
			continue
		}
		last = nu + uint32(it)
		if want == 0 {
			return last
		}
		want--
	}
	return last
}

// windowSample fills cands with a uniform sample (with replacement) of the
// rank window [lo, hi) of the query's PPR ranking, positives removed; its
// randomness derives from (seed, epoch, query) so that every producer
// computes the same candidates.
func (s *Sampler) windowSample(sc *scratch, epoch int, side dataset.NodeType, local uint32, lo, hi, rankHi int, cands []uint32) {
	nu := uint32(s.nu)
	w := s.pprRank(sc, epoch, side, local, rankHi)
	ranked := w.ranked(func(v uint32) bool { return sc.hmark[nu+v] == sc.hgen })
	r := newRNG(streamKey(s.cfg.Seed, tagHard, uint64(epoch), uint64(s.global(side, local)), 1<<40))
	for c := range cands {
		cands[c] = s.atRank(sc, w, ranked, lo+int(r.intn(uint32(hi-lo))))
	}
	w.reset()
}

// neighborhood writes the T neighbor slots (global ids, weights) of global
// node v into ids and wts, from the epoch cache when enabled.
func (s *Sampler) neighborhood(sc *scratch, epoch, index int, v uint32, ids []uint32, wts []float32) {
	if c := s.cache; c != nil {
		if c.getNbrs(epoch, v, ids, wts, sc.packed) {
			return
		}
		s.computeNeighborhood(sc, epoch, -1, v, ids, wts)
		c.putNbrs(epoch, v, ids, wts, sc.packed)
		return
	}
	s.computeNeighborhood(sc, epoch, index, v, ids, wts)
}

// computeNeighborhood samples v's neighborhood with randomness from
// (seed, epoch, index, v); index is -1 for epoch-cached neighborhoods.
func (s *Sampler) computeNeighborhood(sc *scratch, epoch, index int, v uint32, ids []uint32, wts []float32) {
	r := newRNG(streamKey(s.cfg.Seed, tagNeighbors, uint64(epoch), uint64(int64(index)), uint64(v)))
	side, local := s.split(v)
	cfg := &s.cfg
	if cfg.Neighbors.Mode != "pixie" {
		var nbrs []uint32
		if side == dataset.User {
			nbrs = s.g.ItemsOf(local)
		} else {
			nbrs = s.g.UsersOf(local)
		}
		sampleDirect(nbrs, v, cfg.Neighbors.Mode, cfg.Neighbors.Pad, ids, wts, &r)
		if side == dataset.User { // neighbors are items: make them global
			for t := range ids {
				if wts[t] != 0 {
					ids[t] += uint32(s.nu)
				}
			}
		}
		return
	}
	w := sc.w
	opposite := cfg.Walk.Count == "opposite"
	w.pixie(side, local, opposite, s.alphaT, cfg.Walk.Steps, cfg.Walk.MinVisits, cfg.Walk.StopNodes, &r)
	excl := local
	if opposite {
		excl = math.MaxUint32
	}
	n := w.topT(excl, sc.nbrIDs, sc.nbrCnt)
	sum := uint32(0)
	for t := 0; t < n; t++ {
		sum += sc.nbrCnt[t]
	}
	for t := range ids {
		if t < n {
			ids[t] = s.global(w.side, sc.nbrIDs[t])
			wts[t] = float32(sc.nbrCnt[t]) / float32(sum)
		} else {
			ids[t], wts[t] = v, 0
		}
	}
	w.reset()
}

// assemble builds Layers, NbrIdx/NbrW, the index arrays and Feat.
func (s *Sampler) assemble(sc *scratch, epoch, index int, dst *Batch) error {
	K := s.cfg.Layers
	T := s.cfg.Neighbors.T
	dim := s.FeatDim()
	dst.T = T
	if K == 0 && dim == 0 {
		dst.Layers, dst.NbrIdx, dst.NbrW = nil, nil, nil
		dst.QueryIdx, dst.PosIdx, dst.NegIdx, dst.HardIdx = dst.QueryIdx[:0], dst.PosIdx[:0], dst.NegIdx[:0], dst.HardIdx[:0]
		dst.Feat, dst.FeatDim = nil, 0
		return nil
	}
	// Backing arrays: the deepest layer and deepest NbrIdx/NbrW own them.
	var all []uint32
	if n := len(dst.Layers); n > 0 {
		all = dst.Layers[n-1][:0]
	}
	var nbr []int32
	var nw []float32
	if n := len(dst.NbrIdx); n > 0 {
		nbr, nw = dst.NbrIdx[n-1][:0], dst.NbrW[n-1][:0]
	}
	pos, pg, gen := sc.pos, sc.posGen, sc.gen
	add := func(v uint32) int32 {
		if pg[v] == gen {
			return pos[v]
		}
		pg[v] = gen
		p := int32(len(all))
		pos[v] = p
		all = append(all, v)
		return p
	}
	idx := func(src []uint32, out []int32) []int32 {
		out = out[:0]
		for _, v := range src {
			out = append(out, add(v))
		}
		return out
	}
	dst.QueryIdx = idx(dst.Query, dst.QueryIdx)
	dst.PosIdx = idx(dst.Pos, dst.PosIdx)
	dst.NegIdx = idx(dst.Neg, dst.NegIdx)
	dst.HardIdx = idx(dst.Hard, dst.HardIdx)

	ends := make([]int, 0, 9) // small, stays on the stack
	ends = append(ends, len(all))
	ids, wts := sc.nbrIDs, sc.nbrW
	for k := 0; k < K; k++ {
		from, to := 0, ends[k]
		if k > 0 {
			from = ends[k-1]
		}
		for n := from; n < to; n++ {
			s.neighborhood(sc, epoch, index, all[n], ids, wts)
			for t := 0; t < T; t++ {
				nbr = append(nbr, add(ids[t]))
				nw = append(nw, wts[t])
			}
		}
		ends = append(ends, len(all))
	}
	dst.Layers = resize(dst.Layers, K+1)
	for k := 0; k <= K; k++ {
		dst.Layers[k] = all[:ends[k]:ends[k]]
	}
	dst.Layers[K] = all
	dst.NbrIdx = resize(dst.NbrIdx, K)
	dst.NbrW = resize(dst.NbrW, K)
	for k := 0; k < K; k++ {
		e := ends[k] * T
		dst.NbrIdx[k], dst.NbrW[k] = nbr[:e:e], nw[:e:e]
	}
	if K > 0 {
		dst.NbrIdx[K-1], dst.NbrW[K-1] = nbr, nw
	}
	return s.features(sc, all, dst)
}

// resize returns a slice of length n, reusing xs's backing when possible.
func resize[T any](xs []T, n int) []T {
	if cap(xs) >= n {
		return xs[:n]
	}
	return make([]T, n)
}

// features reads the rows of nodes with one FetchFeatures call per node
// type and scatters them into dst.Feat (user columns, then item columns).
func (s *Sampler) features(sc *scratch, nodes []uint32, dst *Batch) error {
	dim := s.FeatDim()
	dst.FeatDim = dim
	if dim == 0 {
		dst.Feat = nil
		return nil
	}
	sc.uids, sc.urows, sc.iids, sc.irows = sc.uids[:0], sc.urows[:0], sc.iids[:0], sc.irows[:0]
	for r, v := range nodes {
		if int(v) < s.nu {
			sc.uids, sc.urows = append(sc.uids, v), append(sc.urows, int32(r))
		} else {
			sc.iids, sc.irows = append(sc.iids, v-uint32(s.nu)), append(sc.irows, int32(r))
		}
	}
	feat := resize(dst.Feat, len(nodes)*dim)
	// A row holds [user features | item features]; zero the half that its
	// node type does not fill.
	if s.itemDim > 0 {
		for _, r := range sc.urows {
			clear(feat[int(r)*dim+s.userDim : int(r+1)*dim])
		}
	}
	if s.userDim > 0 {
		for _, r := range sc.irows {
			clear(feat[int(r)*dim : int(r)*dim+s.userDim])
		}
	}
	rfs, direct := s.fs.(RowFeatureSource)
	for _, part := range []struct {
		t    dataset.NodeType
		ids  []uint32
		rows []int32
		d    int
		off  int
	}{{dataset.User, sc.uids, sc.urows, s.userDim, 0}, {dataset.Item, sc.iids, sc.irows, s.itemDim, s.userDim}} {
		if part.d == 0 || len(part.ids) == 0 {
			continue
		}
		if direct {
			if err := rfs.FetchFeatureRows(part.t, part.ids, feat, part.rows, dim, part.off); err != nil {
				return fmt.Errorf("producer: batch (epoch %d, index %d): fetch %d %s features: %w", dst.Epoch, dst.Index, len(part.ids), part.t, err)
			}
			continue
		}
		buf := resize(sc.fbuf, len(part.ids)*part.d)
		sc.fbuf = buf
		if err := s.fs.FetchFeatures(part.t, part.ids, buf); err != nil {
			return fmt.Errorf("producer: batch (epoch %d, index %d): fetch %d %s features: %w", dst.Epoch, dst.Index, len(part.ids), part.t, err)
		}
		for k, r := range part.rows {
			copy(feat[int(r)*dim+part.off:int(r)*dim+part.off+part.d], buf[k*part.d:(k+1)*part.d])
		}
	}
	dst.Feat = feat
	return nil
}

// slotCache holds a fixed-width slot of T values per node for one epoch.
// A slot is valid when its state equals epoch+1; a writer claims it by CAS
// to busy. Contents are deterministic per (seed, epoch, node), so racing
// writers agree and a reader that finds a slot busy just computes its own
// copy. Batches of different epochs take turns (the RWMutex), so a slot is
// never rewritten while one of its readers runs.
type slotCache[T any] struct {
	mu    sync.RWMutex
	epoch int
	width int
	state []atomic.Uint32
	data  []T
}

const cacheBusy = math.MaxUint32

func newSlotCache[T any](n, width int) *slotCache[T] {
	return &slotCache[T]{epoch: -1, width: width, state: make([]atomic.Uint32, n), data: make([]T, n*width)}
}

// acquire enters epoch, waiting for batches of another epoch to finish.
func (c *slotCache[T]) acquire(epoch int) {
	for {
		c.mu.RLock()
		if c.epoch == epoch {
			return
		}
		c.mu.RUnlock()
		c.mu.Lock()
		c.epoch = epoch
		c.mu.Unlock()
	}
}

func (c *slotCache[T]) release() { c.mu.RUnlock() }

// get copies node v's slot into dst when it holds epoch's values.
func (c *slotCache[T]) get(epoch int, v uint32, dst []T) bool {
	if c.state[v].Load() != uint32(epoch)+1 {
		return false
	}
	copy(dst, c.data[int(v)*c.width:(int(v)+1)*c.width])
	return true
}

// put stores src as node v's slot for epoch unless another writer holds it.
func (c *slotCache[T]) put(epoch int, v uint32, src []T) {
	st := c.state[v].Load()
	if st == cacheBusy || st == uint32(epoch)+1 || !c.state[v].CompareAndSwap(st, cacheBusy) {
		return
	}
	copy(c.data[int(v)*c.width:], src)
	c.state[v].Store(uint32(epoch) + 1)
}

// nbrCache holds each node's neighborhood for one epoch, each slot packed
// as weight bits << 32 | id.
type nbrCache struct {
	*slotCache[uint64]
}

func newNbrCache(n, T int) *nbrCache {
	return &nbrCache{slotCache: newSlotCache[uint64](n, T)}
}

// getNbrs unpacks node v's cached neighborhood; b is scratch of width T.
func (c *nbrCache) getNbrs(epoch int, v uint32, ids []uint32, wts []float32, b []uint64) bool {
	if !c.get(epoch, v, b) {
		return false
	}
	for t, x := range b {
		ids[t], wts[t] = uint32(x), math.Float32frombits(uint32(x>>32))
	}
	return true
}

// putNbrs packs and stores node v's neighborhood; b is scratch of width T.
func (c *nbrCache) putNbrs(epoch int, v uint32, ids []uint32, wts []float32, b []uint64) {
	for t := range b {
		b[t] = uint64(math.Float32bits(wts[t]))<<32 | uint64(ids[t])
	}
	c.put(epoch, v, b)
}
