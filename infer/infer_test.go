package infer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/trainerd/trainerd/internal/teststore"

	"github.com/trainerd/trainerd/checkpoints"
	"github.com/trainerd/trainerd/config"
	"github.com/trainerd/trainerd/export"
	"github.com/trainerd/trainerd/gen"
	"github.com/trainerd/trainerd/trainer"
)

// genStore commits a generated data set (the tiny preset resized to users ×
// items when they are > 0) into a temp store.
func genStore(t *testing.T, users, items, edges int) string {
	t.Helper()
	cfg, err := gen.Preset("tiny")
	if err != nil {
		t.Fatal(err)
	}
	if users > 0 {
		cfg.Users, cfg.Items, cfg.Edges = users, items, edges
	}
	return teststore.Generate(t, cfg)
}

func loadCfg(t *testing.T, sets ...string) *config.Config {
	t.Helper()
	base := []string{"train.device=cpu", "http.addr=127.0.0.1:0", "producer.batch_size=128",
		"producer.negatives.pool_size=50", "producer.neighbors.t=5", "producer.walk.steps=30",
		"producer.hard.rank_lo=20", "producer.hard.rank_hi=100", "model.dim=8", "train.eval_every=0"}
	cfg, err := config.Load("", append(base, sets...))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// trainRun trains cfg on store and returns the run directory.
func trainRun(t *testing.T, cfg *config.Config, store string) string {
	t.Helper()
	run := t.TempDir()
	var out bytes.Buffer
	if _, err := trainer.Run(context.Background(), trainer.Options{Config: cfg, StoreDir: store, RunDir: run, Out: &out}); err != nil {
		t.Fatalf("train: %v\n%s", err, out.String())
	}
	return run
}

var (
	mfSets      = []string{"model.name=mf", "model.loss=bpr", "model.lr=0.01", "producer.layers=0", "train.epochs=2"}
	pinsageSets = []string{"model.name=pinsage", "model.loss=margin", "model.layers=2", "producer.layers=2",
		"model.hidden=8", "train.epochs=1"}
)

// runShards runs shards 0..n-1 of m into a fresh directory and merges.
func runShards(t *testing.T, m *Model, n int) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	for i := 0; i < n; i++ {
		if _, err := m.RunShard(context.Background(), out, Shard{Index: i, Count: n}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Merge(out); err != nil {
		t.Fatal(err)
	}
	return out
}

func sameBits(a, b []float32) (int, bool) {
	if len(a) != len(b) {
		return -1, false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i, false
		}
	}
	return 0, true
}

// TestShardsEqualExport: for MF and PinSage, on the tiny preset and (for
// PinSage, whose shards fall on 1024-node chunks) on a store of several
// chunks, N = 1, 3 and 16 shards merged equal the embeddings training wrote
// (what `trainerd export` exports) bit for bit, with the same id maps and
// fingerprint.
func TestShardsEqualExport(t *testing.T) {
	tiny := genStore(t, 0, 0, 0)
	cases := []struct {
		name   string
		store  string
		sets   []string
		counts []int
	}{
		{"mf/tiny", tiny, mfSets, []int{1, 3, 16}},
		{"mf/tiny/no-validation", tiny, append(slices.Clone(mfSets), "train.validation.fraction=0"), []int{3}},
		{"pinsage/tiny", tiny, pinsageSets, []int{1, 3, 16}},
		// a cosine over the whole run: the trainer hashes its resolved steps
		{"pinsage/tiny/run-relative-schedule", tiny, append(slices.Clone(pinsageSets), "model.lr_schedule=cosine", "model.warmup_epochs=0.5"), []int{3}},
		{"pinsage/3-chunks", genStore(t, 1300, 1500, 9000), pinsageSets, []int{3, 16}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := loadCfg(t, tc.sets...)
			run := trainRun(t, cfg, tc.store)
			for _, which := range []string{CheckpointBest, CheckpointLatest} {
				dir := run // latest, and best for a run without a validation split
				if _, err := trainer.ReadBest(run); err == nil && which == CheckpointBest {
					dir = filepath.Join(run, trainer.BestDir)
				}
				want, err := export.Load(dir)
				if err != nil {
					t.Fatal(err)
				}
				m, err := Open(Options{Config: cfg, RunDir: run, StoreDir: tc.store, Checkpoint: which})
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				for _, n := range tc.counts {
					out := runShards(t, m, n)
					got, man, err := Read(out)
					if err != nil {
						t.Fatal(err)
					}
					if i, ok := sameBits(got.Users, want.Users); !ok {
						t.Errorf("%s N=%d: users differ from %s at value %d (%d vs %d values)", which, n, export.Dir(dir), i, len(got.Users), len(want.Users))
					}
					if i, ok := sameBits(got.Items, want.Items); !ok {
						t.Errorf("%s N=%d: items differ from %s at value %d", which, n, export.Dir(dir), i)
					}
					if !slices.Equal(got.UserIDs, want.UserIDs) || !slices.Equal(got.ItemIDs, want.ItemIDs) {
						t.Errorf("%s N=%d: id maps differ from the run's", which, n)
					}
					if got.Dim != want.Dim || got.Fingerprint != want.Fingerprint || man.Count != n {
						t.Errorf("%s N=%d: dim %d fingerprint %s shards %d; want dim %d fingerprint %s", which, n, got.Dim, got.Fingerprint, man.Count, want.Dim, want.Fingerprint)
					}
					nonEmpty := 0
					for _, sm := range man.Shards {
						if sm.Nodes.Len() > 0 {
							nonEmpty++
						}
					}
					t.Logf("%s N=%d: %d non-empty shards, chunk %d, checkpoint %s", which, n, nonEmpty, m.Chunk(), m.Checkpoint().Path)
					if tc.name == "pinsage/3-chunks" && nonEmpty < 3 {
						t.Errorf("N=%d: only %d shards hold nodes; the store was sized for 3 chunks", n, nonEmpty)
					}
				}
			}
		})
	}
}

func TestParseShard(t *testing.T) {
	tests := []struct {
		in      string
		want    Shard
		wantErr string
	}{
		{"0/1", Shard{0, 1}, ""},
		{"15/16", Shard{15, 16}, ""},
		{"3", Shard{}, "not i/N"},
		{"", Shard{}, "not i/N"},
		{"a/b", Shard{}, "integers"},
		{"1/x", Shard{}, "integers"},
		{"3/3", Shard{}, "outside 0..2"},
		{"-1/3", Shard{}, "outside 0..2"},
		{"0/0", Shard{}, "between 1 and"},
		{"0/100000", Shard{}, "between 1 and"},
		{"1/2/3", Shard{}, "integers"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseShard(tc.in)
			if tc.wantErr == "" {
				if err != nil || got != tc.want {
					t.Fatalf("ParseShard(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrShardSpec) || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), tc.in) {
				t.Fatalf("ParseShard(%q) error %v; want ErrShardSpec naming the input and %q", tc.in, err, tc.wantErr)
			}
		})
	}
}

func TestNodeRangeTiles(t *testing.T) {
	for _, tc := range []struct{ n, chunk, count int }{{0, 1, 3}, {500, 1, 16}, {500, 1024, 3}, {5000, 1024, 3}, {5000, 1024, 7}, {7, 1, 7}, {3, 1, 5}} {
		next := 0
		for i := 0; i < tc.count; i++ {
			r := NodeRange(tc.n, tc.chunk, Shard{i, tc.count})
			if r.Lo != next || r.Hi < r.Lo || (r.Lo%tc.chunk != 0 && r.Lo != tc.n) {
				t.Fatalf("n=%d chunk=%d shard %d/%d: %v after %d", tc.n, tc.chunk, i, tc.count, r, next)
			}
			next = r.Hi
		}
		if next != tc.n {
			t.Fatalf("n=%d chunk=%d count=%d: shards end at %d", tc.n, tc.chunk, tc.count, next)
		}
	}
}

func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var tmp []string
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			tmp = append(tmp, e.Name())
		}
	}
	return tmp
}

// TestShardRerunAtomic: rerunning a shard replaces it with identical bytes
// and leaves no temp files; a shard whose write fails loses its manifest
// (Merge names it missing) and leaves no temp files; a rerun repairs it.
// Merge refuses mixed shard counts, and a config or store that differs from
// the checkpoint's is refused naming the field.
func TestShardRerunAtomic(t *testing.T) {
	store := genStore(t, 0, 0, 0)
	cfg := loadCfg(t, mfSets...)
	run := trainRun(t, cfg, store)
	m, err := Open(Options{Config: cfg, RunDir: run, StoreDir: store})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	out := runShards(t, m, 3)
	s1 := Shard{1, 3}
	files := []string{"users-00001-of-00003.npy", "items-00001-of-00003.npy", "users-00001-of-00003.tsv", ShardManifestName(s1)}
	before := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		before[f] = b
	}
	if _, err := m.RunShard(ctx, out, s1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Read(out); err == nil || !strings.Contains(err.Error(), "--merge") {
		t.Fatalf("Read after a shard was rewritten: %v; want the merged manifest gone", err)
	}
	for _, f := range files {
		b, _ := os.ReadFile(filepath.Join(out, f))
		if !bytes.Equal(b, before[f]) {
			t.Errorf("rerun changed %s", f)
		}
	}
	if tmp := tempFiles(t, out); len(tmp) > 0 {
		t.Fatalf("temp files left: %v", tmp)
	}
	// A directory where the items matrix goes makes the rename fail.
	items := filepath.Join(out, "items-00001-of-00003.npy")
	if err := os.Remove(items); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(items, "block"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := m.RunShard(ctx, out, s1); err == nil {
		t.Fatal("RunShard over a directory: want an error")
	}
	if _, err := os.Stat(filepath.Join(out, ShardManifestName(s1))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("failed shard's manifest: %v; want it removed", err)
	}
	if tmp := tempFiles(t, out); len(tmp) > 0 {
		t.Fatalf("temp files left after a failed shard: %v", tmp)
	}
	if _, err := Merge(out); err == nil || !strings.Contains(err.Error(), "missing 1 of 3 shards (indices 1)") {
		t.Fatalf("Merge with shard 1 failed: %v", err)
	}
	os.RemoveAll(items)
	if _, err := m.RunShard(ctx, out, s1); err != nil {
		t.Fatal(err)
	}
	if _, err := Merge(out); err != nil {
		t.Fatal(err)
	}
	// A stale shard of another count.
	if _, err := m.RunShard(ctx, out, Shard{0, 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := Merge(out); err == nil || !strings.Contains(err.Error(), "mixes shard counts") {
		t.Fatalf("Merge with mixed counts: %v", err)
	}
	if _, err := m.RunShard(ctx, out, Shard{3, 3}); !errors.Is(err, ErrShardSpec) {
		t.Fatalf("RunShard 3/3: %v; want ErrShardSpec", err)
	}

	other := loadCfg(t, append(slices.Clone(mfSets), "model.lr=0.02")...)
	if _, err := Open(Options{Config: other, RunDir: run, StoreDir: store}); !errors.Is(err, checkpoints.ErrIncompatible) || !strings.Contains(err.Error(), "config_hash") {
		t.Fatalf("Open with another config: %v; want ErrIncompatible naming config_hash", err)
	}
	otherStore := genStore(t, 250, 300, 3000)
	if _, err := Open(Options{Config: cfg, RunDir: run, StoreDir: otherStore}); !errors.Is(err, checkpoints.ErrIncompatible) || !strings.Contains(err.Error(), "fingerprint") {
		t.Fatalf("Open with another store: %v; want ErrIncompatible naming fingerprint", err)
	}
	if _, err := Open(Options{Config: cfg, RunDir: t.TempDir(), StoreDir: store}); !errors.Is(err, checkpoints.ErrNoCheckpoint) {
		t.Fatalf("Open of an empty run: %v; want ErrNoCheckpoint", err)
	}
}

// TestTopK: every shard's top-K lists are each user's k best non-train
// items under float64 inner products (to float32 rounding), best first,
// padded with -1 when k exceeds the candidates; the manifest records them.
func TestTopK(t *testing.T) {
	store := genStore(t, 0, 0, 0)
	cfg := loadCfg(t, mfSets...)
	run := trainRun(t, cfg, store)
	m, err := Open(Options{Config: cfg, RunDir: run, StoreDir: store})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	out := filepath.Join(t.TempDir(), "out")
	n := 3
	if _, err := m.RunShard(ctx, out, Shard{0, n}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.TopKShard(ctx, out, Shard{0, n}, 5); err == nil || !strings.Contains(err.Error(), "missing 2 of 3") {
		t.Fatalf("top-k before every shard exists: %v", err)
	}
	for i := 1; i < n; i++ {
		if _, err := m.RunShard(ctx, out, Shard{i, n}); err != nil {
			t.Fatal(err)
		}
	}
	emb, err := export.Load(run)
	if err != nil {
		t.Fatal(err)
	}
	d, ni := emb.Dim, emb.NumItems()
	for _, k := range []int{10, ni + 7} {
		for i := 0; i < n; i++ {
			sm, err := m.TopKShard(ctx, out, Shard{i, n}, k)
			if err != nil {
				t.Fatal(err)
			}
			if sm.TopK == nil || sm.TopK.K != k {
				t.Fatalf("shard %d manifest top-k %+v", i, sm.TopK)
			}
			ids := readInt32NPY(t, filepath.Join(out, sm.TopK.Items), sm.Users.Rows, k)
			scores, err := readMatrix(filepath.Join(out, sm.TopK.Scores), sm.Users.Rows, k)
			if err != nil {
				t.Fatal(err)
			}
			for r := 0; r < sm.Users.Rows; r++ {
				u := sm.Users.First + r
				train := m.train.ItemsOf(uint32(u))
				type cand struct {
					item int
					s    float64
				}
				var all []cand
				for it := 0; it < ni; it++ {
					if _, found := slices.BinarySearch(train, uint32(it)); found {
						continue
					}
					var s float64
					for c := 0; c < d; c++ {
						s += float64(emb.Users[u*d+c]) * float64(emb.Items[it*d+c])
					}
					all = append(all, cand{it, s})
				}
				sort.Slice(all, func(a, b int) bool { return all[a].s > all[b].s })
				row, srow := ids[r*k:(r+1)*k], scores[r*k:(r+1)*k]
				for j := 0; j < k; j++ {
					if j >= len(all) {
						if row[j] != -1 || !math.IsInf(float64(srow[j]), -1) {
							t.Fatalf("user %d slot %d past %d candidates: %d %v; want -1 -Inf", u, j, len(all), row[j], srow[j])
						}
						continue
					}
					if math.Abs(float64(srow[j])-all[j].s) > 1e-5*(1+math.Abs(all[j].s)) {
						t.Fatalf("user %d slot %d: score %v, the %d-th best non-train item scores %v", u, j, srow[j], j, all[j].s)
					}
					if _, found := slices.BinarySearch(train, uint32(row[j])); found || row[j] < 0 || int(row[j]) >= ni {
						t.Fatalf("user %d slot %d: item %d is a train item or out of range", u, j, row[j])
					}
				}
			}
		}
	}
}

func readInt32NPY(t *testing.T, path string, rows, cols int) []int32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h := export.NPYHeader(rows, cols)
	want := bytes.Replace(h, []byte("<f4"), []byte("<i4"), 1)
	if !bytes.HasPrefix(b, want) || len(b) != len(h)+4*rows*cols {
		t.Fatalf("%s: header or length wrong (%d bytes)", path, len(b))
	}
	out := make([]int32, rows*cols)
	r := bytes.NewReader(b[len(h):])
	for i := range out {
		var x [4]byte
		if _, err := io.ReadFull(r, x[:]); err != nil {
			t.Fatal(err)
		}
		out[i] = int32(uint32(x[0]) | uint32(x[1])<<8 | uint32(x[2])<<16 | uint32(x[3])<<24)
	}
	return out
}
