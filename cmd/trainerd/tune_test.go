package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trainerd/trainerd/internal/teststore"
	"github.com/trainerd/trainerd/tune"
)

// TestTrainTunes: a config with train.tune trains through the CLI with
// pilots in RUN/tune and the winner in RUN, which eval and infer then read
// with the run's recorded config or the tuned config file; a value invalid for the key is refused
// naming train.tune.values[i] before anything is written.
func TestTrainTunes(t *testing.T) {
	dir := t.TempDir()
	store, cfgPath := teststore.Preset(t, "tiny"), filepath.Join(dir, "mf.yaml")
	yaml := `model: {name: mf, loss: bpr, lr: 0.01, dim: 8}
producer: {layers: 0, batch_size: 128, negatives: {pool_size: 50}}
train: {epochs: 3, device: cpu, eval_every: 3, tune: {key: model.lr, values: [0.00001, 0.05], epochs: 1}}
http: {addr: "127.0.0.1:0"}
`
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(dir, "run")
	if out, err := execRoot(t, "train", "--config", cfgPath, "--store", store, "--run-dir", run); err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	sum, err := tune.Read(run)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Chosen != 0.05 || len(sum.Pilots) != 2 {
		t.Fatalf("tune.json %+v: want model.lr 0.05 chosen of 2 pilots", sum)
	}
	for _, p := range sum.Pilots {
		if _, err := os.Stat(filepath.Join(run, p.RunDir, "checkpoints")); err != nil {
			t.Errorf("pilot %v: %v", p.Value, err)
		}
	}
	if out, err := execRoot(t, "eval", "--store", store, "--run-dir", run); err != nil || !strings.Contains(out, "recall@20") {
		t.Fatalf("eval: %v\n%s", err, out)
	}
	if out, err := execRoot(t, "infer", "--run-dir", run, "--store", store, "--out", filepath.Join(dir, "emb"), "--shard", "0/1"); err != nil {
		t.Fatalf("infer with the run's recorded config: %v\n%s", err, out)
	}
	// The tuned config file itself (lr 0.01 in the file, 0.05 chosen) gives the run's config too.
	if out, err := execRoot(t, "infer", "--run-dir", run, "--store", store, "--config", cfgPath, "--out", filepath.Join(dir, "emb2"), "--shard", "0/1"); err != nil {
		t.Fatalf("infer with the tuned config file: %v\n%s", err, out)
	}

	bad := filepath.Join(dir, "bad")
	_, err = execRoot(t, "train", "--config", cfgPath, "--store", store, "--run-dir", bad, "--set", "train.tune.values=[-1, 0.05]")
	if err == nil || !strings.Contains(err.Error(), "train.tune.values[0] (model.lr=-1)") {
		t.Fatalf("lr -1 as a candidate: err = %v", err)
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Errorf("refused run left its directory behind (stat: %v)", err)
	}
}
