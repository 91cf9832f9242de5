package embedding

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/trainerd/trainerd/consumer/embedcore"
	"github.com/trainerd/trainerd/consumer/optim"
	"github.com/trainerd/trainerd/graph"
	"github.com/trainerd/trainerd/internal/testfixture"
	"github.com/trainerd/trainerd/model"
)

// towerFixture is a small graph with users of degree 1 to 5 and a tower
// over it.
func towerFixture(t *testing.T, cfg model.Config) (*userTower, model.Info) {
	t.Helper()
	const U, I = 6, 9
	var edges []graph.Edge
	for u := range U {
		for k := range u%5 + 1 {
			edges = append(edges, graph.Edge{User: uint32(u), Item: uint32((u*2 + k) % I)})
		}
	}
	g, err := graph.Build(U, I, edges)
	if err != nil {
		t.Fatal(err)
	}
	info := model.Info{NumUsers: U, NumItems: I, Graph: g}
	cfg.Dim, cfg.Threads, cfg.Seed = 4, 2, 7
	tw, err := newUserTower(cfg, info, func(rows, dim int) (optim.Optimizer, error) {
		return optim.New(optim.Params{}, rows, dim)
	})
	if err != nil {
		t.Fatal(err)
	}
	return tw, info
}

// TestUserTowerGradient checks backward against central differences of
// f = Σ G ⊙ forward(table, M) with respect to every table entry and every
// entry of M, with sampling, dropout and a learned M, so the sample and the
// mask (fixed by the step) are the same in every evaluation.
func TestUserTowerGradient(t *testing.T) {
	cases := []model.Config{
		{History: model.History{Weight: 0.6, Linear: true, Max: 3}, Dropout: 0.3},
		{History: model.History{Weight: 0.6, Linear: true, Max: 3, DegreePower: 0.5}},
		{History: model.History{Weight: 0.7, DegreePower: 1.5}},
		{History: model.History{Weight: 0.5, EmbedOnly: true}, Dropout: 0.2},
		{History: model.History{Weight: 1}},
		{History: model.History{Weight: 0.25, Linear: true}},
		{Dropout: 0.5},
	}
	for _, cfg := range cases {
		tw, info := towerFixture(t, cfg)
		d := tw.d
		n := info.NumUsers + info.NumItems
		rng := rand.New(rand.NewPCG(1, 2))
		table := make([]float64, n*d)
		for i := range table {
			table[i] = rng.NormFloat64()
		}
		if tw.M != nil {
			for i := range tw.M {
				tw.M[i] = float32(rng.NormFloat64() * 0.5)
			}
		}
		query := []uint32{4, 0, 4, 3, 5, 1}
		B := len(query)
		G := make([]float32, B*d)
		for i := range G {
			G[i] = float32(rng.NormFloat64())
		}
		const step = 11
		f := func() float64 {
			t32 := make([]float32, len(table))
			for i, v := range table {
				t32[i] = float32(v)
			}
			Q := make([]float32, B*d)
			embedcore.GatherRows(Q, t32, query, d)
			if err := tw.forward(query, t32, Q, step); err != nil {
				t.Fatal(err)
			}
			var s float64
			for i, v := range Q {
				s += float64(v) * float64(G[i])
			}
			return s
		}
		f()
		gQ := append([]float32(nil), G...)
		hist := tw.backward(gQ, B)
		grad := make([]float64, n*d)
		for k, u := range query {
			for i := range d {
				grad[int(u)*d+i] += float64(gQ[k*d+i])
			}
		}
		for k := 0; k+1 < len(hist.Ptr); k++ {
			for j := hist.Ptr[k]; j < hist.Ptr[k+1]; j++ {
				for i := range d {
					grad[int(hist.IDs[j])*d+i] += float64(hist.Coef[j]) * float64(hist.Src[k*d+i])
				}
			}
		}
		mGrad := append([]float32(nil), tw.mGrad...)
		const h = 1e-2
		check := func(what string, i int, analytic float64, p *float64, set func()) {
			old := *p
			*p = old + h
			set()
			fp := f()
			*p = old - h
			set()
			fm := f()
			*p = old
			set()
			num := (fp - fm) / (2 * h)
			if math.Abs(num-analytic) > 2e-3*math.Max(1, math.Abs(num)) {
				t.Errorf("%+v: d/d%s[%d]: analytic %.5f, numeric %.5f", cfg, what, i, analytic, num)
			}
		}
		for i := range table {
			check("table", i, grad[i], &table[i], func() {})
		}
		if tw.M != nil {
			m64 := make([]float64, len(tw.M))
			for i, v := range tw.M {
				m64[i] = float64(v)
			}
			for i := range m64 {
				check("M", i, float64(mGrad[i]), &m64[i], func() {
					for k, v := range m64 {
						tw.M[k] = float32(v)
					}
				})
			}
		}
	}
}

// TestUserTowerUsersMatchForward: without dropout or sampling, the exported
// user vectors are exactly what training scores with.
func TestUserTowerUsersMatchForward(t *testing.T) {
	for _, cfg := range []model.Config{
		{History: model.History{Weight: 0.4, Linear: true}},
		{History: model.History{Weight: 0.4, Linear: true, DegreePower: 0.75}},
	} {
		usersMatchForward(t, cfg)
	}
}

func usersMatchForward(t *testing.T, cfg model.Config) {
	tw, info := towerFixture(t, cfg)
	d := tw.d
	n := info.NumUsers + info.NumItems
	table := embedcore.InitNormal(n*d, 1, 3, 1)
	for i := range tw.M {
		tw.M[i] += float32(i%3) * 0.1
	}
	query := []uint32{0, 1, 2, 3, 4, 5}
	Q := make([]float32, len(query)*d)
	embedcore.GatherRows(Q, table, query, d)
	if err := tw.forward(query, table, Q, 0); err != nil {
		t.Fatal(err)
	}
	users := slices.Clone(table[:info.NumUsers*d])
	tw.users(users, table)
	for i := range Q {
		if math.Abs(float64(Q[i]-users[i])) > 1e-5 {
			t.Fatalf("user vector entry %d: forward %v, users %v", i, Q[i], users[i])
		}
	}
}

// TestUserTowerSample: a capped history is a sample without repeats of the
// user's items, the same for the same step and (almost surely) different
// across steps.
func TestUserTowerSample(t *testing.T) {
	tw, info := towerFixture(t, model.Config{History: model.History{Weight: 1, Max: 2}})
	d := tw.d
	table := embedcore.InitNormal((info.NumUsers+info.NumItems)*d, 1, 3, 1)
	query := []uint32{4} // degree 5
	draw := func(step int) []uint32 {
		Q := make([]float32, d)
		if err := tw.forward(query, table, Q, step); err != nil {
			t.Fatal(err)
		}
		return append([]uint32(nil), tw.items[:tw.ptr[1]]...)
	}
	own := map[uint32]bool{}
	for _, it := range info.Graph.ItemsOf(4) {
		own[uint32(info.NumUsers)+it] = true
	}
	seen := map[[2]uint32]bool{}
	for step := range 50 {
		s := draw(step)
		if len(s) != 2 || s[0] == s[1] || !own[s[0]] || !own[s[1]] {
			t.Fatalf("step %d: sample %v is not 2 distinct items of user 4", step, s)
		}
		if again := draw(step); again[0] != s[0] || again[1] != s[1] {
			t.Fatalf("step %d: sample %v then %v", step, s, again)
		}
		seen[[2]uint32{min(s[0], s[1]), max(s[0], s[1])}] = true
	}
	if len(seen) < 5 {
		t.Errorf("only %d distinct pairs in 50 steps", len(seen))
	}
	if err := tw.forward([]uint32{uint32(info.NumUsers)}, table, make([]float32, d), 0); err == nil {
		t.Error("an item query was accepted")
	}
}

// TestNewUserTowerRejects: out-of-range keys name the key.
func TestNewUserTowerRejects(t *testing.T) {
	g, _ := graph.Build(1, 1, []graph.Edge{{}})
	info := model.Info{NumUsers: 1, NumItems: 1, Graph: g}
	for _, cfg := range []model.Config{{History: model.History{Weight: 1.5}}, {Dropout: 1}, {History: model.History{Weight: 0.5, Max: -1}},
		{History: model.History{Weight: 0.5, DegreePower: -1}},
		{History: model.History{Weight: 0.5, EmbedOnly: true, Linear: true}},
		{History: model.History{Weight: 0.5, EmbedOnly: true, Max: 8}}} {
		cfg.Model = "mf"
		if _, err := NewMF(cfg, info); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
	if _, err := NewMF(model.Config{Model: "mf", History: model.History{Weight: 0.5}}, model.Info{NumUsers: 1, NumItems: 1}); err == nil {
		t.Error("history without a graph accepted")
	}
}

// TestUserTowerWeightedUsers checks the exported user vectors against a
// float64 reference: (1−w)·e_u + w·Σ_j a_j e_j with a_j ∝ deg_j^−β over
// all of u's train items, for the plain mean (β 0) and weighted ones.
func TestUserTowerWeightedUsers(t *testing.T) {
	for _, beta := range []float64{0, 0.5, 2} {
		const w = 0.3
		tw, info := towerFixture(t, model.Config{History: model.History{Weight: w, DegreePower: beta}})
		d, U := tw.d, info.NumUsers
		table := embedcore.InitNormal((U+info.NumItems)*d, 1, 5, 1)
		users := slices.Clone(table[:U*d])
		tw.users(users, table)
		for u := range U {
			its := info.Graph.ItemsOf(uint32(u))
			var sum float64
			for _, j := range its {
				sum += math.Pow(float64(info.Graph.ItemDegree(j)), -beta)
			}
			for i := range d {
				h := 0.0
				for _, j := range its {
					h += math.Pow(float64(info.Graph.ItemDegree(j)), -beta) / sum * float64(table[(U+int(j))*d+i])
				}
				want := (1-w)*float64(table[u*d+i]) + w*h
				if math.Abs(float64(users[u*d+i])-want) > 1e-5 {
					t.Fatalf("beta %g user %d entry %d: %v want %v", beta, u, i, users[u*d+i], want)
				}
			}
		}
	}
}

// TestUserTowerEmbedOnly: with history.embed_only, training sees plain MF
// (the query rows are untouched, no history row gets a gradient) while the
// exported user vectors mix in the history.
func TestUserTowerEmbedOnly(t *testing.T) {
	tw, info := towerFixture(t, model.Config{History: model.History{Weight: 0.5, EmbedOnly: true, DegreePower: 0.5}})
	d, U := tw.d, info.NumUsers
	table := embedcore.InitNormal((U+info.NumItems)*d, 1, 3, 1)
	query := []uint32{0, 1, 2, 3, 4, 5}
	Q := make([]float32, len(query)*d)
	embedcore.GatherRows(Q, table, query, d)
	want := slices.Clone(Q)
	if err := tw.forward(query, table, Q, 0); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(Q, want) {
		t.Fatal("embed-only forward changed the training query vectors")
	}
	gQ := slices.Clone(Q)
	if h := tw.backward(gQ, len(query)); len(h.IDs) != 0 || !slices.Equal(gQ, Q) {
		t.Fatalf("embed-only backward: %d history rows, gradient changed %v", len(h.IDs), !slices.Equal(gQ, Q))
	}
	users := slices.Clone(table[:U*d])
	tw.users(users, table)
	if slices.Equal(users, table[:U*d]) {
		t.Fatal("embed-only users() did not mix in the history")
	}
}

// TestEmbedOnlyTrainsPlainMF: an MF model with an embed-only aggregation
// takes exactly plain MF's training steps (same losses and tables, bit for
// bit) and differs from it only in the exported user vectors.
func TestEmbedOnlyTrainsPlainMF(t *testing.T) {
	const U, I = 40, 50
	edges, _, _ := testfixture.Planted(U, I, 2, 8, 2)
	g, _ := graph.Build(U, I, edges)
	info := model.Info{NumUsers: U, NumItems: I, Graph: g}
	base := model.Config{Model: "mf", Loss: "ccl", Normalize: true, Seed: 5}
	smooth := base
	smooth.History.Weight, smooth.History.DegreePower, smooth.History.EmbedOnly = 0.5, 0.5, true
	plain, err := NewMF(base, info)
	if err != nil {
		t.Fatal(err)
	}
	emb, err := NewMF(smooth, info)
	if err != nil {
		t.Fatal(err)
	}
	s := &testfixture.Sampler{U: U, I: I, Edges: edges, B: 16, P: 10, Rng: rand.New(rand.NewPCG(1, 1))}
	ctx := context.Background()
	for _, b := range s.Epoch(0) {
		sp, err := plain.Step(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		se, err := emb.Step(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		if sp.Loss != se.Loss {
			t.Fatalf("batch %d: loss %v with embed-only, %v plain", b.Index, se.Loss, sp.Loss)
		}
	}
	if !slices.Equal(plain.State()[0].Data, emb.State()[0].Data) {
		t.Fatal("embed-only training moved the table differently from plain MF")
	}
	ep, _ := plain.Embed(ctx)
	ee, _ := emb.Embed(ctx)
	if !slices.Equal(ep.Items, ee.Items) || slices.Equal(ep.Users, ee.Users) {
		t.Fatal("embed-only should change the exported users and only them")
	}
}

// TestHistoryWeightZeroIsOff: weight 0 turns the aggregation off whatever the
// other history keys say, so one key switches a smoothed recipe to plain MF.
func TestHistoryWeightZeroIsOff(t *testing.T) {
	g, _ := graph.Build(2, 2, []graph.Edge{{User: 0, Item: 0}, {User: 1, Item: 1}})
	info := model.Info{NumUsers: 2, NumItems: 2, Graph: g}
	rest := model.History{DegreePower: 0.5, EmbedOnly: true, Max: 4, Linear: true}
	for _, tc := range []struct {
		name    string
		dropout float64
	}{{"no dropout", 0}, {"dropout", 0.2}} {
		t.Run(tc.name, func(t *testing.T) {
			tw, err := newUserTower(model.Config{Model: "mf", Dim: 4, History: rest, Dropout: tc.dropout}, info, nil)
			if err != nil {
				t.Fatalf("weight 0 with %+v: %v", rest, err)
			}
			if tc.dropout == 0 {
				if tw != nil {
					t.Fatalf("weight 0 built a user tower: %+v", tw)
				}
				return
			}
			if tw == nil || tw.w != 0 || tw.trainW != 0 || tw.iw != nil || tw.M != nil || tw.maxItems != 0 {
				t.Fatalf("weight 0 with dropout: tower %+v still aggregates", tw)
			}
		})
	}
}
