package infer

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trainerd/trainerd/dataset"
	"github.com/trainerd/trainerd/featurestore"
)

// growStore copies store to a new directory and appends, through
// featurestore.Append, two new users and three new items with features:
// new user 0 rated old items 0..4 and new item 0; new item 0 was also
// rated by old users 0..4; new item 1 has the features of new item 0 and
// no edge; new item 2 only new user 1 rated. It returns the grown store.
func growStore(t *testing.T, store string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "grown")
	if err := os.CopyFS(dir, os.DirFS(store)); err != nil {
		t.Fatal(err)
	}
	s, err := featurestore.Open(dir, featurestore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	us, is := s.Schema(dataset.User), s.Schema(dataset.Item)
	oldUsers, err := s.IDs(dataset.User)
	if err != nil {
		t.Fatal(err)
	}
	oldItems, err := s.IDs(dataset.Item)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	add := &dataset.Dataset{Name: "grow",
		UserIDs: append([]string{"new-u0", "new-u1"}, oldUsers[:5]...),
		ItemIDs: append([]string{"new-i0", "new-i1", "new-i2"}, oldItems[:5]...)}
	feat := func(schema dataset.Schema, n int, seed float32) *dataset.Features {
		f := &dataset.Features{Schema: schema, Data: make([]float32, n*schema.Dim())}
		for i := range f.Data {
			f.Data[i] = float32(math.Sin(float64(seed + float32(i))))
		}
		return f
	}
	add.UserFeatures = feat(us, len(add.UserIDs), 1)
	add.ItemFeatures = feat(is, len(add.ItemIDs), 2)
	copy(add.ItemFeatures.Row(1), add.ItemFeatures.Row(0)) // new-i1 looks like new-i0
	for k := 0; k < 5; k++ {
		add.Train = append(add.Train,
			dataset.Interaction{User: 0, Item: uint32(3 + k), Weight: 1}, // new-u0 → old item k
			dataset.Interaction{User: uint32(2 + k), Item: 0, Weight: 1}) // old user k → new-i0
	}
	add.Train = append(add.Train, dataset.Interaction{User: 0, Item: 0, Weight: 1}, dataset.Interaction{User: 1, Item: 2, Weight: 1})
	if _, err := featurestore.Append(context.Background(), dir, add); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestGrownStore: a features-only PinSage run opens a store grown from its
// own by Append, reports the old counts, and embeds the new nodes with the
// trained weights from their features and neighbourhoods in the grown
// graph; a model with id tables is refused with a message naming why.
func TestGrownStore(t *testing.T) {
	store := genStore(t, 0, 0, 0)
	grown := growStore(t, store)
	cfg := loadCfg(t, append(slices.Clone(pinsageSets), "model.inputs=features")...)
	run := trainRun(t, cfg, store)

	base, err := Open(Options{Config: cfg, RunDir: run, StoreDir: store})
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	if _, ok := base.GrownFrom(); ok {
		t.Error("the run's own store reported as grown")
	}
	m, err := Open(Options{Config: cfg, RunDir: run, StoreDir: grown})
	if err != nil {
		t.Fatalf("Open over the grown store: %v", err)
	}
	defer m.Close()
	a, ok := m.GrownFrom()
	nu, ni := base.NumUsers(), base.NumItems()
	if !ok || a.Users != nu || a.Items != ni || m.NumUsers() != nu+2 || m.NumItems() != ni+3 {
		t.Fatalf("GrownFrom %+v %v, counts %d×%d; want %d×%d grown to %d×%d", a, ok, m.NumUsers(), m.NumItems(), nu, ni, nu+2, ni+3)
	}
	ctx := context.Background()
	U := uint32(m.NumUsers())
	item := func(i int) uint32 { return U + uint32(ni+i) }
	nodes := []uint32{uint32(nu), uint32(nu + 1), item(0), item(1), item(2)}
	z, dim, err := m.Embed(ctx, nodes)
	if err != nil {
		t.Fatal(err)
	}
	row := func(r int) []float32 { return z[r*dim : (r+1)*dim] }
	for r := range nodes {
		var n float64
		for _, v := range row(r) {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("new node %d has a non-finite embedding %v", nodes[r], row(r))
			}
			n += float64(v) * float64(v)
		}
		if n < 1e-6 {
			t.Errorf("new node %d embeds to zero", nodes[r])
		}
	}
	// new-i0 and new-i1 share features; only new-i0 has neighbours, so the
	// neighbourhood is used.
	if slices.Equal(row(2), row(3)) {
		t.Error("new items with equal features and different neighbourhoods embed equally: the neighbourhood is not used")
	}
	// With similar cold neighbours new-i1 (no edges) takes the
	// neighbourhood of new-i0, whose features it shares: equal embeddings.
	sim, err := Open(Options{Config: cfg, RunDir: run, StoreDir: grown, ColdNeighbors: ColdNeighborsSimilar})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	zs, _, err := sim.Embed(ctx, []uint32{item(0), item(1)})
	if err != nil {
		t.Fatal(err)
	}
	for j := 0; j < dim; j++ {
		if math.Abs(float64(zs[j]-zs[dim+j])) > 1e-5 {
			t.Fatalf("similar cold neighbours: new-i1 %v, want new-i0's %v", zs[dim:], zs[:dim])
		}
	}
	if _, err := Open(Options{Config: cfg, RunDir: run, StoreDir: grown, ColdNeighbors: "nearest"}); err == nil || !strings.Contains(err.Error(), "want none or similar") {
		t.Errorf("unknown cold neighbours: %v", err)
	}

	mf := loadCfg(t, mfSets...)
	mfRun := trainRun(t, mf, store)
	if _, err := Open(Options{Config: mf, RunDir: mfRun, StoreDir: grown}); err == nil || !strings.Contains(err.Error(), "cannot embed the new nodes") {
		t.Fatalf("MF over a grown store: %v; want a refusal naming the new nodes", err)
	}
}

// TestGrownStoreBothInputs: PinSage with inputs both over a grown store
// keeps the trained id rows of old nodes, gives new nodes zero id rows and
// embeds them from features and neighbourhoods; inputs id is refused.
func TestGrownStoreBothInputs(t *testing.T) {
	store := genStore(t, 0, 0, 0)
	grown := growStore(t, store)
	cfg := loadCfg(t, append(slices.Clone(pinsageSets), "model.inputs=both")...)
	run := trainRun(t, cfg, store)
	base, err := Open(Options{Config: cfg, RunDir: run, StoreDir: store})
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	m, err := Open(Options{Config: cfg, RunDir: run, StoreDir: grown})
	if err != nil {
		t.Fatalf("Open over the grown store: %v", err)
	}
	defer m.Close()
	emb := func(mm *Model) []float32 {
		for _, ts := range mm.model.State() {
			if ts.Name == "param/emb" {
				return ts.Data
			}
		}
		t.Fatal("no param/emb in the state")
		return nil
	}
	old, grownEmb := emb(base), emb(m)
	nu, ni, d := base.NumUsers(), base.NumItems(), len(old)/(base.NumUsers()+base.NumItems())
	U := nu + 2
	if len(grownEmb) != (U+ni+3)*d {
		t.Fatalf("grown id table has %d values, want %d", len(grownEmb), (U+ni+3)*d)
	}
	if !slices.Equal(grownEmb[:nu*d], old[:nu*d]) || !slices.Equal(grownEmb[U*d:(U+ni)*d], old[nu*d:]) {
		t.Error("old id rows moved or changed")
	}
	for _, r := range [][2]int{{nu, U}, {U + ni, U + ni + 3}} {
		for _, v := range grownEmb[r[0]*d : r[1]*d] {
			if v != 0 {
				t.Fatalf("new nodes %d..%d have non-zero id rows", r[0], r[1])
			}
		}
	}
	z, dim, err := m.Embed(context.Background(), []uint32{uint32(U + ni), uint32(U + ni + 1)})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(z[:dim], z[dim:]) {
		t.Error("new items with equal features and different neighbourhoods embed equally")
	}
	idCfg := loadCfg(t, append(slices.Clone(pinsageSets), "model.inputs=id")...)
	idRun := trainRun(t, idCfg, store)
	if _, err := Open(Options{Config: idCfg, RunDir: idRun, StoreDir: grown}); err == nil || !strings.Contains(err.Error(), "cannot embed the new nodes") {
		t.Fatalf("inputs id over a grown store: %v; want a refusal", err)
	}
}
