package trainer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trainerd/trainerd/internal/teststore"

	"github.com/trainerd/trainerd/checkpoints"
	"github.com/trainerd/trainerd/config"
	"github.com/trainerd/trainerd/consumer"
	"github.com/trainerd/trainerd/export"
	"github.com/trainerd/trainerd/model"
)

// tinyStore commits the generator's tiny preset into a temp store.
func tinyStore(t *testing.T) string { return teststore.Preset(t, "tiny") }

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
	if !errors.Is(err, checkpoints.ErrIncompatible) || strings.Count(err.Error(), "--force") != 1 {
		t.Fatalf("err = %v, want ErrIncompatible naming --force once", err)
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

// mfSets is a fast MF job on the tiny store.
var mfSets = []string{"model.name=mf", "model.loss=bpr", "producer.layers=0"}

func runJob(t *testing.T, ctx context.Context, cfg *config.Config, store, dir string, mod ...func(*Options)) (*Result, error) {
	t.Helper()
	o := Options{Config: cfg, StoreDir: store, RunDir: dir, Out: &bytes.Buffer{}}
	for _, m := range mod {
		m(&o)
	}
	return Run(ctx, o)
}

// readCurve reads a run's curve.json with train_seconds zeroed (wall time,
// the one field that differs between identical runs).
func readCurve(t *testing.T, dir string) []EvalRecord {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, CurveFile))
	if err != nil {
		t.Fatalf("curve: %v", err)
	}
	var c []EvalRecord
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatalf("curve %s: %v", raw, err)
	}
	for i := range c {
		c[i].TrainSeconds = 0
	}
	return c
}

// TestRunDirLocked: a second trainer on a run directory in use fails at
// once, naming the directory and the holder's pid, and writes nothing; the
// lock is free again once the holder is done.
func TestRunDirLocked(t *testing.T) {
	store := tinyStore(t)
	dir := t.TempDir()
	held, err := lockRunDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := loadCfg(t, append(mfSets, "train.epochs=1")...)
	t0 := time.Now()
	_, err = runJob(t, context.Background(), cfg, store, dir)
	if !errors.Is(err, ErrRunDirLocked) {
		t.Fatalf("second trainer: err = %v, want ErrRunDirLocked", err)
	}
	for _, want := range []string{dir, "pid " + strconv.Itoa(os.Getpid())} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("refusal took %v", d)
	}
	if _, err := os.Stat(checkpoints.Dir(dir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("refused trainer touched the checkpoints: %v", err)
	}
	held.release()
	if _, err := runJob(t, context.Background(), cfg, store, dir); err != nil {
		t.Fatalf("after release: %v", err)
	}
	if again, err := lockRunDir(dir); err != nil {
		t.Fatalf("lock not released when Run returned: %v", err)
	} else {
		again.release()
	}
}

// embedHook wraps a model and calls hook before each Embed (evaluations
// and the final embeddings).
type embedHook struct {
	model.Model
	hook func(ctx context.Context) error
}

func (m embedHook) Embed(ctx context.Context) (*model.Embeddings, error) {
	if err := m.hook(ctx); err != nil {
		return nil, err
	}
	return m.Model.Embed(ctx)
}

// TestInterruptDuringEvaluation (W1): an interrupt that lands while an
// epoch is being evaluated leaves a checkpoint saying "trained, evaluation
// pending"; the resumed run evaluates that epoch, so a one-epoch run ends
// with its curve and metrics, equal to an uninterrupted run's.
func TestInterruptDuringEvaluation(t *testing.T) {
	store := tinyStore(t)
	sets := append(mfSets, "train.epochs=1", "train.eval_every=1", "checkpoint.every_steps=2")
	ref := t.TempDir()
	if _, err := runJob(t, context.Background(), loadCfg(t, sets...), store, ref); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	evals := 0
	res, err := runJob(t, ctx, loadCfg(t, sets...), store, dir, func(o *Options) {
		o.NewModel = func(c model.Config, i model.Info) (model.Model, error) {
			m, err := consumer.New(c, i)
			return embedHook{m, func(ctx context.Context) error {
				evals++
				cancel() // SIGTERM arrives during the evaluation
				<-ctx.Done()
				return ctx.Err()
			}}, err
		}
	})
	if err != nil || !res.Interrupted || evals != 1 {
		t.Fatalf("interrupted run: res %+v err %v evals %d", res, err, evals)
	}
	if _, err := os.Stat(filepath.Join(dir, CurveFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("curve written by an interrupted evaluation: %v", err)
	}
	res, err = runJob(t, context.Background(), loadCfg(t, sets...), store, dir)
	if err != nil {
		t.Fatal(err)
	}
	if res.Eval.Recall(20) == 0 {
		t.Errorf("resumed run reports no evaluation: %+v", res)
	}
	got, want := readCurve(t, dir), readCurve(t, ref)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("curve after resume %+v, want %+v", got, want)
	}
	if g, w := lastParams(t, dir), lastParams(t, ref); g != w {
		t.Fatalf("params %s, want %s", g, w)
	}
}

// TestCrashAfterEvaluation (W2): the state a SIGKILL leaves between an
// evaluation (curve.json written) and the epoch-end checkpoint is rebuilt
// from an uninterrupted run by dropping every checkpoint after the last
// mid-epoch one of an evaluated epoch. The resumed run must end with the
// uninterrupted run's curve: one record per epoch, and the resumed epoch's
// loss covering all its batches.
func TestCrashAfterEvaluation(t *testing.T) {
	store := tinyStore(t)
	sets := append(mfSets, "train.epochs=3", "train.eval_every=1", "checkpoint.every_steps=2", "checkpoint.keep_last=1000")
	ref := t.TempDir()
	if _, err := runJob(t, context.Background(), loadCfg(t, sets...), store, ref); err != nil {
		t.Fatal(err)
	}
	want := readCurve(t, ref)
	if len(want) != 3 {
		t.Fatalf("reference curve has %d records", len(want))
	}
	infos, err := checkpoints.List(checkpoints.Dir(ref))
	if err != nil {
		t.Fatal(err)
	}
	// The newest mid-epoch checkpoint of epoch 2.
	cut := -1
	for _, in := range infos {
		ck, err := checkpoints.Read(in.Path)
		if err != nil {
			t.Fatal(err)
		}
		if ck.Epoch == 2 && ck.BatchCursor > 0 {
			cut = ck.Step
		}
	}
	if cut < 0 {
		t.Fatal("no mid-epoch checkpoint in epoch 2; lower checkpoint.every_steps")
	}

	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(ref)); err != nil {
		t.Fatal(err)
	}
	for _, in := range infos {
		if in.Step > cut {
			if err := os.Remove(filepath.Join(checkpoints.Dir(dir), filepath.Base(in.Path))); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The crashed process had evaluated epoch 2 but not epoch 3.
	var crashed []EvalRecord
	if err := json.Unmarshal(mustRead(t, filepath.Join(ref, CurveFile)), &crashed); err != nil {
		t.Fatal(err)
	}
	writeJSON(t, filepath.Join(dir, CurveFile), crashed[:2])

	if _, err := runJob(t, context.Background(), loadCfg(t, sets...), store, dir); err != nil {
		t.Fatal(err)
	}
	if got := readCurve(t, dir); !reflect.DeepEqual(got, want) {
		t.Fatalf("curve after the crash and resume:\n%+v\nwant\n%+v", got, want)
	}
	if g, w := lastParams(t, dir), lastParams(t, ref); g != w {
		t.Fatalf("params %s, want %s", g, w)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestAllCheckpointsUnusable: when every checkpoint file is corrupt the
// trainer refuses to start over, listing each file and why, and leaves them
// alone; with Force it trains from scratch (as a fresh run would) and has
// moved the files to corrupt/, not deleted them.
func TestAllCheckpointsUnusable(t *testing.T) {
	store := tinyStore(t)
	sets := append(mfSets, "train.epochs=2", "train.eval_every=0", "checkpoint.every_steps=2", "checkpoint.keep_last=3")
	dir := t.TempDir()
	if _, err := runJob(t, context.Background(), loadCfg(t, sets...), store, dir); err != nil {
		t.Fatal(err)
	}
	infos, err := checkpoints.List(checkpoints.Dir(dir))
	if err != nil || len(infos) == 0 {
		t.Fatalf("checkpoints: %v %v", infos, err)
	}
	bad := map[string][]byte{}
	for _, in := range infos {
		b := mustRead(t, in.Path)
		b[len(b)-1] ^= 0x40
		if err := os.WriteFile(in.Path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		bad[filepath.Base(in.Path)] = b
	}

	_, err = runJob(t, context.Background(), loadCfg(t, sets...), store, dir)
	if !errors.Is(err, checkpoints.ErrNoCheckpoint) {
		t.Fatalf("err = %v, want a refusal wrapping ErrNoCheckpoint", err)
	}
	for name := range bad {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("refusal does not name %s: %v", name, err)
		}
	}
	if !strings.Contains(err.Error(), "CRC") || !strings.Contains(err.Error(), "--force") {
		t.Errorf("refusal lacks the reason or --force: %v", err)
	}
	for name, b := range bad {
		if got, err := os.ReadFile(filepath.Join(checkpoints.Dir(dir), name)); err != nil || !bytes.Equal(got, b) {
			t.Errorf("refusal touched %s: %v", name, err)
		}
	}

	if _, err := runJob(t, context.Background(), loadCfg(t, sets...), store, dir, func(o *Options) { o.Force = true }); err != nil {
		t.Fatalf("--force: %v", err)
	}
	for name, b := range bad {
		if got, err := os.ReadFile(filepath.Join(checkpoints.Dir(dir), checkpoints.CorruptDir, name)); err != nil || !bytes.Equal(got, b) {
			t.Errorf("%s not moved aside intact: %v", name, err)
		}
	}
	fresh := t.TempDir()
	if _, err := runJob(t, context.Background(), loadCfg(t, sets...), store, fresh); err != nil {
		t.Fatal(err)
	}
	if g, w := lastParams(t, dir), lastParams(t, fresh); g != w {
		t.Fatalf("forced restart params %s, want a fresh run's %s", g, w)
	}
}
