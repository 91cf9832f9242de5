package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/trainerd/trainerd/checkpoints"
	"github.com/trainerd/trainerd/config"
	"github.com/trainerd/trainerd/dataset"
	"github.com/trainerd/trainerd/export"
	"github.com/trainerd/trainerd/featurestore"
)

// evalFixture commits a 3-user, 4-item data set and writes a run directory
// whose embeddings (dim 1) rank items 0,1,2,3 for users valued 1.
//
//	u0 "alice": train {i0}, test {i1}   → top1 [i1]: hit, mrr 1
//	u1 "bob":   train {i1}, test {i3}   → ranking 0,2,3: rank 3, no hit@1
//	u2 "carol": train {i2}, no test     → skipped
//
// recall@1 = precision@1 = hit@1 = ndcg@1 = (1+0)/2 = 0.5, mrr = (1+1/3)/2.
//
// The embeddings' manifest records the store's fingerprint, as a trained
// run's does.
func evalFixture(t *testing.T) (store, run string) {
	t.Helper()
	dir := t.TempDir()
	store, run = filepath.Join(dir, "store"), filepath.Join(dir, "run")
	fp := commitFixture(t, store, fixtureDataset())
	if err := export.Save(run, &export.Embeddings{Dim: 1, Users: []float32{1, 1, 1}, Items: []float32{4, 3, 2, 1}, Fingerprint: fp}); err != nil {
		t.Fatal(err)
	}
	return store, run
}

func fixtureDataset() *dataset.Dataset {
	return &dataset.Dataset{
		Name:    "evalfix",
		UserIDs: []string{"alice", "bob", "carol"},
		ItemIDs: []string{"i0", "i1", "i2", "i3"},
		Train:   []dataset.Interaction{{User: 0, Item: 0, Weight: 1}, {User: 1, Item: 1, Weight: 1}, {User: 2, Item: 2, Weight: 1}},
		Test:    []dataset.Interaction{{User: 0, Item: 1, Weight: 1}, {User: 1, Item: 3, Weight: 1}},
	}
}

// commitFixture commits ds into dir and returns the store's fingerprint.
func commitFixture(t *testing.T, dir string, ds *dataset.Dataset) string {
	t.Helper()
	if _, err := featurestore.Commit(context.Background(), dir, ds); err != nil {
		t.Fatal(err)
	}
	s, err := featurestore.Open(dir, featurestore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	return s.Fingerprint()
}

// saveCheckpoint writes a minimal valid checkpoint into run's checkpoint
// directory, recording fingerprint fp at the given epoch and step.
func saveCheckpoint(t *testing.T, run, fp string, epoch, step int) string {
	t.Helper()
	ck := &checkpoints.Checkpoint{
		Header:  checkpoints.Header{Position: checkpoints.Position{Epoch: epoch, Step: step}, ConfigHash: "cfg", Fingerprint: fp},
		Tensors: []checkpoints.Tensor{{Name: "param/x", Shape: []int{1}, Data: []float32{1}}},
	}
	path, err := checkpoints.Save(checkpoints.Dir(run), ck, 0)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func execCmd(t *testing.T, ctx context.Context, c *cobra.Command, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	c.SetOut(&out)
	c.SetErr(&out)
	c.SetArgs(args)
	err := c.ExecuteContext(ctx)
	return out.String(), err
}

func TestEvalCmd(t *testing.T) {
	store, run := evalFixture(t)
	out, err := execCmd(t, context.Background(), newEvalCmd(), "--store", store, "--run-dir", run, "--k", "1", "--json")
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, out)
	}
	var m map[string]float64
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("eval --json output is not one JSON object: %v\n%s", err, out)
	}
	want := map[string]float64{"recall@1": 0.5, "precision@1": 0.5, "hit@1": 0.5, "ndcg@1": 0.5, "mrr@1": 0.5, "mrr": (1 + 1.0/3) / 2, "users": 2}
	for k, v := range want {
		if g, ok := m[k]; !ok || g-v > 1e-12 || v-g > 1e-12 {
			t.Errorf("%s = %v, want %v", k, g, v)
		}
	}
	// Default K is 20 and the table form names every key.
	out, err = execCmd(t, context.Background(), newEvalCmd(), "--store", store, "--run-dir", run)
	if err != nil || !strings.Contains(out, "recall@20") || !strings.Contains(out, "users          2") {
		t.Fatalf("eval table: %v\n%s", err, out)
	}
	if _, err := execCmd(t, context.Background(), newEvalCmd(), "--store", store, "--run-dir", t.TempDir()); err == nil || !strings.Contains(err.Error(), "users.npy") {
		t.Fatalf("missing embeddings: err = %v", err)
	}
}

// storeCmds runs eval, serve (briefly) or export on run with store and any
// extra flags, returning the command's error.
var storeCmds = []struct {
	name string
	run  func(t *testing.T, store, run string, extra ...string) error
}{
	{"eval", func(t *testing.T, store, run string, extra ...string) error {
		_, err := execCmd(t, context.Background(), newEvalCmd(), append([]string{"--store", store, "--run-dir", run, "--k", "1"}, extra...)...)
		return err
	}},
	{"serve", func(t *testing.T, store, run string, extra ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := execCmd(t, ctx, newServeCmd(), append([]string{"--store", store, "--run-dir", run, "--addr", "127.0.0.1:0"}, extra...)...)
		return err
	}},
	{"export", func(t *testing.T, store, run string, extra ...string) error {
		_, err := execCmd(t, context.Background(), newExportCmd(), append([]string{"--store", store, "--run-dir", run, "--out", filepath.Join(t.TempDir(), "out")}, extra...)...)
		return err
	}},
}

// TestStoreFingerprintChecked (issue 14 W3): eval, serve and export refuse
// a store other than the one the run was trained on (same shape, other
// content: ids shuffled, or a regenerated test split), naming both
// fingerprints and the run directory, whether the run's fingerprint comes
// from the embeddings manifest or from its newest checkpoint; --force
// overrides.
func TestStoreFingerprintChecked(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	fp := commitFixture(t, store, fixtureDataset())
	shuffled := fixtureDataset()
	shuffled.ItemIDs = []string{"i3", "i2", "i1", "i0"}
	regen := fixtureDataset()
	regen.Test = []dataset.Interaction{{User: 0, Item: 2, Weight: 1}, {User: 1, Item: 0, Weight: 1}}
	others := map[string]string{}
	for name, ds := range map[string]*dataset.Dataset{"shuffled": shuffled, "regenerated": regen} {
		others[name] = filepath.Join(dir, name)
		if ofp := commitFixture(t, others[name], ds); ofp == fp {
			t.Fatalf("%s store has the same fingerprint %s", name, fp)
		}
	}
	emb := &export.Embeddings{Dim: 1, Users: []float32{1, 1, 1}, Items: []float32{4, 3, 2, 1}}
	runs := map[string]string{}
	// The trainer's way: the manifest beside the embeddings records it.
	runs["manifest"] = filepath.Join(dir, "run-manifest")
	withFP := *emb
	withFP.Fingerprint = fp
	if err := export.Save(runs["manifest"], &withFP); err != nil {
		t.Fatal(err)
	}
	// A run whose embeddings predate the manifest: its checkpoint records it.
	runs["checkpoint"] = filepath.Join(dir, "run-checkpoint")
	if err := export.Save(runs["checkpoint"], emb); err != nil {
		t.Fatal(err)
	}
	saveCheckpoint(t, runs["checkpoint"], fp, 2, 6)
	for src, run := range runs {
		for _, c := range storeCmds {
			if err := c.run(t, store, run); err != nil {
				t.Errorf("%s, fingerprint from %s, the run's own store: %v", c.name, src, err)
			}
			for name, other := range others {
				err := c.run(t, other, run)
				var mm *storeMismatchError
				if !errors.As(err, &mm) {
					t.Errorf("%s, fingerprint from %s, %s store: err = %v, want a store mismatch", c.name, src, name, err)
					continue
				}
				otherFP := mm.StoreFingerprint
				for _, want := range []string{fp, otherFP, run, other, "--force"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("%s, %s store: error %q does not name %q", c.name, name, err, want)
					}
				}
				if otherFP == fp || strings.Count(err.Error(), "--force") != 1 {
					t.Errorf("%s, %s store: error %q", c.name, name, err)
				}
				if err := c.run(t, other, run, "--force"); err != nil {
					t.Errorf("%s --force, %s store: %v", c.name, name, err)
				}
			}
		}
	}
	// A run that records no fingerprint at all is used (with a warning).
	bare := filepath.Join(dir, "run-bare")
	if err := export.Save(bare, emb); err != nil {
		t.Fatal(err)
	}
	if err := storeCmds[0].run(t, others["regenerated"], bare); err != nil {
		t.Errorf("eval of a run without fingerprint: %v", err)
	}
}

// TestExportCarriesFingerprint: export --out writes a manifest with the
// run's fingerprint (here taken from its checkpoint), so the copy can be
// checked too.
func TestExportCarriesFingerprint(t *testing.T) {
	store, _ := evalFixture(t)
	run := filepath.Join(t.TempDir(), "run")
	if err := export.Save(run, &export.Embeddings{Dim: 1, Users: []float32{1, 1, 1}, Items: []float32{4, 3, 2, 1}}); err != nil {
		t.Fatal(err)
	}
	saveCheckpoint(t, run, "fp-from-checkpoint", 1, 3)
	out := filepath.Join(t.TempDir(), "out")
	if _, err := execCmd(t, context.Background(), newExportCmd(), "--run-dir", run, "--out", out); err != nil {
		t.Fatal(err)
	}
	e, err := export.LoadDir(out)
	if err != nil || e.Fingerprint != "fp-from-checkpoint" {
		t.Fatalf("exported %+v, %v; want fingerprint fp-from-checkpoint", e, err)
	}
	// With --store, the store is checked against it first.
	if _, err := execCmd(t, context.Background(), newExportCmd(), "--run-dir", run, "--store", store, "--out", out); err == nil ||
		!strings.Contains(err.Error(), "fp-from-checkpoint") {
		t.Fatalf("export with another store: err = %v", err)
	}
}

// TestRunWithoutEmbeddings (issue 14 U3): eval, serve and export on a run
// without embeddings say what is missing and what to do, not just
// "open .../users.npy: no such file or directory".
func TestRunWithoutEmbeddings(t *testing.T) {
	store, _ := evalFixture(t)
	fp := func() string {
		s, err := featurestore.Open(store, featurestore.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		return s.Fingerprint()
	}()
	stopped := filepath.Join(t.TempDir(), "stopped")
	ckpt := saveCheckpoint(t, stopped, fp, 1, 3)
	evaluated := filepath.Join(t.TempDir(), "evaluated")
	saveCheckpoint(t, evaluated, fp, 2, 6)
	if err := os.WriteFile(filepath.Join(evaluated, "curve.json"), []byte("[]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		run  string
		want []string
	}{
		{"stopped before first evaluation", stopped, []string{"run " + stopped + " has no embeddings yet", "before its first evaluation",
			"epoch 1", "step 3", ckpt, "train.eval_every", "resume it with the same `trainerd train", "users.npy"}},
		{"embeddings deleted", evaluated, []string{"has been evaluated", "embeddings are gone", "users.npy", "trainerd train"}},
		{"not a run", t.TempDir(), []string{"no embeddings and no checkpoints", "not the --run-dir of a trainerd train run", "users.npy"}},
	} {
		for _, c := range storeCmds {
			err := c.run(t, store, tc.run)
			if !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s, %s: err = %v, want one wrapping fs.ErrNotExist", tc.name, c.name, err)
				continue
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s, %s: error %q does not say %q", tc.name, c.name, err, w)
				}
			}
		}
	}
}

// TestServeAddrDefault: serve listens on loopback unless told otherwise;
// the environment variable train reads for http.addr (the container image
// sets it) moves serve's default too.
func TestServeAddrDefault(t *testing.T) {
	env := config.EnvName("http.addr")
	for _, tc := range []struct{ env, want string }{
		{"", "127.0.0.1:8080"},
		{"0.0.0.0:9090", "0.0.0.0:9090"},
	} {
		t.Setenv(env, tc.env)
		if got := newServeCmd().Flags().Lookup("addr").DefValue; got != tc.want {
			t.Errorf("%s=%q: serve --addr default %q, want %q", env, tc.env, got, tc.want)
		}
	}
	if !strings.Contains(newServeCmd().Long, "every interface") {
		t.Error("serve --help does not say what an all-interfaces address does")
	}
}

func TestExportCmd(t *testing.T) {
	store, run := evalFixture(t)
	out := filepath.Join(t.TempDir(), "out")
	if msg, err := execCmd(t, context.Background(), newExportCmd(), "--run-dir", run, "--store", store, "--out", out); err != nil {
		t.Fatalf("export: %v\n%s", err, msg)
	}
	e, err := export.LoadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(e.UserIDs, []string{"alice", "bob", "carol"}) || !slices.Equal(e.ItemIDs, []string{"i0", "i1", "i2", "i3"}) ||
		!slices.Equal(e.Items, []float32{4, 3, 2, 1}) {
		t.Fatalf("exported %+v", e)
	}
	b, err := os.ReadFile(filepath.Join(out, export.ItemsTSV))
	if err != nil || string(b) != "dense_id\texternal_id\n0\ti0\n1\ti1\n2\ti2\n3\ti3\n" {
		t.Fatalf("items.tsv %q %v", b, err)
	}
}

func TestServeCmdStarts(t *testing.T) {
	store, run := evalFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if msg, err := execCmd(t, ctx, newServeCmd(), "--run-dir", run, "--store", store, "--addr", "127.0.0.1:0"); err != nil {
		t.Fatalf("serve: %v\n%s", err, msg)
	}
	if _, err := execCmd(t, context.Background(), newServeCmd(), "--run-dir", t.TempDir(), "--store", store); err == nil {
		t.Fatal("serve without embeddings: no error")
	}
}
