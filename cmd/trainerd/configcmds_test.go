package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/trainerd/trainerd/checkpoints"
	"github.com/trainerd/trainerd/config"
)

func runCmd(t *testing.T, c *cobra.Command, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	c.SetOut(&out)
	c.SetErr(&out)
	c.SetArgs(args)
	err := c.Execute()
	return out.String(), err
}

func TestConfigPrintCmd(t *testing.T) {
	out, err := runCmd(t, newConfigCmd(), "print", "--config", "../../configs/gowalla-pinsage.yaml", "--set", "model.dim=16")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "printed.yaml")
	os.WriteFile(p, []byte(out), 0o644)
	cfg, err := config.Load(p, nil)
	if err != nil {
		t.Fatalf("printed config does not load: %v\n%s", err, out)
	}
	if cfg.Model.Dim != 16 || cfg.Model.Model != "pinsage" || !strings.Contains(out, config.Hash(cfg)) {
		t.Fatalf("printed config: dim %d model %s\n%s", cfg.Model.Dim, cfg.Model.Model, out)
	}
	if _, err := runCmd(t, newConfigCmd(), "print", "--set", "model.lrr=1"); err == nil || !strings.Contains(err.Error(), "model.lrr: unknown key") {
		t.Fatalf("unknown key: %v", err)
	}
}

// TestConfigPrintRefuses checks that config print reports bad values as
// errors naming the key, never a panic (+Inf would panic in config.Hash) or
// a model too large to allocate.
func TestConfigPrintRefuses(t *testing.T) {
	tests := []struct {
		sets []string
		env  string
		want string
	}{
		{[]string{"model.lr=inf"}, "", "config: model.lr: must be a finite number, got +Inf"},
		{[]string{"model.margin=.inf"}, "", "config: model.margin: must be a finite number"},
		{nil, "TRAINERD_MODEL_TEMPERATURE=inf", "config: model.temperature: must be a finite number"},
		{[]string{"model.dim=1000000000"}, "", "config: model.dim: must be ≤ 16384, got 1000000000"},
		{[]string{"model.layers=7", "producer.layers=2"}, "", "config: producer.layers: must equal model.layers"},
		{[]string{"producer.negatives.pool_size=0"}, "", "config: producer.negatives.pool_size: must be ≥ 1"},
		{nil, "TRAINERD_MODEL_LRR=5", "config: TRAINERD_MODEL_LRR: environment variable names no config key"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.sets, " ")+tt.env, func(t *testing.T) {
			if name, val, ok := strings.Cut(tt.env, "="); ok {
				t.Setenv(name, val)
			}
			args := []string{"print", "--config", "../../configs/quickstart.yaml"}
			for _, s := range tt.sets {
				args = append(args, "--set", s)
			}
			out, err := runCmd(t, newConfigCmd(), args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q\n%s", err, tt.want, out)
			}
		})
	}
}

func TestCurriculumShowCmd(t *testing.T) {
	out, err := runCmd(t, newCurriculumCmd(), "show", "--config", "../../configs/curriculum-ablation.yaml", "--epochs", "8")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 9 {
		t.Fatalf("want 9 lines:\n%s", out)
	}
	if f := strings.Fields(lines[8]); f[0] != "8" || f[1] != "6" { // epoch 8: min(6, 7) hard negatives
		t.Fatalf("epoch 8 row %v\n%s", f, out)
	}
}

func TestCheckpointsCmd(t *testing.T) {
	run := t.TempDir()
	for _, step := range []int{5, 9} {
		ck := &checkpoints.Checkpoint{Header: checkpoints.Header{Position: checkpoints.Position{Epoch: 1, Step: step}},
			Tensors: []checkpoints.Tensor{{Name: "param/w", Shape: []int{2}, Data: []float32{1, float32(step)}}}}
		if _, err := checkpoints.Save(checkpoints.Dir(run), ck, 3); err != nil {
			t.Fatal(err)
		}
	}
	out, err := runCmd(t, newCheckpointsCmd(), "--run-dir", run, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(got) != 2 || got[1]["step"] != 9.0 || got[1]["valid"] != true || got[0]["params_sha256"] == got[1]["params_sha256"] {
		t.Fatalf("checkpoints --json:\n%s", out)
	}
	for _, k := range []string{"path", "step", "epoch", "valid", "params_sha256"} {
		if _, ok := got[0][k]; !ok {
			t.Fatalf("JSON lacks %s:\n%s", k, out)
		}
	}
}
