package eval

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
)

func TestColdItems(t *testing.T) {
	train := mustGraph(t, 2, 5, [][2]uint32{{0, 0}, {0, 2}, {1, 2}})
	got := ColdItems(train)
	want := []uint32{1, 3, 4}
	if len(got) != len(want) {
		t.Fatalf("ColdItems = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ColdItems = %v, want %v", got, want)
		}
	}
}

func TestEvaluateItemsHand(t *testing.T) {
	// 1 user, 4 items, dim 1: scores are the item values. Items 1 and 3 are
	// candidates; item 0 (the best score) is not, so it is neither ranked
	// nor counted, and test item 0 is dropped.
	users := []float32{1}
	items := []float32{9, 2, 5, 3}
	train := mustGraph(t, 1, 4, [][2]uint32{{0, 2}})
	test := mustGraph(t, 1, 4, [][2]uint32{{0, 0}, {0, 1}})
	m, err := EvaluateItems(context.Background(), users, items, 1, train, test, []uint32{1, 3}, Options{K: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Ranking over {1: 2, 3: 3}: item 3 first, item 1 second.
	for k, want := range map[string]float64{"recall@1": 0, "mrr": 0.5, "users": 1, "hit@1": 0} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}
	m, err = EvaluateItems(context.Background(), users, items, 1, train, test, []uint32{0, 1, 3}, Options{K: 1})
	if err != nil {
		t.Fatal(err)
	}
	if m.Recall(1) != 0.5 || m.MRR() != 1 {
		t.Errorf("with item 0 a candidate: recall@1 %v mrr %v, want 0.5 and 1", m.Recall(1), m.MRR())
	}
}

func TestEvaluateItemsAllEqualsEvaluate(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const nu, ni, dim = 30, 40, 4
	users := make([]float32, nu*dim)
	items := make([]float32, ni*dim)
	for i := range users {
		users[i] = rng.Float32()
	}
	for i := range items {
		items[i] = rng.Float32()
	}
	var tr, te [][2]uint32
	for u := 0; u < nu; u++ {
		for i := 0; i < ni; i++ {
			switch rng.IntN(8) {
			case 0:
				tr = append(tr, [2]uint32{uint32(u), uint32(i)})
			case 1:
				te = append(te, [2]uint32{uint32(u), uint32(i)})
			}
		}
	}
	train, test := mustGraph(t, nu, ni, tr), mustGraph(t, nu, ni, te)
	all := make([]uint32, ni)
	for i := range all {
		all[i] = uint32(i)
	}
	opts := Options{K: 5, Ks: []int{10}, BlockSize: 7}
	want, err := Evaluate(context.Background(), users, items, dim, train, test, opts)
	if err != nil {
		t.Fatal(err)
	}
	got, err := EvaluateItems(context.Background(), users, items, dim, train, test, all, opts)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (Evaluate)", k, got[k], v)
		}
	}
}

func TestEvaluateItemsErrors(t *testing.T) {
	train := mustGraph(t, 1, 3, [][2]uint32{{0, 0}})
	test := mustGraph(t, 1, 3, [][2]uint32{{0, 1}})
	users, items := []float32{1}, []float32{1, 2, 3}
	for _, tc := range []struct {
		name  string
		cands []uint32
	}{
		{"none", nil},
		{"out of range", []uint32{1, 3}},
		{"not ascending", []uint32{2, 1}},
		{"duplicate", []uint32{1, 1}},
	} {
		if _, err := EvaluateItems(context.Background(), users, items, 1, train, test, tc.cands, Options{}); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func TestContentEmbeddings(t *testing.T) {
	// Item features (dim 2): item 0 (1,0), item 1 (0,2), item 2 (3,4),
	// item 3 zero. User 0 trained on items 0 and 1: mean (0.5,1). User 1
	// has no train items.
	feat := []float32{1, 0, 0, 2, 3, 4, 0, 0}
	train := mustGraph(t, 2, 4, [][2]uint32{{0, 0}, {0, 1}})
	users, items, err := ContentEmbeddings(train, feat, 2)
	if err != nil {
		t.Fatal(err)
	}
	s5 := float32(1 / math.Sqrt(1.25))
	wantU := []float32{0.5 * s5, 1 * s5, 0, 0}
	wantI := []float32{1, 0, 0, 1, 0.6, 0.8, 0, 0}
	for i, w := range wantU {
		if math.Abs(float64(users[i]-w)) > 1e-6 {
			t.Errorf("users[%d] = %v, want %v", i, users[i], w)
		}
	}
	for i, w := range wantI {
		if math.Abs(float64(items[i]-w)) > 1e-6 {
			t.Errorf("items[%d] = %v, want %v", i, items[i], w)
		}
	}
	if feat[4] != 3 {
		t.Error("ContentEmbeddings modified its input")
	}
	if _, _, err := ContentEmbeddings(train, nil, 0); err == nil {
		t.Error("no error without features")
	}
	if _, _, err := ContentEmbeddings(train, feat[:6], 2); err == nil {
		t.Error("no error for a short feature matrix")
	}
}
