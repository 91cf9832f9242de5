package gen

import (
	"context"
	"errors"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"

	"github.com/trainerd/trainerd/dataset"
)

func mustGen(t *testing.T, cfg Config) (*dataset.Dataset, *Truth) {
	t.Helper()
	ds, truth, err := GenerateWithTruth(context.Background(), cfg)
	if err != nil {
		t.Fatalf("GenerateWithTruth(%+v): %v", cfg, err)
	}
	return ds, truth
}

func preset(t *testing.T, name string) Config {
	t.Helper()
	c, err := Preset(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDeterminism(t *testing.T) {
	cfg := preset(t, "tiny")
	cfg.Users = 9000 // more than two chunks, so workers interleave
	a, _ := mustGen(t, cfg)
	b, _ := mustGen(t, cfg)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same config gave different data sets")
	}
	cfg.Seed++
	c, _ := mustGen(t, cfg)
	if reflect.DeepEqual(a.Train, c.Train) {
		t.Fatal("different seeds gave the same train set")
	}
}

func TestPresets(t *testing.T) {
	for _, name := range PresetNames() {
		c, err := Preset(name)
		if err != nil || c.Users <= 0 || c.Items <= 0 || c.Edges <= 0 || c.Name != "gen-"+name {
			t.Fatalf("Preset(%q) = %+v, %v", name, c, err)
		}
	}
	if _, err := Preset("huge"); err == nil {
		t.Fatal(`Preset("huge"): want an error`)
	}
}

func TestConfigErrors(t *testing.T) {
	base := preset(t, "tiny")
	cases := []struct {
		name string
		mod  func(*Config)
	}{
		{"no users", func(c *Config) { c.Users = 0 }},
		{"negative edges", func(c *Config) { c.Edges = -1 }},
		{"too many communities", func(c *Config) { c.Communities = 301 }},
		{"test ratio 1", func(c *Config) { c.TestRatio = 1 }},
		{"in-community > 1", func(c *Config) { c.InCommunity = 1.5 }},
		{"negative dim", func(c *Config) { c.ItemFeatDim = -2 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := base
			c.mod(&cfg)
			if _, err := Generate(context.Background(), cfg); err == nil {
				t.Fatal("want an error")
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Generate(ctx, base); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: err = %v", err)
	}
}

func TestStructure(t *testing.T) {
	cases := []struct {
		name   string
		cfg    Config
		minIn  float64 // minimum fraction of in-community train edges
		maxIn  float64
		ratio  float64 // expected test share
		skewed bool
	}{
		{"tiny", preset(t, "tiny"), 0.75, 0.92, 0.2, true},
		{"small", preset(t, "small"), 0.75, 0.9, 0.2, true},
		{"no community pull", Config{Users: 500, Items: 600, Edges: 8000, Communities: 10, Seed: 3, InCommunity: -1, TestRatio: -1}, 0, 0.2, 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ds, truth := mustGen(t, c.cfg)
			if ds.NumUsers() != c.cfg.Users || ds.NumItems() != c.cfg.Items {
				t.Fatalf("%d users %d items, want %d %d", ds.NumUsers(), ds.NumItems(), c.cfg.Users, c.cfg.Items)
			}
			if ds.UserIDs[0] != "u0" || ds.ItemIDs[len(ds.ItemIDs)-1] != "i"+strconv.Itoa(c.cfg.Items-1) {
				t.Fatalf("external ids %q..., %q", ds.UserIDs[0], ds.ItemIDs[len(ds.ItemIDs)-1])
			}
			total := len(ds.Train) + len(ds.Test)
			if total < c.cfg.Edges*85/100 || total > c.cfg.Edges*110/100 {
				t.Fatalf("%d interactions, want about %d", total, c.cfg.Edges)
			}
			if share := float64(len(ds.Test)) / float64(total); share < c.ratio-0.03 || share > c.ratio+0.03 {
				t.Fatalf("test share %.3f, want %.2f", share, c.ratio)
			}
			in := 0
			for _, e := range ds.Train {
				if e.User >= uint32(ds.NumUsers()) || e.Item >= uint32(ds.NumItems()) {
					t.Fatalf("edge %+v out of range", e)
				}
				if truth.UserCommunity[e.User] == truth.ItemCommunity[e.Item] {
					in++
				}
			}
			frac := float64(in) / float64(len(ds.Train))
			if frac < c.minIn || frac > c.maxIn {
				t.Fatalf("in-community fraction %.3f, want in [%.2f, %.2f]", frac, c.minIn, c.maxIn)
			}
			// Per user: no duplicate items, ≥ 1 train item when ≥ 2 interactions.
			type ut struct{ train, test int }
			per := make([]ut, ds.NumUsers())
			pairs := map[[2]uint32]bool{}
			for _, p := range []struct {
				es    []dataset.Interaction
				train bool
			}{{ds.Train, true}, {ds.Test, false}} {
				for _, e := range p.es {
					k := [2]uint32{e.User, e.Item}
					if pairs[k] {
						t.Fatalf("duplicate interaction %v", k)
					}
					pairs[k] = true
					if p.train {
						per[e.User].train++
					} else {
						per[e.User].test++
					}
				}
			}
			for u, p := range per {
				if p.train+p.test >= 2 && p.train == 0 {
					t.Fatalf("user %d has %d interactions, none in train", u, p.test)
				}
			}
			if c.skewed {
				// Degree skew: the top 10% of users hold well over 10% of edges,
				// and the most popular item is far above the mean.
				deg := make([]int, ds.NumUsers())
				for _, e := range ds.Train {
					deg[e.User]++
				}
				sort.Sort(sort.Reverse(sort.IntSlice(deg)))
				top := 0
				for _, d := range deg[:len(deg)/10] {
					top += d
				}
				if share := float64(top) / float64(len(ds.Train)); share < 0.2 {
					t.Fatalf("top-10%% users hold %.3f of train edges, want ≥ 0.2", share)
				}
				ideg := make([]int, ds.NumItems())
				for _, e := range ds.Train {
					ideg[e.Item]++
				}
				mean := float64(len(ds.Train)) / float64(ds.NumItems())
				if mx := slices.Max(ideg); float64(mx) < 5*mean {
					t.Fatalf("max item degree %d, mean %.1f: want ≥ 5× mean", mx, mean)
				}
			}
			for _, f := range []*dataset.Features{ds.UserFeatures, ds.ItemFeatures} {
				if dim := c.cfg.UserFeatDim; dim > 0 && (f == nil || f.Schema.Dim() != dim || f.Schema[0].Derivation != "generated") {
					t.Fatalf("features %+v, want dim %d, derivation generated", f, dim)
				}
			}
		})
	}
}

// TestPopularitySignal checks that recommending the most popular train items
// of the user's community beats recommending random items on test recall@20.
func TestPopularitySignal(t *testing.T) {
	ds, truth := mustGen(t, preset(t, "small"))
	const k = 20
	pop := make([]int, ds.NumItems())
	train := make(map[[2]uint32]bool, len(ds.Train))
	for _, e := range ds.Train {
		pop[e.Item]++
		train[[2]uint32{e.User, e.Item}] = true
	}
	byComm := make([][]uint32, len(slices.Compact(slices.Sorted(slices.Values(truth.ItemCommunity)))))
	for i, c := range truth.ItemCommunity {
		byComm[c] = append(byComm[c], uint32(i))
	}
	for _, m := range byComm {
		sort.Slice(m, func(a, b int) bool { return pop[m[a]] > pop[m[b]] })
	}
	testOf := make(map[uint32][]uint32)
	for _, e := range ds.Test {
		testOf[e.User] = append(testOf[e.User], e.Item)
	}
	r := rand.New(rand.NewPCG(5, 5))
	var recPop, recRand float64
	for u, items := range testOf {
		want := map[uint32]bool{}
		for _, i := range items {
			want[i] = true
		}
		hits := 0
		n := 0
		for _, i := range byComm[truth.UserCommunity[u]] {
			if n == k {
				break
			}
			if train[[2]uint32{u, i}] {
				continue
			}
			n++
			if want[i] {
				hits++
			}
		}
		recPop += float64(hits) / float64(len(items))
		hits = 0
		for range k {
			if want[uint32(r.IntN(ds.NumItems()))] {
				hits++
			}
		}
		recRand += float64(hits) / float64(len(items))
	}
	recPop /= float64(len(testOf))
	recRand /= float64(len(testOf))
	t.Logf("recall@%d: community popularity %.4f, random %.4f", k, recPop, recRand)
	if recPop < 5*recRand || recPop < 0.05 {
		t.Fatalf("community popularity recall@%d %.4f not well above random %.4f", k, recPop, recRand)
	}
}

func BenchmarkGenerate(b *testing.B) {
	for _, name := range []string{"tiny", "small"} {
		b.Run(name, func(b *testing.B) {
			cfg, _ := Preset(name)
			for b.Loop() {
				if _, err := Generate(context.Background(), cfg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestProgressCallback(t *testing.T) {
	for _, c := range []struct {
		users, wantCalls int
	}{{200, 1}, {9000, 3}, {chunkUsers, 1}} {
		cfg := preset(t, "tiny")
		cfg.Users = c.users
		plain, _ := mustGen(t, cfg)
		var mu sync.Mutex
		calls, sum := 0, 0
		cfg.Progress = func(users int) {
			mu.Lock()
			defer mu.Unlock()
			calls++
			sum += users
		}
		got, _ := mustGen(t, cfg)
		if calls != c.wantCalls || sum != c.users {
			t.Errorf("users %d: progress called %d times adding to %d, want %d calls adding to %d", c.users, calls, sum, c.wantCalls, c.users)
		}
		if !reflect.DeepEqual(plain, got) {
			t.Errorf("users %d: a progress callback changed the data set", c.users)
		}
	}
}

// TestDensePreset: the dense preset has the shape it promises (about 670k
// train edges over 6040 users and 3600 items after duplicates merge).
func TestDensePreset(t *testing.T) {
	ds, _ := mustGen(t, preset(t, "dense"))
	if ds.NumUsers() != 6040 || ds.NumItems() != 3600 {
		t.Fatalf("dense: %d users, %d items; want 6040, 3600", ds.NumUsers(), ds.NumItems())
	}
	if n := len(ds.Train); n < 640_000 || n > 700_000 {
		t.Fatalf("dense: %d train edges, want about 670k", n)
	}
}
