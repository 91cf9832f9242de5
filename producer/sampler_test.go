package producer

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"testing"

	"github.com/trainerd/trainerd/batch"
	"github.com/trainerd/trainerd/dataset"
	"github.com/trainerd/trainerd/graph"
)

func newTestSampler(t testing.TB, g *graph.Bipartite, fs FeatureSource, mutate func(*Config)) *Sampler {
	t.Helper()
	cfg := Config{Seed: 11, BatchSize: 64, Layers: 2}
	cfg.Negatives.PoolSize = 50
	cfg.Hard.RankLo, cfg.Hard.RankHi = 20, 60
	cfg.Walk.Steps = 100
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(g, fs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkBatch asserts the documented batch.Batch layout invariants.
func checkBatch(t *testing.T, s *Sampler, b *batch.Batch) {
	t.Helper()
	nu := uint32(s.nu)
	K := s.cfg.Layers
	if b.K() != K {
		t.Fatalf("K()=%d, want %d", b.K(), K)
	}
	if len(b.Pos) != len(b.Query) || len(b.Hard) != len(b.Query)*b.HardPer {
		t.Fatalf("sizes: %d queries, %d pos, %d hard (HardPer %d)", len(b.Query), len(b.Pos), len(b.Hard), b.HardPer)
	}
	if s.kind != WalkPair {
		for _, v := range slices.Concat(b.Neg, b.Hard) {
			if v < nu {
				t.Fatalf("negative %d is a user", v)
			}
		}
	}
	if K == 0 && len(b.Layers) == 0 {
		return
	}
	l0 := b.Layers[0]
	seen := map[uint32]bool{}
	for _, v := range l0 {
		if seen[v] {
			t.Fatalf("Layers[0] has %d twice", v)
		}
		seen[v] = true
	}
	for _, c := range []struct {
		ids []uint32
		idx []int32
	}{{b.Query, b.QueryIdx}, {b.Pos, b.PosIdx}, {b.Neg, b.NegIdx}, {b.Hard, b.HardIdx}} {
		if len(c.ids) != len(c.idx) {
			t.Fatalf("index array length %d, want %d", len(c.idx), len(c.ids))
		}
		for j, v := range c.ids {
			if l0[c.idx[j]] != v {
				t.Fatalf("index %d → %d, want %d", j, l0[c.idx[j]], v)
			}
		}
	}
	if len(seen) != len(l0) {
		t.Fatal("Layers[0] has extra nodes")
	}
	T := b.T
	for k := 0; k < K; k++ {
		cur, next := b.Layers[k], b.Layers[k+1]
		if !slices.Equal(next[:len(cur)], cur) {
			t.Fatalf("Layers[%d] does not start with Layers[%d]", k+1, k)
		}
		if len(b.NbrIdx[k]) != len(cur)*T || len(b.NbrW[k]) != len(cur)*T {
			t.Fatalf("NbrIdx[%d] has %d entries, want %d", k, len(b.NbrIdx[k]), len(cur)*T)
		}
		for n, v := range cur {
			sum := 0.0
			for s := 0; s < T; s++ {
				ix, w := b.NbrIdx[k][n*T+s], b.NbrW[k][n*T+s]
				if ix < 0 || int(ix) >= len(next) {
					t.Fatalf("NbrIdx[%d] out of range: %d", k, ix)
				}
				if w == 0 && next[ix] != v {
					t.Fatalf("empty slot of %d points at %d", v, next[ix])
				}
				if w != 0 && next[ix] == v {
					t.Fatalf("node %d is its own neighbor", v)
				}
				sum += float64(w)
			}
			if sum != 0 && math.Abs(sum-1) > 1e-5 {
				t.Fatalf("weights of %d sum to %v", v, sum)
			}
		}
		// New nodes of hop k+1 must be neighbors of layer-k nodes.
		used := map[int32]bool{}
		for _, ix := range b.NbrIdx[k] {
			used[ix] = true
		}
		for n := len(cur); n < len(next); n++ {
			if !used[int32(n)] {
				t.Fatalf("Layers[%d][%d] is nobody's neighbor", k+1, n)
			}
		}
	}
	if dim := s.FeatDim(); dim > 0 {
		nodes := b.Layers[len(b.Layers)-1]
		if b.FeatDim != dim || len(b.Feat) != len(nodes)*dim {
			t.Fatalf("Feat %d values dim %d, want %d×%d", len(b.Feat), b.FeatDim, len(nodes), dim)
		}
		for r, v := range nodes {
			for c := 0; c < dim; c++ {
				var want float32
				if v < nu && c < s.userDim {
					want = featValue(dataset.User, v, c)
				} else if v >= nu && c >= s.userDim {
					want = featValue(dataset.Item, v-nu, c-s.userDim)
				}
				if got := b.Feat[r*dim+c]; got != want {
					t.Fatalf("Feat[%d][%d] of node %d = %v, want %v", r, c, v, got, want)
				}
			}
		}
	}
}

func TestBatchLayout(t *testing.T) {
	g := genGraph(t, 200, 300, 3000, 0.8, 5)
	tests := []struct {
		name   string
		fs     FeatureSource
		mutate func(*Config)
		p      EpochParams
	}{
		{"pixie K=2 features", &memFS{ud: 3, id: 4}, nil, EpochParams{}},
		{"pixie opposite hard", &memFS{id: 2}, func(c *Config) { c.Walk.Count = "opposite" }, EpochParams{HardPer: 2}},
		{"uniform K=1", nil, func(c *Config) { c.Layers = 1; c.Neighbors.Mode = "uniform" }, EpochParams{}},
		{"full K=3 padded", nil, func(c *Config) { c.Layers = 3; c.Neighbors.Mode = "full"; c.Neighbors.T = 4 }, EpochParams{}},
		{"K=0 no features", nil, func(c *Config) { c.Layers = 0 }, EpochParams{HardPer: 1}},
		{"K=0 features", &memFS{ud: 2, id: 2}, func(c *Config) { c.Layers = 0 }, EpochParams{}},
		{"K=2 features by rows", &rowFS{memFS{ud: 3, id: 4}}, nil, EpochParams{}},
		{"K=1 item features by rows", &rowFS{memFS{id: 5}}, func(c *Config) { c.Layers = 1 }, EpochParams{}},
		{"K=1 user features by rows", &rowFS{memFS{ud: 2}}, func(c *Config) { c.Layers = 1 }, EpochParams{}},
		{"item_item cache", nil, func(c *Config) { c.Examples.Kind = "item_item"; c.Neighbors.Cache = true }, EpochParams{HardPer: 1}},
		{"walks", nil, func(c *Config) { c.Examples.Kind = "walks"; c.Layers = 1 }, EpochParams{HardPer: 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestSampler(t, g, tc.fs, tc.mutate)
			var b batch.Batch
			for _, idx := range []int{0, 1, s.BatchesPerEpoch() - 1} {
				if err := s.Batch(1, idx, tc.p, &b); err != nil {
					t.Fatal(err)
				}
				checkBatch(t, s, &b)
				if idx < s.BatchesPerEpoch()-1 && b.Size() != 64 {
					t.Fatalf("batch %d has %d examples", idx, b.Size())
				}
			}
			if s.cfg.Layers == 0 && tc.fs == nil && b.Layers != nil {
				t.Fatal("K=0 without features must have nil Layers")
			}
		})
	}
}

// TestPixieNeighborhoodSide checks the counted side: same-side neighbors for
// count=same, the other side for count=opposite.
func TestPixieNeighborhoodSide(t *testing.T) {
	g := genGraph(t, 100, 150, 1500, 0.8, 9)
	for _, count := range []string{"same", "opposite"} {
		s := newTestSampler(t, g, nil, func(c *Config) { c.Walk.Count = count; c.Layers = 1 })
		var b batch.Batch
		if err := s.Batch(0, 0, EpochParams{}, &b); err != nil {
			t.Fatal(err)
		}
		for n, v := range b.Layers[0] {
			for k := 0; k < b.T; k++ {
				if b.NbrW[0][n*b.T+k] == 0 {
					continue
				}
				u := b.Layers[1][b.NbrIdx[0][n*b.T+k]]
				same := (v < uint32(s.nu)) == (u < uint32(s.nu))
				if same != (count == "same") {
					t.Fatalf("count=%s: node %d has neighbor %d", count, v, u)
				}
			}
		}
	}
}

func TestEpochCoversEdges(t *testing.T) {
	g := genGraph(t, 80, 120, 900, 0.8, 2)
	s := newTestSampler(t, g, nil, func(c *Config) { c.Layers = 0; c.BatchSize = 50 })
	if want := (g.NumEdges() + 49) / 50; s.BatchesPerEpoch() != want {
		t.Fatalf("BatchesPerEpoch %d, want %d", s.BatchesPerEpoch(), want)
	}
	var got, first []graph.Edge
	var b batch.Batch
	for i := 0; i < s.BatchesPerEpoch(); i++ {
		if err := s.Batch(3, i, EpochParams{}, &b); err != nil {
			t.Fatal(err)
		}
		for j := range b.Query {
			got = append(got, graph.Edge{User: b.Query[j], Item: batch.LocalItem(s.nu, b.Pos[j])})
		}
	}
	first = slices.Clone(got)
	sort.Slice(got, func(i, j int) bool {
		return got[i].User < got[j].User || got[i].User == got[j].User && got[i].Item < got[j].Item
	})
	var want []graph.Edge
	for u := 0; u < g.NumUsers; u++ {
		for _, it := range g.ItemsOf(uint32(u)) {
			want = append(want, graph.Edge{User: uint32(u), Item: it})
		}
	}
	if !slices.Equal(got, want) {
		t.Fatal("an epoch is not exactly one pass over the train edges")
	}
	if slices.Equal(first, want) {
		t.Fatal("epoch is not shuffled")
	}
	if err := s.Batch(4, 0, EpochParams{}, &b); err != nil {
		t.Fatal(err)
	}
	if b.Query[0] == first[0].User && b.Pos[0] == batch.GlobalItem(s.nu, first[0].Item) && b.Query[1] == first[1].User {
		t.Fatal("epochs 3 and 4 start identically: shuffle ignores the epoch")
	}
}

func TestExamplePairs(t *testing.T) {
	g := genGraph(t, 100, 150, 1500, 0.8, 4)
	nu := uint32(100)
	shareUser := func(a, b uint32) bool {
		for _, u := range g.UsersOf(a - nu) {
			if g.HasEdge(u, b-nu) {
				return true
			}
		}
		return false
	}
	adjacent := func(a, b uint32) bool {
		if a < nu && b >= nu {
			return g.HasEdge(a, b-nu)
		}
		if b < nu && a >= nu {
			return g.HasEdge(b, a-nu)
		}
		return false
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		check  func(q, p uint32) bool
	}{
		{"cooccur", func(c *Config) { c.Examples.Kind = "item_item" }, func(q, p uint32) bool { return q >= nu && p >= nu && q != p && shareUser(q, p) }},
		{"walk", func(c *Config) { c.Examples.Kind = "item_item"; c.Examples.ItemItem = "walk" }, func(q, p uint32) bool { return q >= nu && p >= nu && q != p }},
		{"walks window 1", func(c *Config) { c.Examples.Kind = "walks"; c.Examples.Window = 1 }, adjacent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestSampler(t, g, nil, func(c *Config) { tc.mutate(c); c.Layers = 0 })
			var b batch.Batch
			for i := 0; i < min(20, s.BatchesPerEpoch()); i++ {
				if err := s.Batch(0, i, EpochParams{}, &b); err != nil {
					t.Fatal(err)
				}
				for j := range b.Query {
					if !tc.check(b.Query[j], b.Pos[j]) {
						t.Fatalf("bad pair (%d,%d)", b.Query[j], b.Pos[j])
					}
				}
			}
		})
	}
	s := newTestSampler(t, g, nil, func(c *Config) { c.Examples.Kind = "walks"; c.Examples.WalkLength = 5; c.Examples.Window = 2 })
	// pairs per walk: distances 1 and 2 both ways: 2*(4+3) = 14.
	if want := (100 + 150) * 14; s.NumExamples() != want {
		t.Errorf("walk pairs per epoch %d, want %d", s.NumExamples(), want)
	}
}

// TestNegativesAndMasks checks, for each example kind, that the pool never
// holds a query or positive of the batch for item_item and walks, that
// hard negatives are never a positive of their query, and that NegMask and
// InMask equal a brute-force list of every pool and in-batch collision with
// each query's positives.
func TestNegativesAndMasks(t *testing.T) {
	g := genGraph(t, 60, 400, 1200, 0.9, 8)
	nu := uint32(60)
	for _, kind := range []string{"user_item", "item_item", "walks"} {
		t.Run(kind, func(t *testing.T) {
			s := newTestSampler(t, g, nil, func(c *Config) {
				c.Examples.Kind = kind
				c.Layers = 0
				c.BatchSize = 32
			})
			// isPos: v is a positive of example j's query (user_item: a
			// train item of the user; otherwise the query or its positive).
			var b batch.Batch
			isPos := func(j int, v uint32) bool {
				if kind == "user_item" {
					return v >= nu && g.HasEdge(b.Query[j], v-nu)
				}
				return v == b.Query[j] || v == b.Pos[j]
			}
			poolCollisions, inCollisions := 0, 0
			for i := 0; i < s.BatchesPerEpoch(); i++ {
				if err := s.Batch(2, i, EpochParams{HardPer: 3, PoolSize: 40, RankLo: 5, RankHi: 30}, &b); err != nil {
					t.Fatal(err)
				}
				B := len(b.Query)
				excluded := map[uint32]bool{}
				for j, q := range b.Query {
					if kind != "user_item" { // user_item relies on NegMask alone
						excluded[b.Pos[j]] = true
						excluded[q] = true
					}
				}
				domain := 400
				if kind == "walks" {
					domain = 460
				}
				if want := min(40, domain-len(excluded)); len(b.Neg) != want {
					t.Fatalf("pool has %d negatives, want %d", len(b.Neg), want)
				}
				seen := map[uint32]bool{}
				for _, v := range b.Neg {
					if seen[v] {
						t.Fatalf("pool repeats %d", v)
					}
					seen[v] = true
					if excluded[v] {
						t.Fatalf("pool negative %d is a positive (or query) of the batch", v)
					}
				}
				if len(b.NegMaskPtr) != B+1 || len(b.InMaskPtr) != B+1 || b.NegMaskPtr[0] != 0 || b.InMaskPtr[0] != 0 ||
					int(b.NegMaskPtr[B]) != len(b.NegMask) || int(b.InMaskPtr[B]) != len(b.InMask) {
					t.Fatalf("mask pointers: NegMaskPtr %d entries, InMaskPtr %d, for %d examples", len(b.NegMaskPtr), len(b.InMaskPtr), B)
				}
				for j := range b.Query {
					var wantNeg, wantIn []int32
					for slot, v := range b.Neg {
						if isPos(j, v) {
							wantNeg = append(wantNeg, int32(slot))
						}
					}
					for k, v := range b.Pos {
						if k != j && isPos(j, v) {
							wantIn = append(wantIn, int32(k))
						}
					}
					gotNeg := slices.Clone(b.NegMask[b.NegMaskPtr[j]:b.NegMaskPtr[j+1]])
					slices.Sort(gotNeg)
					if !slices.Equal(gotNeg, wantNeg) {
						t.Fatalf("batch %d example %d: NegMask %v, brute force %v", i, j, gotNeg, wantNeg)
					}
					got := slices.Clone(b.InMask[b.InMaskPtr[j]:b.InMaskPtr[j+1]])
					slices.Sort(got)
					if !slices.Equal(got, wantIn) {
						t.Fatalf("batch %d example %d: InMask %v, brute force %v", i, j, got, wantIn)
					}
					poolCollisions += len(wantNeg)
					inCollisions += len(wantIn)
				}
				for j, q := range b.Query {
					for _, v := range b.Hard[j*b.HardPer : (j+1)*b.HardPer] {
						if v < nu || isPos(j, v) || v == b.Pos[j] || v == q {
							t.Fatalf("hard negative %d of example (%d,%d) is a positive", v, q, b.Pos[j])
						}
					}
				}
			}
			// The graph is dense enough that masks are exercised.
			if kind == "user_item" && (poolCollisions == 0 || inCollisions == 0) {
				t.Fatalf("no collisions to test: %d pool, %d in-batch", poolCollisions, inCollisions)
			}
			t.Logf("%s: %d pool and %d in-batch collisions masked", kind, poolCollisions, inCollisions)
		})
	}
}

// TestNegativePoolDistribution checks the pool's alias table follows
// degree^0.75 over items.
func TestNegativePoolDistribution(t *testing.T) {
	g := genGraph(t, 50, 40, 600, 0.9, 12)
	s := newTestSampler(t, g, nil, func(c *Config) { c.Layers = 0; c.BatchSize = 1; c.Negatives.Dist = "degree" })
	hits := make([]float64, 40)
	// Unconditioned check on the alias table itself.
	r := newRNG(3)
	const draws = 200000
	for k := 0; k < draws; k++ {
		hits[s.negAlias.sample(&r)]++
	}
	sum := 0.0
	for i := 0; i < 40; i++ {
		sum += math.Pow(float64(g.ItemDegree(uint32(i))), 0.75)
	}
	chi := 0.0
	for i := 0; i < 40; i++ {
		exp := draws * math.Pow(float64(g.ItemDegree(uint32(i))), 0.75) / sum
		chi += (hits[i] - exp) * (hits[i] - exp) / exp
	}
	if chi > 39+6*math.Sqrt(78) {
		t.Errorf("chi-square %.1f for 39 dof", chi)
	}
}

// exactPPR is the Pixie-walk visit law over items from query q by power
// iteration (the limit of the Monte-Carlo PPR hardFor uses).
func exactPPR(g *graph.Bipartite, side dataset.NodeType, q uint32, alpha float64) []float64 {
	return exactVisits(g, side, q, side == dataset.User, alpha)
}

// TestHardNegativesRankWindow ranks items by exact PPR (power iteration) and
// checks the sampled hard negatives against the window: most inside it by
// exact rank, and every one inside it in PPR value up to the Monte-Carlo
// error (5 standard errors), so a neighbour-rank mix-up or a wrong walk law
// fails while MC ties in flat regions pass.
func TestHardNegativesRankWindow(t *testing.T) {
	// Candidates 64: one walk per query and epoch, cached; -1: one walk per example.
	for _, cands := range []int{64, -1} {
		t.Run(fmt.Sprintf("candidates=%d", cands), func(t *testing.T) { testHardWindow(t, cands) })
	}
}

func testHardWindow(t *testing.T, cands int) {
	g := genGraph(t, 150, 200, 2500, 0.7, 21)
	nu := uint32(150)
	const lo, hi, steps = 30, 80, 400000
	s := newTestSampler(t, g, nil, func(c *Config) {
		c.Layers = 0
		c.BatchSize = 16
		c.Hard.Steps = steps
		c.Hard.Candidates = cands
	})
	var b batch.Batch
	inWindow, total := 0, 0
	minRank, maxRank := 1<<30, -1
	for i := 0; i < 3; i++ {
		if err := s.Batch(1, i, EpochParams{HardPer: 4, RankLo: lo, RankHi: hi}, &b); err != nil {
			t.Fatal(err)
		}
		for j, q := range b.Query {
			ppr := exactPPR(g, dataset.User, q, 0.5)
			var order []uint32
			for it := uint32(0); it < 200; it++ {
				if !g.HasEdge(q, it) {
					order = append(order, it)
				}
			}
			sort.SliceStable(order, func(x, y int) bool { return ppr[order[x]] > ppr[order[y]] })
			rank := map[uint32]int{}
			for r, it := range order {
				rank[it] = r
			}
			top, bottom := ppr[order[lo]], ppr[order[hi-1]]
			for _, v := range b.Hard[j*4 : (j+1)*4] {
				r, ok := rank[v-nu]
				if !ok {
					t.Fatalf("hard negative %d of user %d is a positive", v, q)
				}
				total++
				if r >= lo && r < hi {
					inWindow++
				}
				p := ppr[v-nu]
				// Visits are counted per step, two per walk on average:
				// standard error ≈ sqrt(2p/steps).
				se := math.Sqrt(2 * max(p, bottom) / steps)
				if p > top+5*se || p < bottom-5*se {
					t.Errorf("user %d: hard negative %d has exact PPR %.5f (rank %d), window values [%.5f, %.5f] ± %.5f", q, v, p, r, bottom, top, 5*se)
				}
				minRank, maxRank = min(minRank, r), max(maxRank, r)
			}
		}
	}
	t.Logf("%d of %d hard negatives inside the exact rank window; ranks span [%d,%d]", inWindow, total, minRank, maxRank)
	if float64(inWindow) < 0.85*float64(total) {
		t.Errorf("only %d of %d hard negatives inside the exact window", inWindow, total)
	}
	if minRank > lo+10 || maxRank < hi-10 {
		t.Errorf("hard negatives cover ranks [%d,%d] only", minRank, maxRank)
	}
}

// TestBatchDeterministic: same inputs, same batch, whatever the reuse of
// dst or scratch; different epochs differ.
func TestBatchDeterministic(t *testing.T) {
	g := genGraph(t, 200, 300, 3000, 0.8, 6)
	for _, cache := range []bool{false, true} {
		s := newTestSampler(t, g, &memFS{id: 3}, func(c *Config) { c.Neighbors.Cache = cache })
		s2 := newTestSampler(t, g, &memFS{id: 3}, func(c *Config) { c.Neighbors.Cache = cache })
		var a, b, c batch.Batch
		p := EpochParams{HardPer: 1}
		if err := s.Batch(0, 2, p, &a); err != nil {
			t.Fatal(err)
		}
		// Reuse b for another batch first, and warm s2's cache differently.
		if err := s2.Batch(0, 5, p, &b); err != nil {
			t.Fatal(err)
		}
		if err := s2.Batch(0, 2, p, &b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("cache=%v: batch differs between samplers / buffer reuse", cache)
		}
		if err := s.Batch(1, 2, p, &c); err != nil {
			t.Fatal(err)
		}
		if slices.Equal(a.Query, c.Query) {
			t.Fatal("epochs 0 and 1 give the same batch 2")
		}
	}
}

func TestFeatureError(t *testing.T) {
	g := genGraph(t, 50, 60, 400, 0.8, 1)
	s := newTestSampler(t, g, &memFS{id: 2, fail: true}, nil)
	var b batch.Batch
	if err := s.Batch(0, 0, EpochParams{}, &b); err == nil {
		t.Fatal("want the FetchFeatures error")
	}
	if err := s.Batch(0, s.BatchesPerEpoch(), EpochParams{}, &b); err == nil {
		t.Fatal("want an out-of-range error")
	}
}

// TestPoolSkipsItemsWithoutEdges: items with no train edges (cold items, or
// items seen only in test) never enter the pool, whatever the distribution,
// also when the pool is larger than the items that have edges.
func TestPoolSkipsItemsWithoutEdges(t *testing.T) {
	const users, items = 30, 40
	var es []graph.Edge
	for u := 0; u < users; u++ {
		for k := 0; k < 3; k++ {
			es = append(es, graph.Edge{User: uint32(u), Item: uint32((u*7 + k*5) % 20)}) // items 20..39 have none
		}
	}
	g, err := graph.Build(users, items, es)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dist string
		pool int
	}{{"uniform", 8}, {"degree", 8}, {"uniform", 35}, {"degree", 35}} {
		t.Run(fmt.Sprintf("%s/%d", tc.dist, tc.pool), func(t *testing.T) {
			s := newTestSampler(t, g, nil, func(c *Config) {
				c.Layers = 0
				c.BatchSize = 4
				c.Negatives.Dist = tc.dist
				c.Negatives.PoolSize = tc.pool
			})
			var b batch.Batch
			seen := map[uint32]bool{}
			for i := 0; i < s.BatchesPerEpoch(); i++ {
				if err := s.Batch(1, i, EpochParams{}, &b); err != nil {
					t.Fatal(err)
				}
				if want := min(tc.pool, 20); len(b.Neg) != want {
					t.Fatalf("pool of %d items, want %d", len(b.Neg), want)
				}
				for _, v := range b.Neg {
					if it := v - users; it >= 20 {
						t.Fatalf("item %d without train edges drawn as a negative", it)
					}
					seen[v] = true
				}
			}
			if len(seen) < 15 {
				t.Errorf("only %d distinct items over an epoch", len(seen))
			}
		})
	}
}

// TestDropItems: neighbors.drop_items empties the neighborhoods of about
// that fraction of the items a batch convolves (every slot points at the
// item with weight 0, at every hop), never a user's, the same items for a
// rebuilt batch, and 0 leaves batches as they were.
func TestDropItems(t *testing.T) {
	const users, items = 60, 50
	var es []graph.Edge
	for u := 0; u < users; u++ {
		for k := 0; k < 6; k++ {
			es = append(es, graph.Edge{User: uint32(u), Item: uint32((u*7 + k*11) % items)})
		}
	}
	g, err := graph.Build(users, items, es)
	if err != nil {
		t.Fatal(err)
	}
	build := func(drop float64, i int) *batch.Batch {
		s := newTestSampler(t, g, nil, func(c *Config) {
			c.Layers, c.BatchSize, c.Neighbors.T = 2, 16, 4
			c.Neighbors.DropItems = drop
		})
		var b batch.Batch
		if err := s.Batch(1, i, EpochParams{}, &b); err != nil {
			t.Fatal(err)
		}
		return &b
	}
	for _, tc := range []struct {
		drop     float64
		min, max float64 // fraction of item targets emptied
	}{{0, 0, 0}, {0.3, 0.15, 0.45}, {0.7, 0.55, 0.85}} {
		t.Run(fmt.Sprint(tc.drop), func(t *testing.T) {
			var itemTargets, emptied int
			for i := 0; i < 3; i++ {
				b := build(tc.drop, i)
				again := build(tc.drop, i)
				if !slices.Equal(b.NbrW[1], again.NbrW[1]) || !slices.Equal(b.NbrIdx[1], again.NbrIdx[1]) {
					t.Fatal("the same batch built twice differs")
				}
				dropped := map[uint32]bool{}
				for k := 0; k < 2; k++ {
					T := b.T
					for n, v := range b.Layers[k] {
						empty := true
						for s := 0; s < T; s++ {
							if b.NbrW[k][n*T+s] != 0 {
								empty = false
							} else if b.Layers[k+1][b.NbrIdx[k][n*T+s]] != v {
								t.Fatalf("empty slot of %d points at %d", v, b.Layers[k+1][b.NbrIdx[k][n*T+s]])
							}
						}
						if v < users && empty {
							t.Fatalf("user %d lost its neighborhood", v)
						}
						if v < users {
							continue
						}
						if d, ok := dropped[v]; ok && d != empty {
							t.Fatalf("item %d emptied at one hop and not at another", v)
						}
						if _, ok := dropped[v]; !ok {
							dropped[v] = empty
							itemTargets++
							if empty {
								emptied++
							}
						}
					}
				}
			}
			if f := float64(emptied) / float64(itemTargets); f < tc.min || f > tc.max {
				t.Errorf("%d of %d item targets emptied (%.2f), want %.2f–%.2f", emptied, itemTargets, f, tc.min, tc.max)
			}
		})
	}
}
