package producer

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/trainerd/trainerd/batch"
	"github.com/trainerd/trainerd/dataset"
)

// TestPixieVisitDistribution compares Pixie visit frequencies with the exact
// walk distribution computed by dynamic programming, and checks that the
// tolerance is tight enough to reject the distribution of a wrong α.
func TestPixieVisitDistribution(t *testing.T) {
	g := tinyGraph(t)
	tests := []struct {
		name     string
		side     dataset.NodeType
		q        uint32
		opposite bool
		alpha    float64
	}{
		{"item query, items counted", dataset.Item, 0, false, 0.5},
		{"user query, users counted", dataset.User, 1, false, 0.5},
		{"user query, items counted", dataset.User, 0, true, 0.5},
		{"item query, users counted", dataset.Item, 3, true, 0.3},
		{"item query, alpha 0.8", dataset.Item, 4, false, 0.8},
	}
	const steps = 1_000_000
	const tol = 0.004
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWalker(g)
			r := newRNG(streamKey(7, tagNeighbors, 0, 0, uint64(tc.q)))
			w.pixie(tc.side, tc.q, tc.opposite, restartThreshold(tc.alpha), steps, 1<<30, -1, &r)
			wantSide := tc.side
			if tc.opposite {
				wantSide = 1 - tc.side
			}
			if w.side != wantSide {
				t.Fatalf("counted side %v, want %v", w.side, wantSide)
			}
			if w.steps < steps || w.steps > steps+200 {
				t.Fatalf("took %d steps, want ≥ %d and stopped at a walk boundary", w.steps, steps)
			}
			if got, want := float64(w.steps)/float64(w.walks), 1/tc.alpha; math.Abs(got-want) > 0.02*want {
				t.Errorf("mean walk length %.3f, want %.3f", got, want)
			}
			exact := exactVisits(g, tc.side, tc.q, tc.opposite, tc.alpha)
			wrong := exactVisits(g, tc.side, tc.q, tc.opposite, 1-tc.alpha/2)
			cnt := w.cnt[w.side]
			maxDiff, maxWrong := 0.0, 0.0
			for v, p := range exact {
				got := float64(cnt[v]) / float64(w.steps)
				maxDiff = max(maxDiff, math.Abs(got-p))
				maxWrong = max(maxWrong, math.Abs(got-wrong[v]))
			}
			if maxDiff > tol {
				t.Errorf("max |freq-exact| = %.5f > %.4f", maxDiff, tol)
			}
			if maxWrong < 3*tol {
				t.Errorf("test has no power: distance to a wrong α's distribution is only %.5f", maxWrong)
			}
			touched := slices.Clone(w.touched)
			w.reset()
			for _, v := range touched {
				if cnt[v] != 0 {
					t.Fatalf("reset left count %d on node %d", cnt[v], v)
				}
			}
		})
	}
}

// pixieRef is the plain statement of walker.pixie's lockstep rounds, with
// maps and branches instead of dense counters, selects and lane moves: each
// round every live lane draws its hop bits and then its restart bits (in
// lane order) and takes a step; then, in lane order, the step is counted and
// a walk that ends restarts at q, or its lane retires once the stopping rule
// holds. It returns the visit counts, steps and walks.
func pixieRef(w *walker, qs dataset.NodeType, q uint32, opposite bool, alphaT uint32, maxSteps, minVisits, stopNodes, lanes int, r *rng) (map[uint32]uint32, int, int) {
	g := w.g
	fromPtr, fromAdj, backPtr, backAdj := g.UserPtr, g.UserAdj, g.ItemPtr, g.ItemAdj
	if qs == dataset.Item {
		fromPtr, fromAdj, backPtr, backAdj = g.ItemPtr, g.ItemAdj, g.UserPtr, g.UserAdj
	}
	cnt := map[uint32]uint32{}
	if fromPtr[q+1] == fromPtr[q] || maxSteps <= 0 {
		return cnt, 0, 0
	}
	type lane struct {
		cur, mid uint32
		end      bool
	}
	live := make([]lane, lanes)
	for i := range live {
		live[i].cur = q
	}
	total, high, walks := 0, 0, lanes
	pick := func(adj []uint32, s, e uint32, bits uint64) uint32 {
		return adj[s+uint32(bits*uint64(e-s)>>32)]
	}
	for len(live) > 0 {
		for i := range live {
			hop := r.next()
			live[i].end = uint32(r.next()) < alphaT
			c := live[i].cur
			live[i].mid = pick(fromAdj, fromPtr[c], fromPtr[c+1], hop&0xffffffff)
			m := live[i].mid
			live[i].cur = pick(backAdj, backPtr[m], backPtr[m+1], hop>>32)
		}
		var next []lane
		for i := 0; i < len(live); i++ {
			v := live[i].cur
			if opposite {
				v = live[i].mid
			}
			cnt[v]++
			if int(cnt[v]) == minVisits && (opposite || v != q) {
				high++
			}
			total++
			if !live[i].end {
				next = append(next, live[i])
				continue
			}
			// Start another walk while the steps taken plus the mean 1/α
			// steps left of each other live walk stay under the budget:
			// total + (live lanes − 1)·2^32/alphaT < maxSteps.
			inFlight := int64(len(live) - 1)
			if int64(total)*int64(alphaT)+inFlight<<32 < int64(maxSteps)*int64(alphaT) && (stopNodes < 0 || high <= stopNodes) {
				walks++
				live[i].cur = q
				next = append(next, live[i])
				continue
			}
			// Retire: the last unprocessed lane takes this slot and is
			// counted next, so the lane order of later rounds follows.
			last := len(live) - 1
			live[i] = live[last]
			live = live[:last]
			i--
		}
		// next holds the survivors in processing order, which is the slot
		// order the optimised walker keeps.
		live = next
	}
	return cnt, total, walks
}

// TestPixieMatchesReference checks the lockstep walker, count for count,
// against pixieRef for every lane count, both sides, both counting sides,
// with and without early stopping.
func TestPixieMatchesReference(t *testing.T) {
	g := genGraph(t, 200, 300, 4000, 0.8, 5)
	tests := []struct {
		name                           string
		side                           dataset.NodeType
		opposite                       bool
		alpha                          float64
		maxSteps, minVisits, stopNodes int
	}{
		{"items, budget only", dataset.Item, false, 0.5, 200, 1 << 30, -1},
		{"items, early stop", dataset.Item, false, 0.5, 5000, 4, 5},
		{"users, middle counted", dataset.User, true, 0.3, 300, 3, 8},
		{"items, middle counted, short walks", dataset.Item, true, 0.9, 50, 2, 2},
		{"users, long walks", dataset.User, false, 0.1, 1000, 1 << 30, -1},
	}
	for _, tc := range tests {
		for _, lanes := range []int{1, 3, 8, maxLanes} {
			t.Run(fmt.Sprintf("%s/lanes=%d", tc.name, lanes), func(t *testing.T) {
				w := newWalker(g)
				w.lanes = lanes
				n := g.NumItems
				if tc.side == dataset.User {
					n = g.NumUsers
				}
				for q := uint32(0); q < uint32(min(n, 40)); q++ {
					key := streamKey(3, tagNeighbors, 0, 0, uint64(q))
					r1, r2 := newRNG(key), newRNG(key)
					alphaT := restartThreshold(tc.alpha)
					w.steps, w.walks = 0, 0
					w.pixie(tc.side, q, tc.opposite, alphaT, tc.maxSteps, tc.minVisits, tc.stopNodes, &r1)
					want, steps, walks := pixieRef(w, tc.side, q, tc.opposite, alphaT, tc.maxSteps, tc.minVisits, tc.stopNodes, lanes, &r2)
					if int(w.steps) != steps || int(w.walks) != walks {
						t.Fatalf("q %d: %d steps, %d walks; reference %d, %d", q, w.steps, w.walks, steps, walks)
					}
					if r1 != r2 {
						t.Fatalf("q %d: the walker drew a different number of random values than the reference", q)
					}
					if len(w.touched) != len(want) {
						t.Fatalf("q %d: %d touched nodes, reference %d", q, len(w.touched), len(want))
					}
					cnt := w.cnt[w.side]
					for _, v := range w.touched {
						if cnt[v] != want[v] {
							t.Fatalf("q %d: node %d has %d visits, reference %d", q, v, cnt[v], want[v])
						}
					}
					w.reset()
				}
			})
		}
	}
}

func TestPixieEarlyStop(t *testing.T) {
	g := genGraph(t, 300, 400, 6000, 0.8, 3)
	w := newWalker(g)
	for q := uint32(0); q < 50; q++ {
		r := newRNG(uint64(q))
		w.pixie(dataset.Item, q, false, restartThreshold(0.5), 100000, 4, 5, &r)
		high := 0
		for _, v := range w.touched {
			if v != q && w.cnt[dataset.Item][v] >= 4 {
				high++
			}
		}
		if high <= 5 && w.steps < 100000 {
			t.Fatalf("query %d: stopped with only %d high-visited nodes after %d steps", q, high, w.steps)
		}
		w.reset()
		w.steps, w.walks = 0, 0
	}
}

func TestTopT(t *testing.T) {
	tests := []struct {
		name     string
		counts   map[uint32]uint32
		excl     uint32
		T        int
		wantIDs  []uint32
		wantCnts []uint32
	}{
		{"ties by id", map[uint32]uint32{5: 3, 2: 3, 7: 1, 1: 9}, 99, 3, []uint32{1, 2, 5}, []uint32{9, 3, 3}},
		{"exclude query", map[uint32]uint32{0: 50, 3: 2, 4: 1}, 0, 3, []uint32{3, 4}, []uint32{2, 1}},
		{"fewer than T", map[uint32]uint32{6: 1}, 99, 4, []uint32{6}, []uint32{1}},
		{"T=1 tie", map[uint32]uint32{9: 2, 8: 2}, 99, 1, []uint32{8}, []uint32{2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := &walker{cnt: [2][]uint32{nil, make([]uint32, 100)}, side: dataset.Item}
			for v, c := range tc.counts {
				w.cnt[1][v] = c
				w.touched = append(w.touched, v)
			}
			ids, cnts := make([]uint32, tc.T), make([]uint32, tc.T)
			n := w.topT(tc.excl, ids, cnts)
			if !slices.Equal(ids[:n], tc.wantIDs) || !slices.Equal(cnts[:n], tc.wantCnts) {
				t.Errorf("got %v %v, want %v %v", ids[:n], cnts[:n], tc.wantIDs, tc.wantCnts)
			}
		})
	}
}

func TestSampleDirect(t *testing.T) {
	nb := []uint32{10, 11, 12, 13, 14, 15}
	tests := []struct {
		name     string
		nbrs     []uint32
		mode     string
		pad      bool
		T        int
		distinct bool
		padded   int
	}{
		{"uniform without replacement", nb, "uniform", false, 4, true, 0},
		{"uniform with replacement", nb[:2], "uniform", false, 5, false, 0},
		{"uniform padded", nb[:2], "uniform", true, 5, true, 3},
		{"full small", nb[:3], "full", false, 4, true, 1},
		{"full large", nb, "full", false, 3, true, 0},
		{"no neighbors", nil, "uniform", false, 3, true, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for seed := uint64(0); seed < 50; seed++ {
				r := newRNG(seed)
				ids, wts := make([]uint32, tc.T), make([]float32, tc.T)
				sampleDirect(tc.nbrs, 99, tc.mode, tc.pad, ids, wts, &r)
				padded, sum := 0, float32(0)
				seen := map[uint32]bool{}
				for s := range ids {
					sum += wts[s]
					if wts[s] == 0 {
						if ids[s] != 99 {
							t.Fatalf("empty slot points at %d, want self", ids[s])
						}
						padded++
						continue
					}
					if !slices.Contains(tc.nbrs, ids[s]) {
						t.Fatalf("slot %d = %d is not a neighbor", s, ids[s])
					}
					if tc.distinct && seen[ids[s]] {
						t.Fatalf("duplicate neighbor %d in %v", ids[s], ids)
					}
					seen[ids[s]] = true
				}
				if padded != tc.padded {
					t.Fatalf("%d padded slots, want %d", padded, tc.padded)
				}
				if padded < tc.T && math.Abs(float64(sum)-1) > 1e-5 {
					t.Fatalf("weights sum to %v", sum)
				}
			}
		})
	}
}

func TestSampleDirectUniform(t *testing.T) {
	nb := []uint32{0, 1, 2, 3, 4, 5, 6, 7}
	hits := make([]int, len(nb))
	const rounds = 40000
	ids, wts := make([]uint32, 3), make([]float32, 3)
	for s := uint64(0); s < rounds; s++ {
		r := newRNG(mix(s))
		sampleDirect(nb, 99, "uniform", false, ids, wts, &r)
		for _, v := range ids {
			hits[v]++
		}
	}
	want := float64(rounds) * 3 / 8
	for v, h := range hits {
		if math.Abs(float64(h)-want) > 5*math.Sqrt(want) {
			t.Errorf("neighbor %d drawn %d times, want %.0f±%.0f", v, h, want, 5*math.Sqrt(want))
		}
	}
}

func TestPermutation(t *testing.T) {
	for _, n := range []uint64{0, 1, 2, 3, 17, 1000, 4097} {
		p := newPermutation(n, 42)
		seen := make([]bool, n)
		fixed := 0
		for x := uint64(0); x < n; x++ {
			y := p.at(x)
			if y >= n || seen[y] {
				t.Fatalf("n=%d: not a bijection at %d → %d", n, x, y)
			}
			seen[y] = true
			if y == x {
				fixed++
			}
		}
		if n >= 1000 && fixed > 20 {
			t.Errorf("n=%d: %d fixed points, not shuffled", n, fixed)
		}
		if n >= 1000 {
			q := newPermutation(n, 43)
			same := 0
			for x := uint64(0); x < n; x++ {
				if p.at(x) == q.at(x) {
					same++
				}
			}
			if same > 20 {
				t.Errorf("n=%d: keys 42 and 43 agree on %d points", n, same)
			}
		}
	}
}

func TestAlias(t *testing.T) {
	w := []float64{1, 0, 3, 6, 0.5}
	a := newAlias(w)
	r := newRNG(1)
	const n = 200000
	hits := make([]float64, len(w))
	for i := 0; i < n; i++ {
		hits[a.sample(&r)]++
	}
	chi := 0.0
	for i, x := range w {
		exp := n * x / 10.5
		if exp == 0 {
			if hits[i] != 0 {
				t.Fatalf("zero-weight index %d drawn %v times", i, hits[i])
			}
			continue
		}
		chi += (hits[i] - exp) * (hits[i] - exp) / exp
	}
	if chi > 20 { // 3 degrees of freedom; p ≈ 2e-4
		t.Errorf("chi-square %.1f too large: %v", chi, hits)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"defaults", func(*Config) {}, ""},
		{"alpha", func(c *Config) { c.Walk.Alpha = 1.5 }, "producer.walk.alpha: must be in (0,1), got 1.5"},
		{"kind", func(c *Config) { c.Examples.Kind = "pairs" }, "producer.examples.kind"},
		{"mode", func(c *Config) { c.Neighbors.Mode = "all" }, "producer.neighbors.mode"},
		{"count", func(c *Config) { c.Walk.Count = "both" }, "producer.walk.count"},
		{"window", func(c *Config) { c.Hard.RankLo, c.Hard.RankHi = 10, 5 }, "producer.hard.rank_hi"},
		{"batch", func(c *Config) { c.BatchSize = -1 }, "producer.batch_size"},
		{"dist", func(c *Config) { c.Negatives.Dist = "zipf" }, "producer.negatives.dist"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			c.EnsureDefaults()
			tc.mutate(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	var c Config
	c.EnsureDefaults()
	if c.BatchSize != 512 || c.Walk.Alpha != 0.5 || c.Negatives.PoolSize != 500 || c.Hard.RankLo != 2000 || c.Hard.RankHi != 5000 || c.Neighbors.T != 10 || c.Walk.StopNodes != 10 {
		t.Errorf("unexpected defaults %+v", c)
	}
}

func TestNeighborhoodMatchesCachedBatches(t *testing.T) {
	g := genGraph(t, 60, 80, 600, 1.0, 5)
	cfg := Config{Seed: 3, BatchSize: 16, Layers: 1}
	cfg.Neighbors.Cache = true
	cfg.EnsureDefaults()
	s, err := New(g, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var b batch.Batch
	if err := s.Batch(2, 0, EpochParams{}, &b); err != nil {
		t.Fatal(err)
	}
	T := b.T
	ids, wts := make([]uint32, T), make([]float32, T)
	for n, v := range b.Layers[0] {
		valid := s.Neighborhood(2, v, ids, wts)
		sum := float32(0)
		for k := 0; k < T; k++ {
			got := b.Layers[1][b.NbrIdx[0][n*T+k]]
			if b.NbrW[0][n*T+k] != wts[k] || (wts[k] != 0 && got != ids[k]) {
				t.Fatalf("node %d slot %d: batch (%d, %v), Neighborhood (%d, %v)", v, k, got, b.NbrW[0][n*T+k], ids[k], wts[k])
			}
			sum += wts[k]
		}
		if valid > 0 && (sum < 0.999 || sum > 1.001) {
			t.Fatalf("node %d: weights sum to %v", v, sum)
		}
	}
}

// TestCoverSteps checks the retirement rule left ≤ coverSteps(others, α):
// the budget is spent once the other walks in flight cover what is left.
func TestCoverSteps(t *testing.T) {
	half := restartThreshold(0.5) // 2^31: a walk in flight has 2 steps left
	tests := []struct {
		name         string
		left, others int
		alphaT       uint32
		want         bool
	}{
		{"budget reached", 0, 15, half, true},
		{"budget passed", -3, 0, half, true},
		{"last lane, steps left", 1, 0, half, false},
		{"others cover it exactly", 30, 15, half, true},
		{"one step more than they cover", 31, 15, half, false},
		{"huge budget does not overflow", 1 << 40, 15, math.MaxUint32, false},
		{"short walks cover little", 2, 1, restartThreshold(0.9), false},
		{"long walks cover much", 150, 15, restartThreshold(0.1), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cover := coverSteps(tc.others, tc.alphaT)
			if got := tc.left <= cover; got != tc.want {
				t.Errorf("%d steps left ≤ coverSteps(%d, %d) = %d is %v, want %v", tc.left, tc.others, tc.alphaT, cover, got, tc.want)
			}
		})
	}
}

// TestPixieStepBudget checks that the step budget is what a query takes on
// average for every lane count: lanes stop starting walks once the walks in
// flight are expected to cover the rest, so 16 lanes do not overshoot it by
// 16 walks.
func TestPixieStepBudget(t *testing.T) {
	g := genGraph(t, 2000, 3000, 40000, 0.8, 5)
	for _, lanes := range []int{1, 4, maxLanes} {
		for _, budget := range []int{100, 400} {
			w := newWalker(g)
			w.lanes = lanes
			const queries = 2000
			for q := uint32(0); q < queries; q++ {
				r := newRNG(streamKey(9, tagNeighbors, 0, 0, uint64(q)))
				w.pixie(dataset.Item, q, false, restartThreshold(0.5), budget, 1<<30, -1, &r)
				w.reset()
			}
			mean := float64(w.steps) / queries
			t.Logf("lanes %d, budget %d: %.1f steps per query", lanes, budget, mean)
			if mean < float64(budget) || mean > float64(budget)*1.06 {
				t.Errorf("lanes %d, budget %d: %.1f steps per query on average, want within 6%% above it", lanes, budget, mean)
			}
		}
	}
}
