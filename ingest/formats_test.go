package ingest

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/trainerd/trainerd/dataset"
	"github.com/trainerd/trainerd/internal/testfixture"
)

// edgeSet renders edges as "user>item" with external ids.
func edgeSet(ds *dataset.Dataset, es []dataset.Interaction) []string {
	var out []string
	for _, e := range es {
		out = append(out, ds.UserIDs[e.User]+">"+ds.ItemIDs[e.Item])
	}
	slices.Sort(out)
	return out
}

func TestLightGCNLayouts(t *testing.T) {
	cases := []struct {
		name, train, test string
		users, items      []string
		trainE, testE     []string
	}{
		{"CRLF and no final newline", "0 1 2\r\n1 2\r\n2 3", "0 3\r\n",
			[]string{"0", "1", "2"}, []string{"1", "2", "3"},
			[]string{"0>1", "0>2", "1>2", "2>3"}, []string{"0>3"}},
		{"user over several lines, blank lines, tabs", "5 1\n\n5\t2  3\n\n7 1\n5 4\n", "7 9\n",
			[]string{"5", "7"}, []string{"1", "2", "3", "4", "9"},
			[]string{"5>1", "5>2", "5>3", "5>4", "7>1"}, []string{"7>9"}},
		{"user without items, ids only in test, leading zeros", "3\n1 10\n", "3 011\n8 2\n",
			[]string{"1", "3", "8"}, []string{"2", "10", "11"},
			[]string{"1>10"}, []string{"3>11", "8>2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ds, err := ParseLightGCN(context.Background(), LightGCNOptions{
				Train: writeFile(t, dir, "train.txt", tc.train), Test: writeFile(t, dir, "test.txt", tc.test)})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ds.UserIDs, tc.users) || !slices.Equal(ds.ItemIDs, tc.items) {
				t.Errorf("ids users %v items %v, want %v %v", ds.UserIDs, ds.ItemIDs, tc.users, tc.items)
			}
			if got := edgeSet(ds, ds.Train); !slices.Equal(got, tc.trainE) {
				t.Errorf("train %v, want %v", got, tc.trainE)
			}
			if got := edgeSet(ds, ds.Test); !slices.Equal(got, tc.testE) {
				t.Errorf("test %v, want %v", got, tc.testE)
			}
			if err := ds.Validate(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestCSVFeatureDerivation(t *testing.T) {
	dir := t.TempDir()
	edges := writeFile(t, dir, "e.tsv", "ts\tuser\titem\tstars\r\n"+
		"100\tu1\ti1\t5\r\n200\tu2\ti2\t3.5\r\n\"300\"\tu1\ti3\t1\r\n2024-01-02\tu3\ti1\t2\r\n")
	items := writeFile(t, dir, "items.tsv", "sku\tprice\tbrand\ttags\n"+
		"i2\t1.5\tacme\tred|big\n"+
		"i1\t\tzeta\tsmall\n"+
		"i3\t-2\tacme\t\n")
	ds, err := ParseCSV(context.Background(), CSVOptions{
		Edges: edges, ItemFeatures: items, UserCol: "user", ItemCol: "2", WeightCol: "stars", TimeCol: "ts",
		FeatureIDCol: "sku", Delimiter: '\t', Split: Split{Kind: SplitLast, LastN: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ds.UserIDs, []string{"u1", "u2", "u3"}) || !slices.Equal(ds.ItemIDs, []string{"i1", "i2", "i3"}) {
		t.Fatalf("ids %v %v", ds.UserIDs, ds.ItemIDs)
	}
	// u1 has two edges: the later one (time 300, i3, weight 1) is test.
	if len(ds.Test) != 1 || ds.ItemIDs[ds.Test[0].Item] != "i3" || ds.Test[0].Time != 300 || ds.Test[0].Weight != 1 {
		t.Errorf("test %+v", ds.Test)
	}
	if e := ds.Train[len(ds.Train)-1]; e.Time != 1704153600 || e.Weight != 2 {
		t.Errorf("date-stamped edge %+v", e)
	}
	f := ds.ItemFeatures
	wantSchema := []struct {
		name, deriv string
		labels      []string
	}{
		{"price", DerivNumeric, nil},
		{"price_missing", DerivNumeric, nil},
		{"brand", DerivOneHot, []string{"acme", "zeta"}},
		{"tags", DerivMultiHot, []string{"big", "red", "small"}},
	}
	if len(f.Schema) != len(wantSchema) {
		t.Fatalf("schema %+v", f.Schema)
	}
	for i, w := range wantSchema {
		c := f.Schema[i]
		if c.Name != w.name || c.Derivation != w.deriv || !slices.Equal(c.Labels, w.labels) {
			t.Errorf("column %d = %+v, want %+v", i, c, w)
		}
	}
	// Rows by dense id (i1, i2, i3): price, missing, brand(2), tags(3).
	want := [][]float32{
		{0, 1, 0, 1, 0, 0, 1},
		{1.5, 0, 1, 0, 1, 1, 0},
		{-2, 0, 1, 0, 0, 0, 0},
	}
	for i, w := range want {
		if got := f.Row(uint32(i)); !slices.Equal(got, w) {
			t.Errorf("item %s row %v, want %v", ds.ItemIDs[i], got, w)
		}
	}
	if err := ds.Validate(); err != nil {
		t.Error(err)
	}
}

// manyEdges makes users 0..nu-1 with 10 edges each, times 1..10.
func manyEdges(nu int) []dataset.Interaction {
	var es []dataset.Interaction
	for u := 0; u < nu; u++ {
		for k := 0; k < 10; k++ {
			// Times are out of order within a user on purpose.
			es = append(es, dataset.Interaction{User: uint32(u), Item: uint32(k), Weight: 1, Time: int64((k*7)%10 + 1)})
		}
	}
	es = append(es, dataset.Interaction{User: uint32(nu), Item: 0, Weight: 1, Time: 5}) // a single-edge user
	return es
}

func TestSplits(t *testing.T) {
	const nu = 200
	es := manyEdges(nu)
	t.Run("random ratio and determinism", func(t *testing.T) {
		s := Split{Kind: SplitRandom, TestRatio: 0.3, Seed: 7}
		tr, te, err := ApplySplit(es, nu+1, s)
		if err != nil {
			t.Fatal(err)
		}
		if len(tr)+len(te) != len(es) || len(te) != nu*3 {
			t.Fatalf("train %d test %d, want test %d", len(tr), len(te), nu*3)
		}
		perUser := map[uint32]int{}
		for _, e := range te {
			perUser[e.User]++
		}
		if perUser[nu] != 0 {
			t.Errorf("single-edge user got a test edge")
		}
		tr2, te2, _ := ApplySplit(slices.Clone(es), nu+1, s)
		if !slices.Equal(te, te2) || !slices.Equal(tr, tr2) {
			t.Errorf("same seed gave different splits")
		}
		_, te3, _ := ApplySplit(es, nu+1, Split{Kind: SplitRandom, TestRatio: 0.3, Seed: 8})
		if slices.Equal(te, te3) {
			t.Errorf("different seeds gave the same split")
		}
		// A user's split depends only on its own edges: dropping every
		// other user's edges leaves user 0's test edges unchanged.
		var only0 []dataset.Interaction
		for _, e := range es {
			if e.User == 0 {
				only0 = append(only0, e)
			}
		}
		_, te0, _ := ApplySplit(only0, nu+1, s)
		var want0 []dataset.Interaction
		for _, e := range te {
			if e.User == 0 {
				want0 = append(want0, e)
			}
		}
		if !slices.Equal(te0, want0) {
			t.Errorf("user 0 test %v alone, %v among all", te0, want0)
		}
	})
	t.Run("last-N picks the latest", func(t *testing.T) {
		tr, te, err := ApplySplit(es, nu+1, Split{Kind: SplitLast, LastN: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(te) != nu*3 || len(tr) != len(es)-nu*3 {
			t.Fatalf("train %d test %d", len(tr), len(te))
		}
		for _, e := range te {
			if e.Time < 8 {
				t.Errorf("test edge %+v is not among its user's 3 latest (times 8..10)", e)
			}
		}
		for _, e := range tr {
			if e.Time > 7 && e.User != nu {
				t.Errorf("train edge %+v should be test", e)
			}
		}
	})
	t.Run("last needs timestamps", func(t *testing.T) {
		flat := []dataset.Interaction{{User: 0, Item: 0}, {User: 0, Item: 1}}
		if _, _, err := ApplySplit(flat, 1, Split{Kind: SplitLast, LastN: 1}); err == nil {
			t.Error("no error for a last split without timestamps")
		}
	})
	t.Run("bad ratio", func(t *testing.T) {
		if _, _, err := ApplySplit(es, nu+1, Split{Kind: SplitRandom, TestRatio: 1}); err == nil {
			t.Error("ratio 1 accepted")
		}
	})
	t.Run("cold items", func(t *testing.T) {
		s := Split{Kind: SplitColdItems, ColdRatio: 0.2, Seed: 3}
		tr, te, err := ApplySplit(es, nu+1, s)
		if err != nil {
			t.Fatal(err)
		}
		if len(tr)+len(te) != len(es) || len(te) == 0 {
			t.Fatalf("train %d + test %d, want %d with some test", len(tr), len(te), len(es))
		}
		items := map[uint32]bool{}
		for _, e := range es {
			items[e.Item] = true
		}
		cold, err := ColdItems(es, s)
		if err != nil {
			t.Fatal(err)
		}
		if want := int(math.Round(0.2 * float64(len(items)))); len(cold) != want {
			t.Errorf("%d cold items of %d, want %d", len(cold), len(items), want)
		}
		isCold := map[uint32]bool{}
		for _, i := range cold {
			isCold[i] = true
		}
		for _, e := range tr {
			if isCold[e.Item] {
				t.Fatalf("train edge %+v touches cold item %d", e, e.Item)
			}
		}
		for _, e := range te {
			if !isCold[e.Item] {
				t.Fatalf("test edge %+v on warm item %d", e, e.Item)
			}
		}
		// The cold set depends on the item set and seed, not the edge order.
		rev := slices.Clone(es)
		slices.Reverse(rev)
		if c2, _ := ColdItems(rev, s); !slices.Equal(cold, c2) {
			t.Errorf("reversed edges chose %v, want %v", c2, cold)
		}
		if c3, _ := ColdItems(es, Split{Kind: SplitColdItems, ColdRatio: 0.2, Seed: 4}); slices.Equal(cold, c3) {
			t.Error("different seeds chose the same cold items")
		}
	})
	t.Run("none keeps everything in train", func(t *testing.T) {
		tr, te, err := ApplySplit(es, nu+1, Split{Kind: SplitNone})
		if err != nil || len(te) != 0 || !slices.Equal(tr, es) {
			t.Fatalf("split none: %d train %d test, %v", len(tr), len(te), err)
		}
	})
	t.Run("cold items bad input", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			es   []dataset.Interaction
			r    float64
		}{
			{"ratio 0", es, 0},
			{"ratio 1", es, 1},
			{"one item", []dataset.Interaction{{User: 0, Item: 4}, {User: 1, Item: 4}}, 0.5},
		} {
			if _, _, err := ApplySplit(tc.es, nu+1, Split{Kind: SplitColdItems, ColdRatio: tc.r, Seed: 1}); err == nil {
				t.Errorf("%s: no error", tc.name)
			}
		}
	})
}

func BenchmarkParseGowalla(b *testing.B) {
	dir := testfixture.Need(b, "gowalla")
	train, test := filepath.Join(dir, "train.txt"), filepath.Join(dir, "test.txt")
	var size int64
	for i := 0; i < b.N; i++ {
		var p Progress
		if _, err := ParseLightGCN(context.Background(), LightGCNOptions{Train: train, Test: test, Progress: &p}); err != nil {
			b.Fatal(err)
		}
		size = p.Bytes.Load()
	}
	b.SetBytes(size)
}
