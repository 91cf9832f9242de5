package featurestore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/trainerd/trainerd/dataset"
	"github.com/trainerd/trainerd/graph"
	"github.com/trainerd/trainerd/internal/testfixture"
)

// testDataset builds a random data set; dims 0 means no features.
func testDataset(seed uint64, users, items, train, test, userDim, itemDim int, weighted bool) *dataset.Dataset {
	r := rand.New(rand.NewPCG(seed, 7))
	ds := &dataset.Dataset{Name: fmt.Sprintf("test-%d", seed)}
	for u := range users {
		ds.UserIDs = append(ds.UserIDs, fmt.Sprintf("user-%d", u*3+1))
	}
	for i := range items {
		ds.ItemIDs = append(ds.ItemIDs, fmt.Sprintf("item/%x", i*7))
	}
	mk := func(n int) []dataset.Interaction {
		es := make([]dataset.Interaction, n)
		for k := range es {
			es[k] = dataset.Interaction{User: uint32(r.IntN(users)), Item: uint32(r.IntN(items)), Weight: 1}
			if weighted {
				es[k].Weight = r.Float32() * 5
				es[k].Time = 1_600_000_000 + r.Int64N(1_000_000) - 500_000
			}
		}
		return es
	}
	ds.Train, ds.Test = mk(train), mk(test)
	feat := func(n, dim int) *dataset.Features {
		if dim == 0 {
			return nil
		}
		f := &dataset.Features{Schema: dataset.Schema{
			{Name: "a", Dim: dim - 1, Derivation: "generated"},
			{Name: "b", Dim: 1, Derivation: "numeric"},
		}, Data: make([]float32, n*dim)}
		for i := range f.Data {
			f.Data[i] = float32(r.NormFloat64())
		}
		return f
	}
	ds.UserFeatures, ds.ItemFeatures = feat(users, userDim), feat(items, itemDim)
	return ds
}

type opener func(t *testing.T, ds *dataset.Dataset) *Store

func openMem(t *testing.T, ds *dataset.Dataset) *Store {
	t.Helper()
	s, err := OpenMemory(ds)
	if err != nil {
		t.Fatalf("OpenMemory: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openDisk(t *testing.T, ds *dataset.Dataset) *Store {
	return openDiskWith(t, ds, Options{ReadOnly: true})
}

func openDiskNoCache(t *testing.T, ds *dataset.Dataset) *Store {
	return openDiskWith(t, ds, Options{FeatureCacheBytes: -1})
}

func openDiskWith(t *testing.T, ds *dataset.Dataset, opts Options) *Store {
	t.Helper()
	dir := t.TempDir()
	sum, err := Commit(context.Background(), dir, ds)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if sum.Users != ds.NumUsers() || sum.TrainEdges != len(ds.Train) || sum.BytesOnDisk <= 0 {
		t.Fatalf("summary %+v does not match data set", sum)
	}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestRoundTrip(t *testing.T) {
	datasets := []struct {
		name string
		ds   *dataset.Dataset
	}{
		{"tiny-no-features", testDataset(1, 3, 2, 4, 1, 0, 0, false)},
		{"features-both", testDataset(2, 50, 80, 400, 100, 5, 3, false)},
		{"item-features-weighted", testDataset(3, 40, 30, 300, 0, 0, 8, true)},
		// More than one id, adjacency and interaction block.
		{"multi-block", testDataset(4, IDBlock+AdjBlock+17, 2*AdjBlock+3, InteractionBlock+999, 1234, 4, 2, true)},
	}
	openers := []struct {
		name string
		open opener
	}{{"memory", openMem}, {"disk", openDisk}, {"disk-nocache", openDiskNoCache}}
	for _, d := range datasets {
		for _, o := range openers {
			t.Run(d.name+"/"+o.name, func(t *testing.T) {
				ds := d.ds
				s := o.open(t, ds)
				checkStore(t, s, ds)
			})
		}
	}
}

func checkStore(t *testing.T, s *Store, ds *dataset.Dataset) {
	t.Helper()
	st := s.Stats()
	dim := func(f *dataset.Features) int {
		if f == nil {
			return 0
		}
		return f.Schema.Dim()
	}
	if st.Name != ds.Name || st.Users != ds.NumUsers() || st.Items != ds.NumItems() ||
		st.TrainEdges != len(ds.Train) || st.TestEdges != len(ds.Test) ||
		st.UserFeatureDim != dim(ds.UserFeatures) || st.ItemFeatureDim != dim(ds.ItemFeatures) ||
		st.FormatVersion != FormatVersion {
		t.Fatalf("stats %+v do not match data set", st)
	}
	if got, want := s.Fingerprint(), DatasetFingerprint(ds); got != want || len(got) != 64 {
		t.Fatalf("fingerprint %q, want %q", got, want)
	}
	for _, side := range []struct {
		t   dataset.NodeType
		ids []string
		f   *dataset.Features
	}{{dataset.User, ds.UserIDs, ds.UserFeatures}, {dataset.Item, ds.ItemIDs, ds.ItemFeatures}} {
		ids, err := s.IDs(side.t)
		if err != nil || !reflect.DeepEqual(ids, side.ids) {
			t.Fatalf("IDs(%s) = %d ids, err %v; want %d", side.t, len(ids), err, len(side.ids))
		}
		for _, d := range []int{0, len(side.ids) / 2, len(side.ids) - 1} {
			ext, err := s.ExternalID(side.t, uint32(d))
			if err != nil || ext != side.ids[d] {
				t.Fatalf("ExternalID(%s,%d) = %q, %v; want %q", side.t, d, ext, err, side.ids[d])
			}
			got, err := s.DenseID(side.t, side.ids[d])
			if err != nil || got != uint32(d) {
				t.Fatalf("DenseID(%s,%q) = %d, %v; want %d", side.t, side.ids[d], got, err, d)
			}
		}
		var wantSchema dataset.Schema
		var wantMat []float32
		if side.f != nil {
			wantSchema, wantMat = side.f.Schema, side.f.Data
		}
		if got := s.Schema(side.t); !reflect.DeepEqual(got, wantSchema) {
			t.Fatalf("Schema(%s) = %+v, want %+v", side.t, got, wantSchema)
		}
		mat, err := s.FeatureMatrix(side.t)
		if err != nil || !reflect.DeepEqual(mat, wantMat) {
			t.Fatalf("FeatureMatrix(%s): err %v, equal %v", side.t, err, reflect.DeepEqual(mat, wantMat))
		}
		if side.f != nil {
			dim := side.f.Schema.Dim()
			r := rand.New(rand.NewPCG(9, 9))
			ids := make([]uint32, 37)
			for i := range ids {
				ids[i] = uint32(r.IntN(len(side.ids)))
			}
			ids[0] = uint32(len(side.ids) - 1)
			dst := make([]float32, len(ids)*dim)
			if err := s.FetchFeatures(side.t, ids, dst); err != nil {
				t.Fatalf("FetchFeatures(%s): %v", side.t, err)
			}
			for i, id := range ids {
				if !reflect.DeepEqual(dst[i*dim:(i+1)*dim], side.f.Row(id)) {
					t.Fatalf("FetchFeatures(%s) row %d (id %d) = %v, want %v", side.t, i, id, dst[i*dim:(i+1)*dim], side.f.Row(id))
				}
			}
			// The same ids into rows of a wider matrix, in reverse order.
			stride, off := dim+3, 2
			rows := make([]int32, len(ids))
			for k := range rows {
				rows[k] = int32(len(ids) - 1 - k)
			}
			wide := make([]float32, len(ids)*stride)
			for i := range wide {
				wide[i] = -7
			}
			if err := s.FetchFeatureRows(side.t, ids, wide, rows, stride, off); err != nil {
				t.Fatalf("FetchFeatureRows(%s): %v", side.t, err)
			}
			for k, id := range ids {
				row := wide[int(rows[k])*stride : int(rows[k]+1)*stride]
				if !reflect.DeepEqual(row[off:off+dim], side.f.Row(id)) {
					t.Fatalf("FetchFeatureRows(%s) id %d in row %d = %v, want %v", side.t, id, rows[k], row[off:off+dim], side.f.Row(id))
				}
				for c, v := range row {
					if (c < off || c >= off+dim) && v != -7 {
						t.Fatalf("FetchFeatureRows(%s) wrote column %d of row %d outside [%d,%d)", side.t, c, rows[k], off, off+dim)
					}
				}
			}
		}
	}
	for _, sp := range []struct {
		name string
		want []dataset.Interaction
	}{{"train", ds.Train}, {"test", ds.Test}} {
		got, err := s.Interactions(sp.name)
		if err != nil {
			t.Fatalf("Interactions(%s): %v", sp.name, err)
		}
		if len(got) != len(sp.want) || (len(got) > 0 && !reflect.DeepEqual(got, sp.want)) {
			t.Fatalf("Interactions(%s): %d interactions, want %d (or content differs)", sp.name, len(got), len(sp.want))
		}
	}
	g, err := s.LoadGraph()
	if err != nil {
		t.Fatalf("LoadGraph: %v", err)
	}
	edges := make([]graph.Edge, len(ds.Train))
	for i, e := range ds.Train {
		edges[i] = graph.Edge{User: e.User, Item: e.Item}
	}
	want, _ := graph.Build(ds.NumUsers(), ds.NumItems(), edges)
	if !reflect.DeepEqual(g, want) {
		t.Fatalf("LoadGraph differs from graph.Build (%d vs %d edges)", g.NumEdges(), want.NumEdges())
	}
	if st.GraphEdges != want.NumEdges() {
		t.Fatalf("GraphEdges %d, want %d", st.GraphEdges, want.NumEdges())
	}
}

func TestUnknownID(t *testing.T) {
	ds := testDataset(5, 10, 20, 50, 5, 3, 2, false)
	s := openMem(t, ds)
	cases := []struct {
		name string
		call func() error
		want error
	}{
		{"fetch user out of range", func() error { return s.FetchFeatures(dataset.User, []uint32{1, 10}, make([]float32, 6)) }, ErrUnknownID},
		{"fetch item out of range", func() error { return s.FetchFeatures(dataset.Item, []uint32{20}, make([]float32, 2)) }, ErrUnknownID},
		{"external id out of range", func() error { _, err := s.ExternalID(dataset.Item, 20); return err }, ErrUnknownID},
		{"dense id unknown", func() error { _, err := s.DenseID(dataset.User, "nobody"); return err }, ErrUnknownID},
		{"dense id of other type", func() error { _, err := s.DenseID(dataset.User, ds.ItemIDs[0]); return err }, ErrUnknownID},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(); !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
	if err := s.FetchFeatures(dataset.User, []uint32{1}, make([]float32, 2)); err == nil || errors.Is(err, ErrUnknownID) {
		t.Fatalf("wrong dst length: err = %v, want a size error", err)
	}
	// FetchFeatureRows: dim 3 user rows into a stride-5 matrix of 2 rows.
	for _, c := range []struct {
		name        string
		ids         []uint32
		rows        []int32
		stride, off int
		want        string
	}{
		{"row past the end", []uint32{1}, []int32{2}, 5, 0, "outside dst"},
		{"negative row", []uint32{1}, []int32{-1}, 5, 0, "outside dst"},
		{"offset past the stride", []uint32{1}, []int32{0}, 5, 3, "outside stride"},
		{"rows and ids differ", []uint32{1, 2}, []int32{0}, 5, 0, "1 rows for 2 ids"},
		{"unknown id", []uint32{10}, []int32{0}, 5, 0, "unknown"},
	} {
		dst := make([]float32, 10)
		err := s.FetchFeatureRows(dataset.User, c.ids, dst, c.rows, c.stride, c.off)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("FetchFeatureRows %s: err = %v, want %q", c.name, err, c.want)
		}
		for _, v := range dst {
			if v != 0 {
				t.Fatalf("FetchFeatureRows %s wrote dst before failing", c.name)
			}
		}
	}
	if _, err := s.Interactions("valid"); err == nil {
		t.Fatal("Interactions(valid): want an error")
	}
}

// countdownCtx reports cancellation after its first n Err calls, so a
// Commit can be cancelled deterministically half-way through.
type countdownCtx struct {
	context.Context
	left atomic.Int64
}

func (c *countdownCtx) Err() error {
	if c.left.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

func listDir(t *testing.T, dir string) (versions, staging []string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		switch {
		case strings.HasPrefix(e.Name(), versionPrefix):
			versions = append(versions, e.Name())
		case strings.HasPrefix(e.Name(), stagingPrefix), strings.HasPrefix(e.Name(), currentFile+".tmp"):
			staging = append(staging, e.Name())
		}
	}
	return versions, staging
}

func TestCommitAtomicity(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrNoDataset) {
		t.Fatalf("Open(empty) = %v, want ErrNoDataset", err)
	}
	first := testDataset(10, 300, 200, 3000, 300, 4, 4, false)
	if _, err := Commit(context.Background(), dir, first); err != nil {
		t.Fatal(err)
	}
	second := testDataset(11, 5000, 300, InteractionBlock+10, 300, 4, 4, true)
	bad := testDataset(12, 30, 20, 100, 10, 0, 0, false)
	bad.Train[3].Item = 999 // fails Validate

	cases := []struct {
		name string
		ctx  func() context.Context
		ds   *dataset.Dataset
	}{
		{"invalid dataset", context.Background, bad},
		{"cancelled before start", func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, second},
		{"cancelled after 1 check", func() context.Context {
			c := &countdownCtx{Context: context.Background()}
			c.left.Store(2)
			return c
		}, second},
		{"cancelled mid-way", func() context.Context {
			c := &countdownCtx{Context: context.Background()}
			c.left.Store(5)
			return c
		}, second},
		{"cancelled at the end", func() context.Context {
			// Commit checks 1 (+1 in writeDataset per block) ...; find the last check by counting.
			c := &countdownCtx{Context: context.Background()}
			c.left.Store(int64(countChecks(t, second)) - 1)
			return c
		}, second},
		{"nil dataset", context.Background, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Commit(c.ctx(), dir, c.ds); err == nil {
				t.Fatal("Commit succeeded, want an error")
			}
			versions, staging := listDir(t, dir)
			if len(versions) != 1 || len(staging) != 0 {
				t.Fatalf("after failed commit: versions %v, staging %v; want 1 version, no staging", versions, staging)
			}
			s, err := Open(dir, Options{ReadOnly: true})
			if err != nil {
				t.Fatalf("Open after failed commit: %v", err)
			}
			defer s.Close()
			checkStore(t, s, first)
		})
	}
	// A reader holding the old version keeps working across a Commit.
	old, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if _, err := Commit(context.Background(), dir, second); err != nil {
		t.Fatal(err)
	}
	versions, staging := listDir(t, dir)
	if len(versions) != 1 || len(staging) != 0 {
		t.Fatalf("after commit: versions %v, staging %v", versions, staging)
	}
	checkStore(t, old, first)
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkStore(t, s, second)
}

// countChecks counts the ctx.Err calls of a successful Commit of ds.
func countChecks(t *testing.T, ds *dataset.Dataset) int {
	t.Helper()
	c := &countdownCtx{Context: context.Background()}
	c.left.Store(1 << 40)
	if _, err := Commit(c, t.TempDir(), ds); err != nil {
		t.Fatal(err)
	}
	return int(1<<40 - c.left.Load())
}

func TestOpenErrors(t *testing.T) {
	ds := testDataset(20, 20, 20, 100, 10, 2, 0, false)
	commit := func(t *testing.T) (dir, vdir string) {
		dir = t.TempDir()
		sum, err := Commit(context.Background(), dir, ds)
		if err != nil {
			t.Fatal(err)
		}
		return dir, filepath.Join(dir, sum.Version)
	}
	// rewrite sets one key of the committed version directly.
	rewrite := func(t *testing.T, vdir string, key, val []byte) {
		db, err := badger.Open(badger.DefaultOptions(vdir).WithLoggingLevel(badger.ERROR))
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(func(txn *badger.Txn) error { return txn.Set(key, val) }); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name    string
		damage  func(t *testing.T, dir, vdir string)
		openErr error // want from Open
		loadErr error // want from LoadGraph when Open succeeds
	}{
		{"no CURRENT", func(t *testing.T, dir, _ string) { os.Remove(filepath.Join(dir, currentFile)) }, ErrNoDataset, nil},
		{"CURRENT names missing version", func(t *testing.T, dir, _ string) {
			os.WriteFile(filepath.Join(dir, currentFile), []byte("v-123\n"), 0o644)
		}, ErrCorrupt, nil},
		{"CURRENT garbage", func(t *testing.T, dir, _ string) {
			os.WriteFile(filepath.Join(dir, currentFile), []byte("../etc\n"), 0o644)
		}, ErrCorrupt, nil},
		{"future format version", func(t *testing.T, _, vdir string) { rewrite(t, vdir, keyFormat, []byte{0, 0, 0, 99}) }, ErrFormat, nil},
		{"meta not JSON", func(t *testing.T, _, vdir string) { rewrite(t, vdir, keyMeta, []byte("{")) }, ErrCorrupt, nil},
		{"adjacency checksum", func(t *testing.T, _, vdir string) {
			rewrite(t, vdir, key2N(kindAdjacency, byte(dataset.Item), 0), sealBlock(nil, []byte{1, 2, 3})[:8])
		}, nil, ErrCorrupt},
		{"adjacency out of range", func(t *testing.T, _, vdir string) {
			ptr := make([]uint32, 21)
			for i := range ptr {
				ptr[i] = 1
			}
			ptr[0] = 0
			adj := []uint32{500} // user 500 does not exist
			rewrite(t, vdir, key2N(kindAdjacency, byte(dataset.Item), 0), sealBlock(nil, encodeAdjacency(ptr, adj, 0, 1)))
		}, nil, ErrCorrupt},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, vdir := commit(t)
			c.damage(t, dir, vdir)
			s, err := Open(dir, Options{})
			if c.openErr != nil {
				if !errors.Is(err, c.openErr) {
					t.Fatalf("Open = %v, want %v", err, c.openErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			if _, err := s.LoadGraph(); !errors.Is(err, c.loadErr) {
				t.Fatalf("LoadGraph = %v, want %v", err, c.loadErr)
			}
		})
	}
}

func TestConcurrentReads(t *testing.T) {
	ds := testDataset(30, 500, 700, 5000, 100, 16, 8, false)
	s := openMem(t, ds)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			ids := make([]uint32, 64)
			dst := make([]float32, 64*8)
			for range 20 {
				for i := range ids {
					ids[i] = uint32(r.IntN(700))
				}
				if err := s.FetchFeatures(dataset.Item, ids, dst); err != nil {
					errs <- err
					return
				}
				for i, id := range ids {
					if dst[i*8] != ds.ItemFeatures.Row(id)[0] {
						errs <- fmt.Errorf("worker %d: row %d mismatch", w, id)
						return
					}
				}
			}
			if _, err := s.LoadGraph(); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// loadGowalla is the data set of gowalla/train.txt and test.txt (dense
// ids as they are in the files), skipping the test when they are absent.
func loadGowalla(t testing.TB) *dataset.Dataset {
	t.Helper()
	train := testfixture.LightGCN(t, "gowalla", "train.txt")
	test := testfixture.LightGCN(t, "gowalla", "test.txt")
	ds := &dataset.Dataset{Name: "gowalla"}
	for u := range max(train.Users, test.Users) {
		ds.UserIDs = append(ds.UserIDs, strconv.Itoa(u))
	}
	for i := range max(train.Items, test.Items) {
		ds.ItemIDs = append(ds.ItemIDs, strconv.Itoa(i))
	}
	for _, part := range []struct {
		s   *testfixture.Split
		dst *[]dataset.Interaction
	}{{train, &ds.Train}, {test, &ds.Test}} {
		for _, e := range part.s.Edges {
			*part.dst = append(*part.dst, dataset.Interaction{User: e.User, Item: e.Item, Weight: 1})
		}
	}
	return ds
}

func TestGowalla(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	ds := loadGowalla(t)
	dir := t.TempDir()
	sum, err := Commit(context.Background(), dir, ds)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("gowalla commit: %.2f s, %d bytes on disk (%.2f× the 6.0 MB text)", sum.Seconds, sum.BytesOnDisk, float64(sum.BytesOnDisk)/6005973)
	s, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st := s.Stats()
	want := Stats{Users: 29858, Items: 40981, TrainEdges: 810128, TestEdges: 217242}
	if st.Users != want.Users || st.Items != want.Items || st.TrainEdges != want.TrainEdges || st.TestEdges != want.TestEdges {
		t.Fatalf("stats %+v, want users %d items %d train %d test %d", st, want.Users, want.Items, want.TrainEdges, want.TestEdges)
	}
	g, err := s.LoadGraph()
	if err != nil {
		t.Fatal(err)
	}
	if g.NumEdges() != st.GraphEdges || g.NumUsers != want.Users {
		t.Fatalf("graph %d edges %d users; stats say %d edges", g.NumEdges(), g.NumUsers, st.GraphEdges)
	}
	test, err := s.Interactions("test")
	if err != nil || !reflect.DeepEqual(test, ds.Test) {
		t.Fatalf("test interactions differ (err %v)", err)
	}
}
