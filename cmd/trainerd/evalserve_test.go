package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

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
func evalFixture(t *testing.T) (store, run string) {
	t.Helper()
	dir := t.TempDir()
	store, run = filepath.Join(dir, "store"), filepath.Join(dir, "run")
	ds := &dataset.Dataset{
		Name:    "evalfix",
		UserIDs: []string{"alice", "bob", "carol"},
		ItemIDs: []string{"i0", "i1", "i2", "i3"},
		Train:   []dataset.Interaction{{User: 0, Item: 0, Weight: 1}, {User: 1, Item: 1, Weight: 1}, {User: 2, Item: 2, Weight: 1}},
		Test:    []dataset.Interaction{{User: 0, Item: 1, Weight: 1}, {User: 1, Item: 3, Weight: 1}},
	}
	if _, err := featurestore.Commit(context.Background(), store, ds); err != nil {
		t.Fatal(err)
	}
	if err := export.Save(run, &export.Embeddings{Dim: 1, Users: []float32{1, 1, 1}, Items: []float32{4, 3, 2, 1}}); err != nil {
		t.Fatal(err)
	}
	return store, run
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
