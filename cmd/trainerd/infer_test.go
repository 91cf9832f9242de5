package main

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trainerd/trainerd/export"
	"github.com/trainerd/trainerd/featurestore"
	"github.com/trainerd/trainerd/gen"
	"github.com/trainerd/trainerd/infer"
)

func TestInferShardFlags(t *testing.T) {
	tests := []struct {
		name    string
		f       inferFlags
		env     string
		want    infer.Shard
		wantErr string
	}{
		{"shard", inferFlags{shard: "2/4"}, "", infer.Shard{Index: 2, Count: 4}, ""},
		{"indexed job", inferFlags{shards: 4}, "3", infer.Shard{Index: 3, Count: 4}, ""},
		{"index past count", inferFlags{shards: 4}, "4", infer.Shard{}, "JOB_COMPLETION_INDEX=4"},
		{"index not a number", inferFlags{shards: 4}, "x", infer.Shard{}, `JOB_COMPLETION_INDEX="x" is not an integer`},
		{"index unset", inferFlags{shards: 4}, "", infer.Shard{}, "is not set"},
		{"both", inferFlags{shard: "0/2", shards: 2}, "", infer.Shard{}, "exclusive"},
		{"neither", inferFlags{}, "", infer.Shard{}, "no shard"},
		{"bad spec", inferFlags{shard: "4/4"}, "", infer.Shard{}, `--shard: "4/4"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := shardOf(tc.f, func(k string) string {
				if k == jobIndexEnv {
					return tc.env
				}
				return ""
			})
			if tc.wantErr == "" {
				if err != nil || got != tc.want {
					t.Fatalf("got %v, %v; want %v", got, err, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v; want one containing %q", err, tc.wantErr)
			}
			if tc.name != "both" && tc.name != "neither" && tc.name != "index unset" && !errors.Is(err, infer.ErrShardSpec) {
				t.Fatalf("error %v does not wrap ErrShardSpec", err)
			}
		})
	}
}

func execRoot(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := newRootCmd()
	root.SetArgs(append([]string{"--log-level", "warn"}, args...))
	root.SetOut(&out)
	root.SetErr(&out)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// TestInferCommand trains a tiny MF run through the CLI, runs `infer` as an
// Indexed Job would (JOB_COMPLETION_INDEX) and with --shard, merges, and
// compares with `export` bit for bit; then top-K reuses the shards.
func TestInferCommand(t *testing.T) {
	dir := t.TempDir()
	store, run, cfgPath := filepath.Join(dir, "store"), filepath.Join(dir, "run"), filepath.Join(dir, "mf.yaml")
	gc, err := gen.Preset("tiny")
	if err != nil {
		t.Fatal(err)
	}
	ds, err := gen.Generate(context.Background(), gc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := featurestore.Commit(context.Background(), store, ds); err != nil {
		t.Fatal(err)
	}
	yaml := `model: {name: mf, loss: bpr, lr: 0.01, dim: 8}
producer: {layers: 0, batch_size: 128, negatives: {pool_size: 50}}
train: {epochs: 1, device: cpu, eval_every: 0}
http: {addr: "127.0.0.1:0"}
`
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := execRoot(t, "train", "--config", cfgPath, "--store", store, "--run-dir", run); err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	emb := filepath.Join(dir, "emb")
	base := []string{"infer", "--run-dir", run, "--store", store, "--config", cfgPath, "--out", emb}
	t.Setenv(jobIndexEnv, "0")
	if out, err := execRoot(t, append(base, "--shards", "2")...); err != nil || !strings.Contains(out, "shard 0/2") {
		t.Fatalf("infer --shards 2 with index 0: %v\n%s", err, out)
	}
	if _, err := execRoot(t, "infer", "--merge", "--out", emb); err == nil || !strings.Contains(err.Error(), "missing 1 of 2 shards (indices 1)") {
		t.Fatalf("merge with shard 1 missing: %v", err)
	}
	if out, err := execRoot(t, append(base, "--shard", "1/2")...); err != nil {
		t.Fatalf("infer --shard 1/2: %v\n%s", err, out)
	}
	if _, err := execRoot(t, append(base, "--shard", "2/2")...); err == nil || !strings.Contains(err.Error(), "outside 0..1") {
		t.Fatalf("infer --shard 2/2: %v", err)
	}
	if out, err := execRoot(t, "infer", "--merge", "--out", emb); err != nil || !strings.Contains(out, "merged 2 shards") {
		t.Fatalf("merge: %v\n%s", err, out)
	}
	exp := filepath.Join(dir, "export")
	if out, err := execRoot(t, "export", "--run-dir", run, "--out", exp); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	want, err := export.LoadDir(exp)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := infer.Read(emb)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		name string
		a, b []float32
	}{{"users", got.Users, want.Users}, {"items", got.Items, want.Items}} {
		if len(p.a) != len(p.b) {
			t.Fatalf("%s: %d values, export has %d", p.name, len(p.a), len(p.b))
		}
		for i := range p.a {
			if math.Float32bits(p.a[i]) != math.Float32bits(p.b[i]) {
				t.Fatalf("%s value %d: infer %v, export %v", p.name, i, p.a[i], p.b[i])
			}
		}
	}
	npy := filepath.Join(emb, "users-00000-of-00002.npy")
	st0, err := os.Stat(npy)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := execRoot(t, append(base, "--shard", "0/2", "--topk", "5")...); err != nil || !strings.Contains(out, "top-5 items") {
		t.Fatalf("infer --topk: %v\n%s", err, out)
	}
	st1, err := os.Stat(npy)
	if err != nil {
		t.Fatal(err)
	}
	if !st1.ModTime().Equal(st0.ModTime()) {
		t.Errorf("--topk embedded shard 0 again although it was written from the same checkpoint")
	}
	if _, err := os.Stat(filepath.Join(emb, "topk-00000-of-00002.npy")); err != nil {
		t.Fatal(err)
	}
}
