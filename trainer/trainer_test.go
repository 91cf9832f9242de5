package trainer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trainerd/trainerd/checkpoints"
	"github.com/trainerd/trainerd/config"
	"github.com/trainerd/trainerd/export"
	"github.com/trainerd/trainerd/featurestore"
	"github.com/trainerd/trainerd/gen"
)

// tinyStore commits the generator's tiny preset into a temp store.
func tinyStore(t *testing.T) string {
	t.Helper()
	cfg, err := gen.Preset("tiny")
	if err != nil {
		t.Fatal(err)
	}
	ds, err := gen.Generate(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "store")
	if _, err := featurestore.Commit(context.Background(), dir, ds); err != nil {
		t.Fatal(err)
	}
	return dir
}

func loadCfg(t *testing.T, sets ...string) *config.Config {
	t.Helper()
	base := []string{"train.device=cpu", "http.addr=127.0.0.1:0", "producer.batch_size=128",
		"producer.negatives.pool_size=100", "producer.neighbors.t=5", "producer.walk.steps=50",
		"producer.hard.rank_lo=20", "producer.hard.rank_hi=100", "model.dim=16"}
	cfg, err := config.Load("", append(base, sets...))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestModelsLearn trains every model for a few epochs on planted
// communities and requires recall@20 well above random (random ≈ 20/300 of
// a user's test items, about 0.067).
func TestModelsLearn(t *testing.T) {
	store := tinyStore(t)
	tests := []struct {
		name string
		sets []string
		min  float64
	}{
		{"mf", []string{"model.name=mf", "model.loss=bpr", "model.lr=0.01", "producer.layers=0", "train.epochs=10"}, 0.12},
		{"lightgcn", []string{"model.name=lightgcn", "model.loss=bpr", "model.lr=0.01", "model.layers=2", "producer.layers=0", "train.epochs=10"}, 0.12},
		{"ngcf", []string{"model.name=ngcf", "model.loss=bpr", "model.lr=0.01", "model.layers=2", "producer.layers=0", "train.epochs=10"}, 0.12},
		{"deepwalk", []string{"model.name=deepwalk", "model.lr=0.01", "producer.layers=0", "train.epochs=5"}, 0.10},
		{"pinsage", []string{"model.name=pinsage", "model.loss=margin", "model.layers=2", "producer.layers=2", "train.epochs=4"}, 0.12},
		{"graphsage", []string{"model.name=graphsage", "model.loss=softmax", "model.layers=2", "producer.layers=2", "producer.neighbors.mode=uniform", "train.epochs=4"}, 0.12},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := loadCfg(t, append(tc.sets, "train.eval_every=0")...)
			run := t.TempDir()
			var out bytes.Buffer
			res, err := Run(context.Background(), Options{Config: cfg, StoreDir: store, RunDir: run, Out: &out})
			if err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			if r := res.Eval.Recall(20); r < tc.min {
				t.Fatalf("recall@20 = %.4f, want ≥ %.2f\n%s", r, tc.min, out.String())
			}
			if _, err := export.Load(run); err != nil {
				t.Fatalf("embeddings not written: %v", err)
			}
			if !strings.Contains(out.String(), "recall@20") {
				t.Errorf("epoch lines lack recall:\n%s", out.String())
			}
			t.Logf("%s: recall@20 %.4f ndcg@20 %.4f", tc.name, res.Eval.Recall(20), res.Eval.NDCG(20))
		})
	}
}

// TestInterruptAndResume cancels a run after its first checkpoint, resumes
// it, and compares the final parameters with an uninterrupted run.
func TestInterruptAndResume(t *testing.T) {
	store := tinyStore(t)
	sets := []string{"model.name=mf", "model.loss=bpr", "producer.layers=0", "train.epochs=3", "train.eval_every=0",
		"checkpoint.every_steps=2"}
	ref := t.TempDir()
	if _, err := Run(context.Background(), Options{Config: loadCfg(t, sets...), StoreDir: store, RunDir: ref, Out: &bytes.Buffer{}}); err != nil {
		t.Fatal(err)
	}
	want := lastParams(t, ref)

	run := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	opts := Options{Config: loadCfg(t, sets...), StoreDir: store, RunDir: run, Out: &bytes.Buffer{},
		Ready: func(string) {}}
	// Cancel from the progress path: after a few steps the loop sees ctx done.
	go func() {
		for {
			if cs, _ := checkpoints.List(checkpoints.Dir(run)); len(cs) > 0 {
				cancel()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	res, err := Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Interrupted {
		t.Skip("run finished before the interrupt landed")
	}
	if _, err := Run(context.Background(), Options{Config: loadCfg(t, sets...), StoreDir: store, RunDir: run, Out: &bytes.Buffer{}}); err != nil {
		t.Fatal(err)
	}
	if got := lastParams(t, run); got != want {
		t.Fatalf("resumed params %s, want %s", got, want)
	}
}

// TestIncompatibleCheckpointRefused changes a hashed key between runs.
func TestIncompatibleCheckpointRefused(t *testing.T) {
	store := tinyStore(t)
	run := t.TempDir()
	sets := []string{"model.name=mf", "model.loss=bpr", "producer.layers=0", "train.epochs=1", "train.eval_every=0"}
	if _, err := Run(context.Background(), Options{Config: loadCfg(t, sets...), StoreDir: store, RunDir: run, Out: &bytes.Buffer{}}); err != nil {
		t.Fatal(err)
	}
	changed := loadCfg(t, append(sets, "model.lr=0.5", "train.epochs=2")...)
	_, err := Run(context.Background(), Options{Config: changed, StoreDir: store, RunDir: run, Out: &bytes.Buffer{}})
	if !errors.Is(err, checkpoints.ErrIncompatible) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("err = %v, want ErrIncompatible naming --force", err)
	}
	if _, err := Run(context.Background(), Options{Config: changed, StoreDir: store, RunDir: run, Force: true, Out: &bytes.Buffer{}}); err != nil {
		t.Fatalf("--force: %v", err)
	}
}

func lastParams(t *testing.T, run string) string {
	t.Helper()
	cs, err := checkpoints.List(checkpoints.Dir(run))
	if err != nil {
		t.Fatal(err)
	}
	best, sha := -1, ""
	for _, c := range cs {
		if c.Valid && c.Step > best {
			best, sha = c.Step, c.ParamsSHA256
		}
	}
	if best < 0 {
		t.Fatal("no valid checkpoint")
	}
	return sha
}

// TestEpochLineTimesWholeEpoch checkpoints after every step and requires the
// epoch line's seconds to cover the epoch's training time (curve.json's
// train_seconds), not just the segment since the last checkpoint.
func TestEpochLineTimesWholeEpoch(t *testing.T) {
	store := tinyStore(t)
	cfg := loadCfg(t, "model.name=mf", "model.loss=bpr", "producer.layers=0", "train.epochs=1", "train.eval_every=0",
		"checkpoint.every_steps=1")
	run := t.TempDir()
	var out bytes.Buffer
	if _, err := Run(context.Background(), Options{Config: cfg, StoreDir: store, RunDir: run, Out: &out}); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`train ([0-9.]+)s`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no epoch line in:\n%s", out.String())
	}
	lineSec, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(run, CurveFile))
	if err != nil {
		t.Fatal(err)
	}
	var curve []EvalRecord
	if err := json.Unmarshal(raw, &curve); err != nil || len(curve) != 1 {
		t.Fatalf("curve %s: %v", raw, err)
	}
	if want := curve[0].TrainSeconds; lineSec < 0.9*want-0.05 {
		t.Fatalf("epoch line says %.1f s, but the epoch trained for %.3f s:\n%s", lineSec, want, out.String())
	}
}
