package eval

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/trainerd/trainerd/graph"
)

// l3 is 1/log2(3), the DCG discount of 0-based position 1.
var l3 = 1 / math.Log2(3)

func mustGraph(t testing.TB, nu, ni int, edges [][2]uint32) *graph.Bipartite {
	t.Helper()
	es := make([]graph.Edge, len(edges))
	for i, e := range edges {
		es[i] = graph.Edge{User: e[0], Item: e[1]}
	}
	g, err := graph.Build(nu, ni, es)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestTopK(t *testing.T) {
	inf := float32(math.Inf(-1))
	nan := float32(math.NaN())
	for _, tc := range []struct {
		name   string
		scores []float32
		k      int
		want   []Scored
	}{
		{"plain", []float32{1, 3, 2}, 2, []Scored{{1, 3}, {2, 2}}},
		// Ties: equal scores rank by lower item id, whatever the scan order.
		{"ties", []float32{1, 3, 2, 3, 3}, 2, []Scored{{1, 3}, {3, 3}}},
		{"tie at root", []float32{2, 2, 2, 2}, 3, []Scored{{0, 2}, {1, 2}, {2, 2}}},
		// Masked (-Inf) and NaN entries are never returned, even when k
		// exceeds the number of valid items.
		{"masked", []float32{inf, 5, nan, 1}, 3, []Scored{{1, 5}, {3, 1}}},
		{"all masked", []float32{inf, inf}, 1, []Scored{}},
		{"k zero", []float32{1, 2}, 0, []Scored{}},
		{"k over n", []float32{0, -1, 4}, 5, []Scored{{2, 4}, {0, 0}, {1, -1}}},
		{"late better", []float32{1, 2, 3, 4, 5, 6}, 2, []Scored{{5, 6}, {4, 5}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := TopK(nil, tc.scores, tc.k)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("TopK(%v, %d) = %v, want %v", tc.scores, tc.k, got, tc.want)
			}
		})
	}
}

// TestTopKRandom compares TopK with a full sort on random rows with many ties.
func TestTopKRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	var buf []Scored
	for trial := 0; trial < 200; trial++ {
		n := 1 + r.IntN(300)
		scores := make([]float32, n)
		for i := range scores {
			scores[i] = float32(r.IntN(10))
			if r.IntN(5) == 0 {
				scores[i] = float32(math.Inf(-1))
			}
		}
		k := r.IntN(40)
		buf = TopK(buf, scores, k)
		var all []Scored
		for i, s := range scores {
			if !math.IsInf(float64(s), -1) {
				all = append(all, Scored{uint32(i), s})
			}
		}
		slices.SortFunc(all, func(a, b Scored) int {
			if better(a, b) {
				return -1
			}
			return 1
		})
		want := all[:min(k, len(all))]
		if !slices.Equal(buf, want) {
			t.Fatalf("trial %d: TopK = %v, want %v", trial, buf, want)
		}
	}
}

// evalCase is one hand-computed Evaluate case with dim 1, so a score is the
// product of a user's and an item's single value.
type evalCase struct {
	name        string
	users       []float32
	items       []float32
	train, test [][2]uint32
	opts        Options
	want        Metrics
}

func TestEvaluateHand(t *testing.T) {
	// Items 0..5 score 5,4,3,2,1,0 for a user valued 1 and the reverse for
	// a user valued -1.
	items := []float32{5, 4, 3, 2, 1, 0}
	cases := []evalCase{
		{
			name:  "five users, K=1 and 2",
			users: []float32{1, 1, 1, 1, -1, 1},
			items: items,
			// u0: train {0}, test {1,4}. Ranking 1,2,3,4,5.
			//   top2 [1,2]: hits 1 at p0. recall 1/2, prec 1/2, hit 1,
			//   ndcg 1/(1+l3), mrr 1, mrr@2 1. top1 [1]: recall 1/2,
			//   prec 1, ndcg 1/1, mrr@1 1.
			// u1: train {1,2}, test {5}. Ranking 0,3,4,5: no hit in
			//   top2; full rank 4 → mrr 1/4.
			// u2: no test items: skipped.
			// u3: train {0}, test {2,3}. Ranking 1,2,3,...: top2 [1,2]
			//   hit at p1: recall 1/2, prec 1/2, ndcg l3/(1+l3), mrr 1/2,
			//   mrr@2 1/2; top1 [1]: nothing.
			// u4 (value -1): train {5}, test {4}. Ranking 4,3,2,1,0:
			//   hit at p0: recall 1, prec@2 1/2, prec@1 1, ndcg 1
			//   (IDCG over min(K,1)=1 position), mrr 1.
			// u5: train {0}, test {0}: the only test item is masked,
			//   so every metric is 0, mrr too; still counted (|test|=1).
			train: [][2]uint32{{0, 0}, {1, 1}, {1, 2}, {3, 0}, {4, 5}, {5, 0}},
			test:  [][2]uint32{{0, 1}, {0, 4}, {1, 5}, {3, 2}, {3, 3}, {4, 4}, {5, 0}},
			opts:  Options{K: 2, Ks: []int{1, 2}},
			want: Metrics{
				"users":       5,
				"recall@2":    (0.5 + 0 + 0.5 + 1 + 0) / 5,
				"precision@2": (0.5 + 0 + 0.5 + 0.5 + 0) / 5,
				"hit@2":       3.0 / 5,
				"ndcg@2":      (1/(1+l3) + 0 + l3/(1+l3) + 1 + 0) / 5, // = 2/5
				"mrr@2":       (1 + 0 + 0.5 + 1 + 0) / 5,
				"mrr":         (1 + 0.25 + 0.5 + 1 + 0) / 5,
				"recall@1":    (0.5 + 1) / 5,
				"precision@1": 2.0 / 5,
				"hit@1":       2.0 / 5,
				"ndcg@1":      2.0 / 5,
				"mrr@1":       2.0 / 5,
			},
		},
		{
			// All items tie: the order is by item id, 0,1,2,3. Test {3}
			// ranks 4th: no hit at K=2, mrr 1/4.
			name:  "ties by item id",
			users: []float32{1},
			items: []float32{1, 1, 1, 1},
			test:  [][2]uint32{{0, 3}},
			opts:  Options{K: 2},
			want:  Metrics{"users": 1, "recall@2": 0, "precision@2": 0, "hit@2": 0, "ndcg@2": 0, "mrr@2": 0, "mrr": 0.25},
		},
		{
			// Ties again, test {1, 2}: top2 [0,1], hit at p1:
			// recall 1/2, prec 1/2, ndcg l3/(1+l3), mrr 1/2.
			name:  "ties hit second",
			users: []float32{1},
			items: []float32{1, 1, 1, 1},
			test:  [][2]uint32{{0, 1}, {0, 2}},
			opts:  Options{K: 2},
			want:  Metrics{"users": 1, "recall@2": 0.5, "precision@2": 0.5, "hit@2": 1, "ndcg@2": l3 / (1 + l3), "mrr@2": 0.5, "mrr": 0.5},
		},
		{
			// Fewer than K candidates: items 3, train {0,1}, test {2}.
			// The list is [2]: recall 1, precision 1/5 (divided by K),
			// ndcg 1, mrr 1.
			name:  "fewer than K left",
			users: []float32{1},
			items: []float32{3, 2, 1},
			train: [][2]uint32{{0, 0}, {0, 1}},
			test:  [][2]uint32{{0, 2}},
			opts:  Options{K: 5},
			want:  Metrics{"users": 1, "recall@5": 1, "precision@5": 0.2, "hit@5": 1, "ndcg@5": 1, "mrr@5": 1, "mrr": 1},
		},
		{
			// A train item is never recommended even when it scores best:
			// item 0 (score 9) is in train and in test; test {0, 2}.
			// Ranking 1,2: top1 [1], no hit; full rank of item 2 is 2.
			// recall@1 0, mrr 1/2.
			name:  "train item excluded",
			users: []float32{1},
			items: []float32{9, 5, 4},
			train: [][2]uint32{{0, 0}},
			test:  [][2]uint32{{0, 0}, {0, 2}},
			opts:  Options{K: 1},
			want:  Metrics{"users": 1, "recall@1": 0, "precision@1": 0, "hit@1": 0, "ndcg@1": 0, "mrr@1": 0, "mrr": 0.5},
		},
		{
			name:  "no test users",
			users: []float32{1, 1},
			items: []float32{1, 2},
			train: [][2]uint32{{0, 0}},
			opts:  Options{K: 1},
			want:  Metrics{"users": 0, "recall@1": 0, "precision@1": 0, "hit@1": 0, "ndcg@1": 0, "mrr@1": 0, "mrr": 0},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nu, ni := len(tc.users), len(tc.items)
			train, test := mustGraph(t, nu, ni, tc.train), mustGraph(t, nu, ni, tc.test)
			for _, bs := range []int{1, 2, 1024} {
				opts := tc.opts
				opts.BlockSize = bs
				got, err := Evaluate(context.Background(), tc.users, tc.items, 1, train, test, opts)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(tc.want) {
					t.Fatalf("block %d: keys %v, want %v", bs, got, tc.want)
				}
				for k, w := range tc.want {
					if g, ok := got[k]; !ok || math.Abs(g-w) > 1e-12 {
						t.Errorf("block %d: %s = %v (present %v), want %v", bs, k, g, ok, w)
					}
				}
			}
		})
	}
}

func TestMetricsAccessorsAndJSON(t *testing.T) {
	m := Metrics{"recall@20": 0.1, "ndcg@20": 0.2, "precision@20": 0.3, "hit@20": 0.4, "mrr@20": 0.5, "mrr": 0.6, "users": 7}
	if m.Recall(20) != 0.1 || m.NDCG(20) != 0.2 || m.Precision(20) != 0.3 || m.Hit(20) != 0.4 || m.MRRAt(20) != 0.5 || m.MRR() != 0.6 || m.Users() != 7 {
		t.Fatalf("accessors disagree with %v", m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"hit@20":0.4,"mrr":0.6,"mrr@20":0.5,"ndcg@20":0.2,"precision@20":0.3,"recall@20":0.1,"users":7}`
	if string(b) != want {
		t.Fatalf("json = %s, want %s", b, want)
	}
}

func TestEvaluateErrors(t *testing.T) {
	g := mustGraph(t, 2, 3, [][2]uint32{{0, 0}})
	g2 := mustGraph(t, 2, 4, nil)
	ctx := context.Background()
	u, it := make([]float32, 4), make([]float32, 6)
	for _, tc := range []struct {
		name         string
		users, items []float32
		dim          int
		train, test  *graph.Bipartite
		opts         Options
	}{
		{"short users", u[:3], it, 2, g, g, Options{}},
		{"short items", u, it[:5], 2, g, g, Options{}},
		{"zero dim", u, it, 0, g, g, Options{}},
		{"graph mismatch", u, it, 2, g, g2, Options{}},
		{"nil graph", u, it, 2, g, nil, Options{}},
		{"bad K", u, it, 2, g, g, Options{K: -1}},
		{"bad Ks", u, it, 2, g, g, Options{Ks: []int{0}}},
	} {
		if _, err := Evaluate(ctx, tc.users, tc.items, tc.dim, tc.train, tc.test, tc.opts); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Evaluate(cctx, u, it, 2, g, g, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: err = %v, want context.Canceled", err)
	}
}

// naiveEvaluate computes every metric by its definition: full sort of the
// non-train items per user, no blocking, no heap.
func naiveEvaluate(users, items []float32, dim int, train, test *graph.Bipartite, ks []int) Metrics {
	m := Metrics{}
	n := 0
	for u := 0; u < test.NumUsers; u++ {
		truth := test.ItemsOf(uint32(u))
		if len(truth) == 0 {
			continue
		}
		n++
		var list []Scored
		for i := 0; i < test.NumItems; i++ {
			if train.HasEdge(uint32(u), uint32(i)) {
				continue
			}
			var s float64
			for d := 0; d < dim; d++ {
				s += float64(users[u*dim+d]) * float64(items[i*dim+d])
			}
			list = append(list, Scored{uint32(i), float32(s)})
		}
		slices.SortFunc(list, func(a, b Scored) int {
			if c := cmp.Compare(b.Score, a.Score); c != 0 {
				return c
			}
			return cmp.Compare(a.Item, b.Item)
		})
		first := -1
		for p, e := range list {
			if _, ok := slices.BinarySearch(truth, e.Item); ok {
				first = p
				break
			}
		}
		if first >= 0 {
			m["mrr"] += 1 / float64(first+1)
		}
		for _, k := range ks {
			hits, dcg, idcg := 0, 0.0, 0.0
			for p := 0; p < k && p < len(list); p++ {
				if _, ok := slices.BinarySearch(truth, list[p].Item); ok {
					hits++
					dcg += 1 / math.Log2(float64(p)+2)
				}
			}
			for p := 0; p < min(k, len(truth)); p++ {
				idcg += 1 / math.Log2(float64(p)+2)
			}
			m[Key("recall", k)] += float64(hits) / float64(len(truth))
			m[Key("precision", k)] += float64(hits) / float64(k)
			m[Key("ndcg", k)] += dcg / idcg
			if hits > 0 {
				m[Key("hit", k)]++
			}
			if first >= 0 && first < k {
				m[Key("mrr", k)] += 1 / float64(first+1)
			}
		}
	}
	for k := range m {
		m[k] /= float64(n)
	}
	m["users"] = float64(n)
	return m
}

// randomSetup makes integer-valued embeddings (exact float32 products, many
// ties) and random train/test graphs where about a third of users have no
// test items.
func randomSetup(t testing.TB, seed uint64, nu, ni, dim, trainPer, testPer int) (users, items []float32, train, test *graph.Bipartite) {
	r := rand.New(rand.NewPCG(seed, 1))
	users = make([]float32, nu*dim)
	items = make([]float32, ni*dim)
	for i := range users {
		users[i] = float32(r.IntN(5) - 2)
	}
	for i := range items {
		items[i] = float32(r.IntN(5) - 2)
	}
	var tr, te []graph.Edge
	for u := 0; u < nu; u++ {
		for j := 0; j < 1+r.IntN(trainPer); j++ {
			tr = append(tr, graph.Edge{User: uint32(u), Item: uint32(r.IntN(ni))})
		}
		if r.IntN(3) == 0 {
			continue
		}
		for j := 0; j < 1+r.IntN(testPer); j++ {
			te = append(te, graph.Edge{User: uint32(u), Item: uint32(r.IntN(ni))})
		}
	}
	var err error
	if train, err = graph.Build(nu, ni, tr); err != nil {
		t.Fatal(err)
	}
	if test, err = graph.Build(nu, ni, te); err != nil {
		t.Fatal(err)
	}
	return users, items, train, test
}

func TestEvaluateMatchesNaive(t *testing.T) {
	const nu, ni, dim = 300, 500, 8
	users, items, train, test := randomSetup(t, 3, nu, ni, dim, 60, 10)
	ks := []int{1, 5, 20, 50}
	want := naiveEvaluate(users, items, dim, train, test, ks)
	if want.Users() < 150 || want.Recall(20) == 0 || want.MRR() == 0 {
		t.Fatalf("degenerate random setup: %v", want)
	}
	var ref Metrics
	for _, o := range []Options{
		{K: 20, Ks: ks, BlockSize: 7, Workers: 3},
		{K: 20, Ks: ks, BlockSize: 7, Workers: 1},
		{K: 50, Ks: ks, BlockSize: 1000, Workers: 2},
		{K: 1, Ks: ks, BlockSize: 64},
	} {
		got, err := Evaluate(context.Background(), users, items, dim, train, test, o)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%+v: keys %v, want %v", o, got, want)
		}
		for k, w := range want {
			if math.Abs(got[k]-w) > 1e-9 {
				t.Errorf("%+v: %s = %v, naive %v", o, k, got[k], w)
			}
		}
		// Same partition, different worker count: bit-identical.
		if o.BlockSize == 7 {
			if ref == nil {
				ref = got
			} else {
				for k := range ref {
					if ref[k] != got[k] {
						t.Errorf("workers changed %s: %v vs %v", k, ref[k], got[k])
					}
				}
			}
		}
	}
}

func TestHitRateMRRHand(t *testing.T) {
	// Items score 5,4,3,2,1,0 for query 0 (value 1); query 1 (value -1)
	// sees the reverse.
	items := []float32{5, 4, 3, 2, 1, 0}
	queries := []float32{1, -1}
	pairs := []Pair{
		{0, 2}, // rank 3
		{0, 0}, // rank 1
		{1, 3}, // reverse order 5,4,3: rank 3
		{1, 5}, // rank 1
	}
	exclude := func(q uint32) []uint32 {
		if q == 0 {
			return []uint32{0, 1, 2} // true item 2 stays: (0,2) → rank 1
		}
		return nil
	}
	for _, tc := range []struct {
		name string
		opts RankOptions
		want Metrics
	}{
		// ranks 3,1,3,1: hit@2 = 2/4, mrr = (1/3+1+1/3+1)/4 = 2/3.
		{"full", RankOptions{K: 2}, Metrics{"pairs": 4, "hit@2": 0.5, "mrr": 2.0 / 3}},
		// PinSage scaling by 2: 1/ceil(r/2) = 1/2,1,1/2,1 → 0.75.
		{"scaled", RankOptions{K: 3, MRRScale: 2}, Metrics{"pairs": 4, "hit@3": 1, "mrr": 2.0 / 3, "mrr_scaled": 0.75}},
		// Exclude {0,1,2} for query 0: (0,2) rank 1, (0,0) stays rank 1
		// (the true item is never excluded; 1 and 2 rank after it).
		// ranks 1,1,3,1: hit@2 3/4, mrr (1+1+1/3+1)/4 = 5/6.
		{"exclude", RankOptions{K: 2, Exclude: exclude}, Metrics{"pairs": 4, "hit@2": 0.75, "mrr": 5.0 / 6}},
		// More candidates than items: the sampled path ranks among all
		// remaining items, so it equals the full ranking.
		{"sampled all", RankOptions{K: 2, Candidates: 100, Exclude: exclude}, Metrics{"pairs": 4, "hit@2": 0.75, "mrr": 5.0 / 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := HitRateMRR(context.Background(), queries, items, 1, pairs, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("keys %v, want %v", got, tc.want)
			}
			for k, w := range tc.want {
				if math.Abs(got[k]-w) > 1e-12 {
					t.Errorf("%s = %v, want %v", k, got[k], w)
				}
			}
		})
	}
}

func TestHitRateMRRSampled(t *testing.T) {
	const nq, ni, dim = 50, 400, 4
	users, items, _, _ := randomSetup(t, 9, nq, ni, dim, 2, 2)
	r := rand.New(rand.NewPCG(1, 1))
	pairs := make([]Pair, 500)
	for i := range pairs {
		pairs[i] = Pair{uint32(r.IntN(nq)), uint32(r.IntN(ni))}
	}
	ctx := context.Background()
	opts := RankOptions{K: 10, Candidates: 20, Seed: 42, Workers: 1}
	a, err := HitRateMRR(ctx, users, items, dim, pairs, opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.Workers = 4
	b, err := HitRateMRR(ctx, users, items, dim, pairs, opts)
	if err != nil {
		t.Fatal(err)
	}
	for k := range a {
		if a[k] != b[k] {
			t.Errorf("workers changed %s: %v vs %v", k, a[k], b[k])
		}
	}
	// With 20 negatives the rank is at most 21, so mrr ≥ 1/21, and K=10
	// of 21 positions gives a hit rate well above the full ranking's.
	full, err := HitRateMRR(ctx, users, items, dim, pairs, RankOptions{K: 10})
	if err != nil {
		t.Fatal(err)
	}
	if a.MRR() < 1.0/21 || a.Hit(10) <= full.Hit(10) || a.MRR() <= full.MRR() {
		t.Errorf("sampled %v vs full %v: sampled ranking should be easier", a, full)
	}
	opts.Seed = 43
	c, err := HitRateMRR(ctx, users, items, dim, pairs, opts)
	if err != nil {
		t.Fatal(err)
	}
	if c.MRR() == a.MRR() {
		t.Errorf("seed 43 gave the same mrr %v as seed 42", c.MRR())
	}
	if _, err := HitRateMRR(ctx, users, items, dim, []Pair{{nq, 0}}, opts); err == nil {
		t.Error("out-of-range query: no error")
	}
}

// TestFullRankMatchesEvaluate checks HitRateMRR's full ranking against
// Evaluate's mrr for users with a single test item (the two protocols agree
// there), with train items excluded.
func TestFullRankMatchesEvaluate(t *testing.T) {
	const nu, ni, dim = 120, 300, 6
	users, items, train, test := randomSetup(t, 5, nu, ni, dim, 30, 1)
	var pairs []Pair
	for u := 0; u < nu; u++ {
		for _, i := range test.ItemsOf(uint32(u)) {
			if !train.HasEdge(uint32(u), i) {
				pairs = append(pairs, Pair{uint32(u), i})
			}
		}
	}
	// Drop test edges that are also train edges so both see the same users.
	var te []graph.Edge
	for _, p := range pairs {
		te = append(te, graph.Edge{User: p.Query, Item: p.Item})
	}
	test, err := graph.Build(nu, ni, te)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m, err := Evaluate(ctx, users, items, dim, train, test, Options{K: 10})
	if err != nil {
		t.Fatal(err)
	}
	h, err := HitRateMRR(ctx, users, items, dim, pairs, RankOptions{K: 10, Exclude: train.ItemsOf, BlockSize: 13})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(m.MRR()-h.MRR()) > 1e-12 || math.Abs(m.Hit(10)-h.Hit(10)) > 1e-12 {
		t.Fatalf("Evaluate %v vs HitRateMRR %v", m, h)
	}
}

func TestEvaluateProgress(t *testing.T) {
	const nu, ni, dim = 300, 500, 8
	users, items, train, test := randomSetup(t, 5, nu, ni, dim, 60, 10)
	plain, err := Evaluate(context.Background(), users, items, dim, train, test, Options{BlockSize: 7, Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []Options{{BlockSize: 7, Workers: 3}, {BlockSize: 1000, Workers: 2}, {BlockSize: 1, Workers: 1}} {
		var calls, sum, total atomic.Int64
		o.Progress = func(n, all int) {
			calls.Add(1)
			sum.Add(int64(n))
			total.Store(int64(all))
		}
		got, err := Evaluate(context.Background(), users, items, dim, train, test, o)
		if err != nil {
			t.Fatal(err)
		}
		nBlocks := (plain.Users() + o.BlockSize - 1) / o.BlockSize
		if int(calls.Load()) != nBlocks || int(sum.Load()) != plain.Users() || int(total.Load()) != plain.Users() {
			t.Errorf("block %d: %d calls adding to %d of %d, want %d calls adding to %d", o.BlockSize,
				calls.Load(), sum.Load(), total.Load(), nBlocks, plain.Users())
		}
		if o.BlockSize == 7 {
			for k := range plain {
				if plain[k] != got[k] {
					t.Errorf("a progress callback changed %s: %v vs %v", k, plain[k], got[k])
				}
			}
		}
	}
}
