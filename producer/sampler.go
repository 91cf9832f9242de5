package producer

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trainerd/trainerd/batch"
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
	// negDom lists the pool-domain offsets of the nodes with train edges
	// when some have none (nil: every node has some). Only these are
	// drawn: a node without train edges is unknown to the model, and
	// pushing it away from every query as a negative teaches nothing.
	negDom []uint32

	cache *nbrCache
	// hcache holds each query's hard-negative candidates for one epoch
	// (nil when hard.candidates is -1).
	hcache *slotCache[uint32]

	freeMu sync.Mutex
	free   []*scratch

	walks, steps, built atomic.Uint64
	hardNS              atomic.Int64
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
	for i := 0; i < s.negN; i++ {
		if s.degree(s.negBase+uint32(i)) > 0 {
			s.negDom = append(s.negDom, uint32(i))
		}
	}
	if len(s.negDom) == s.negN || len(s.negDom) == 0 {
		s.negDom = nil // all eligible, or none has edges: draw from all
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

// FeatDim is the width of batch.Batch.Feat rows (user dim + item dim; 0 without
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
	// HardTime is the producers' time spent searching hard negatives
	// (personalized-PageRank walks and window sampling), summed over
	// goroutines.
	HardTime time.Duration
}

// Stats returns the cumulative counters.
func (s *Sampler) Stats() SamplerStats {
	return SamplerStats{Walks: s.walks.Load(), Steps: s.steps.Load(), Batches: s.built.Load(), HardTime: time.Duration(s.hardNS.Load())}
}

// Batch builds batch index of epoch into dst, reusing dst's slices. The
// result depends only on the graph, the features, the config, epoch, index
// and p, never on the caller's goroutine or on other calls.
func (s *Sampler) Batch(epoch, index int, p EpochParams, dst *batch.Batch) error {
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
