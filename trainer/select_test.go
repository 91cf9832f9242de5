package trainer

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trainerd/trainerd/checkpoints"
	"github.com/trainerd/trainerd/eval"
	"github.com/trainerd/trainerd/export"
	"github.com/trainerd/trainerd/featurestore"
	"github.com/trainerd/trainerd/graph"
)

// overfitSets is MF on the tiny store set up to overfit: a large model, a
// high learning rate, no L2, no normalisation. Its validation recall@20
// peaks within the first few epochs while the training loss keeps falling.
var overfitSets = []string{"model.name=mf", "model.loss=bpr", "producer.layers=0", "model.dim=64", "model.lr=0.05",
	"model.l2=0", "model.normalize=false", "train.eval_every=1"}

// splits rebuilds the run's graphs from the store: the whole train split,
// the training graph and validation split Holdout makes with the default
// fraction and seed, and the test split.
func splits(t *testing.T, store string) (full, rest, val, test *graph.Bipartite) {
	t.Helper()
	st, err := featurestore.Open(store, featurestore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if full, err = st.LoadGraph(); err != nil {
		t.Fatal(err)
	}
	ints, err := st.Interactions("test")
	if err != nil {
		t.Fatal(err)
	}
	es := make([]graph.Edge, len(ints))
	for i, e := range ints {
		es[i] = graph.Edge{User: e.User, Item: e.Item}
	}
	if test, err = graph.Build(full.NumUsers, full.NumItems, es); err != nil {
		t.Fatal(err)
	}
	if rest, val, err = Holdout(full, test, 0.1, 1); err != nil {
		t.Fatal(err)
	}
	return full, rest, val, test
}

// TestSelectionKeepsEarlyEpoch is the acceptance test of validation
// selection: on a run that overfits, the kept checkpoint is an early epoch
// whose validation recall@20 is the curve's maximum; its files survive
// keep_last 1; its embeddings score that value on the validation split
// again; and the test split is scored for it, as `trainerd eval` would.
func TestSelectionKeepsEarlyEpoch(t *testing.T) {
	store := tinyStore(t)
	run := t.TempDir()
	const epochs = 12
	var out bytes.Buffer
	res, err := Run(context.Background(), Options{Config: loadCfg(t, append(overfitSets, "train.epochs=12", "checkpoint.keep_last=1")...),
		StoreDir: store, RunDir: run, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", out.String())
	curve, err := ReadCurve(run)
	if err != nil {
		t.Fatal(err)
	}
	if len(curve) != epochs {
		t.Fatalf("%d curve records, want %d", len(curve), epochs)
	}
	argmax, top := 0, -1.0
	for _, r := range curve {
		if r.Split != SplitValidation {
			t.Fatalf("epoch %d evaluated on %q, want validation", r.Epoch, r.Split)
		}
		if v := r.Metrics.Recall(20); v > top {
			argmax, top = r.Epoch, v
		}
	}
	if last := curve[len(curve)-1].Metrics.Recall(20); last >= top {
		t.Fatalf("the setting did not overfit: last recall@20 %.4f, best %.4f", last, top)
	}
	r, err := ReadResult(run)
	if err != nil {
		t.Fatal(err)
	}
	if r.Selected.Epoch != argmax || r.Selected.Epoch >= epochs || r.Selected.Metrics.Recall(20) != top {
		t.Fatalf("selected epoch %d (recall@20 %.4f), want the curve's max: epoch %d (%.4f) < %d",
			r.Selected.Epoch, r.Selected.Metrics.Recall(20), argmax, top, epochs)
	}
	if r.Checkpoint != "best" || r.Split != SplitValidation || r.Final.Epoch != epochs || r.StoppedEarly {
		t.Fatalf("result %+v", r)
	}
	if !reflect.DeepEqual(res.Final.Test, r.Test) {
		t.Fatalf("Run's result %v differs from %s %v", res.Final.Test, ResultFile, r.Test)
	}
	if !strings.Contains(out.String(), "test  epoch "+strconv.Itoa(argmax)+" (best checkpoint") {
		t.Errorf("no test line for epoch %d:\n%s", argmax, out.String())
	}

	// The best checkpoint outlives keep_last 1 and holds that epoch.
	ck, err := checkpoints.Read(filepath.Join(run, BestDir, BestCheckpoint))
	if err != nil {
		t.Fatal(err)
	}
	if ck.Step != r.Selected.Step || ck.Best.Epoch != argmax || ck.Epoch != argmax+1 || ck.BatchCursor != 0 {
		t.Fatalf("best checkpoint at step %d epoch %d holds best epoch %d; want step %d, the end of epoch %d",
			ck.Step, ck.Epoch, ck.Best.Epoch, r.Selected.Step, argmax)
	}
	if _, err := os.Stat(filepath.Join(checkpoints.Dir(run), checkpoints.Name(ck.Step))); err == nil {
		t.Fatalf("keep_last 1 kept %s too", checkpoints.Name(ck.Step))
	}

	// Its embeddings score the selected value on validation again, and the
	// recorded test metrics with the whole train split excluded.
	full, rest, val, test := splits(t, store)
	if rest.NumEdges() != r.TrainEdges || val.NumEdges() != r.ValidationEdges {
		t.Fatalf("result says %d train / %d validation edges, Holdout gives %d / %d", r.TrainEdges, r.ValidationEdges, rest.NumEdges(), val.NumEdges())
	}
	best, err := export.Load(filepath.Join(run, BestDir))
	if err != nil {
		t.Fatal(err)
	}
	mv, err := eval.Evaluate(context.Background(), best.Users, best.Items, best.Dim, rest, val, eval.Options{K: 20})
	if err != nil {
		t.Fatal(err)
	}
	if mv.Recall(20) != top {
		t.Fatalf("best embeddings score recall@20 %.6f on validation, the curve's max is %.6f", mv.Recall(20), top)
	}
	mt, err := eval.Evaluate(context.Background(), best.Users, best.Items, best.Dim, full, test, eval.Options{K: 20})
	if err != nil {
		t.Fatal(err)
	}
	if mt.Recall(20) != r.Test.Recall(20) || mt.NDCG(20) != r.Test.NDCG(20) {
		t.Fatalf("test of the best embeddings %v, result.json %v", mt, r.Test)
	}
	latest, err := export.Load(run)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(latest.Users, best.Users) {
		t.Fatal("latest and best embeddings are the same")
	}
}

// TestEarlyStopping: with train.patience 2 the overfitting run stops two
// evaluations after its best epoch; the checkpoint records the stop, so
// running the same command again trains nothing and gives the same result.
func TestEarlyStopping(t *testing.T) {
	store := tinyStore(t)
	run := t.TempDir()
	cfg := loadCfg(t, append(overfitSets, "train.epochs=25", "train.patience=2")...)
	var out bytes.Buffer
	res, err := Run(context.Background(), Options{Config: cfg, StoreDir: store, RunDir: run, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", out.String())
	r := res.Final
	if !r.StoppedEarly || r.Epochs != r.Selected.Epoch+2 || r.Epochs >= 25 {
		t.Fatalf("stopped early %v after epoch %d, best epoch %d; want a stop 2 epochs after the best", r.StoppedEarly, r.Epochs, r.Selected.Epoch)
	}
	if !strings.Contains(out.String(), "stopping early") {
		t.Errorf("no early-stop line:\n%s", out.String())
	}
	curve, _ := ReadCurve(run)
	if len(curve) != r.Epochs {
		t.Fatalf("%d curve records after %d epochs", len(curve), r.Epochs)
	}
	ck, _, err := checkpoints.Latest(checkpoints.Dir(run))
	if err != nil {
		t.Fatal(err)
	}
	if !ck.Best.Stopped || ck.Best.Stale != 2 || ck.Best.Epoch != r.Selected.Epoch {
		t.Fatalf("latest checkpoint's selection %+v", ck.Best)
	}
	out.Reset()
	again, err := Run(context.Background(), Options{Config: cfg, StoreDir: store, RunDir: run, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "epoch   ") || again.Final.Epochs != r.Epochs || !reflect.DeepEqual(again.Final.Test, r.Test) ||
		again.Final.Selected.Epoch != r.Selected.Epoch {
		t.Fatalf("second start trained or changed the result:\n%s", out.String())
	}
}

// TestSelectionResumes interrupts an overfitting run, resumes it, finishes
// it at 3 epochs and extends it to 8; the selection state (best epoch,
// best files, result) and the parameters equal an uninterrupted 8-epoch
// run's.
func TestSelectionResumes(t *testing.T) {
	store := tinyStore(t)
	sets := append(overfitSets, "checkpoint.every_steps=5", "checkpoint.keep_last=2")
	ref := t.TempDir()
	if _, err := runJob(t, context.Background(), loadCfg(t, append(sets, "train.epochs=8")...), store, ref); err != nil {
		t.Fatal(err)
	}
	run := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for ctx.Err() == nil {
			if cs, _ := checkpoints.List(checkpoints.Dir(run)); len(cs) > 0 {
				cancel()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	if _, err := runJob(t, ctx, loadCfg(t, append(sets, "train.epochs=3")...), store, run); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := runJob(t, context.Background(), loadCfg(t, append(sets, "train.epochs=3")...), store, run); err != nil {
		t.Fatal(err)
	}
	if _, err := runJob(t, context.Background(), loadCfg(t, append(sets, "train.epochs=8")...), store, run); err != nil {
		t.Fatal(err)
	}
	if got, want := lastParams(t, run), lastParams(t, ref); got != want {
		t.Fatalf("params %s, uninterrupted %s", got, want)
	}
	if got, want := readCurve(t, run), readCurve(t, ref); !reflect.DeepEqual(got, want) {
		t.Fatalf("curve %+v\nuninterrupted %+v", got, want)
	}
	gb, err := ReadBest(run)
	if err != nil {
		t.Fatal(err)
	}
	wb, _ := ReadBest(ref)
	if !reflect.DeepEqual(gb, wb) {
		t.Fatalf("best %+v, uninterrupted %+v", gb, wb)
	}
	gr, _ := ReadResult(run)
	wr, _ := ReadResult(ref)
	if gr == nil || wr == nil || !reflect.DeepEqual(gr.Test, wr.Test) || !reflect.DeepEqual(gr.Selected, wr.Selected) {
		t.Fatalf("result %+v, uninterrupted %+v", gr, wr)
	}
	for _, f := range []string{"users.npy", "items.npy"} {
		g := mustRead(t, filepath.Join(run, BestDir, export.EmbeddingsDir, f))
		w := mustRead(t, filepath.Join(ref, BestDir, export.EmbeddingsDir, f))
		if !bytes.Equal(g, w) {
			t.Fatalf("best %s differs from the uninterrupted run's", f)
		}
	}
}

// TestBestRewrittenOnResume: a process that dies between the epoch-end
// checkpoint of a new best and the best files (simulated by removing them)
// leaves a checkpoint naming the best epoch; the next start writes them
// again, identical.
func TestBestRewrittenOnResume(t *testing.T) {
	store := tinyStore(t)
	run := t.TempDir()
	cfg := loadCfg(t, append(overfitSets, "train.epochs=2")...)
	if _, err := runJob(t, context.Background(), cfg, store, run); err != nil {
		t.Fatal(err)
	}
	b, err := ReadBest(run)
	if err != nil {
		t.Fatal(err)
	}
	if b.Epoch != 2 {
		t.Fatalf("precondition: epoch 2 is the best of 2 in this setting, got %d", b.Epoch)
	}
	users := mustRead(t, filepath.Join(run, BestDir, export.EmbeddingsDir, "users.npy"))
	if err := os.RemoveAll(filepath.Join(run, BestDir)); err != nil {
		t.Fatal(err)
	}
	if _, err := runJob(t, context.Background(), cfg, store, run); err != nil {
		t.Fatal(err)
	}
	b2, err := ReadBest(run)
	if err != nil {
		t.Fatalf("best files not rewritten: %v", err)
	}
	if !reflect.DeepEqual(b, b2) {
		t.Fatalf("rewritten %+v, was %+v", b2, b)
	}
	if got := mustRead(t, filepath.Join(run, BestDir, export.EmbeddingsDir, "users.npy")); !bytes.Equal(got, users) {
		t.Fatal("rewritten best embeddings differ")
	}
	if _, err := checkpoints.Read(filepath.Join(run, BestDir, BestCheckpoint)); err != nil {
		t.Fatal(err)
	}
	if r, err := ReadResult(run); err != nil || r.Checkpoint != "best" || r.Selected.Epoch != 2 {
		t.Fatalf("result %+v, %v", r, err)
	}
}

// TestNoValidationSplit: fraction 0 evaluates on test and keeps the last
// epoch, with no best files.
func TestNoValidationSplit(t *testing.T) {
	store := tinyStore(t)
	run := t.TempDir()
	res, err := runJob(t, context.Background(), loadCfg(t, append(overfitSets, "train.epochs=3", "train.validation.fraction=0")...), store, run)
	if err != nil {
		t.Fatal(err)
	}
	r := res.Final
	if r.Split != SplitTest || r.Checkpoint != "latest" || r.Selected.Epoch != 3 || r.ValidationEdges != 0 {
		t.Fatalf("result %+v", r)
	}
	if !reflect.DeepEqual(r.Test, res.Eval) {
		t.Fatalf("test %v, last evaluation %v: both score the last epoch on test", r.Test, res.Eval)
	}
	if _, err := os.Stat(filepath.Join(run, BestDir)); err == nil {
		t.Fatal("best files written without a validation split")
	}
	if c := readCurve(t, run); c[len(c)-1].Split != SplitTest {
		t.Fatalf("curve split %q", c[len(c)-1].Split)
	}
}

// TestHTTPOff: http.addr "" runs no server (Ready gets "").
func TestHTTPOff(t *testing.T) {
	store := tinyStore(t)
	addr := "unset"
	_, err := runJob(t, context.Background(), loadCfg(t, append(mfSets, "train.epochs=1", "http.addr=")...), store, t.TempDir(),
		func(o *Options) { o.Ready = func(a string) { addr = a } })
	if err != nil {
		t.Fatal(err)
	}
	if addr != "" {
		t.Fatalf("http.addr \"\" listened on %q", addr)
	}
}

// TestRunRelativeSchedule: model.decay_epochs trains exactly as the same
// length in steps (the data set's batches per epoch times it), differs from
// no decay, and a whole-run cosine refuses a resume with another
// train.epochs (its length in steps changed) unless forced.
func TestRunRelativeSchedule(t *testing.T) {
	store := tinyStore(t)
	probe := t.TempDir()
	if _, err := runJob(t, context.Background(), loadCfg(t, append(mfSets, "train.epochs=1", "train.eval_every=0")...), store, probe); err != nil {
		t.Fatal(err)
	}
	ck, _, err := checkpoints.Latest(checkpoints.Dir(probe))
	if err != nil {
		t.Fatal(err)
	}
	bpe := ck.Step // one epoch's steps
	base := append(mfSets, "train.epochs=3", "train.eval_every=0", "model.lr=0.05", "model.lr_schedule=step", "model.decay_rate=0.5")
	params := map[string]string{}
	for name, sets := range map[string][]string{
		"epochs":   {"model.decay_epochs=1.5"},
		"steps":    {"model.decay_steps=" + strconv.Itoa(int(1.5*float64(bpe)+0.5))},
		"no decay": {"model.lr_schedule=constant"},
	} {
		run := t.TempDir()
		if _, err := runJob(t, context.Background(), loadCfg(t, append(base, sets...)...), store, run); err != nil {
			t.Fatal(err)
		}
		params[name] = lastParams(t, run)
	}
	if params["epochs"] != params["steps"] {
		t.Fatalf("decay_epochs 1.5 and decay_steps %d (1.5 × %d batches) train differently", int(1.5*float64(bpe)+0.5), bpe)
	}
	if params["epochs"] == params["no decay"] {
		t.Fatal("the decay changed nothing")
	}
	run := t.TempDir()
	cos := append(mfSets, "train.eval_every=0", "model.lr_schedule=cosine")
	if _, err := runJob(t, context.Background(), loadCfg(t, append(cos, "train.epochs=2")...), store, run); err != nil {
		t.Fatal(err)
	}
	_, err = runJob(t, context.Background(), loadCfg(t, append(cos, "train.epochs=4")...), store, run)
	if !errors.Is(err, checkpoints.ErrIncompatible) {
		t.Fatalf("extending a whole-run cosine: err = %v, want ErrIncompatible", err)
	}
}

// TestPatienceRaisedOnResume: train.patience is not hashed; a stopped run
// started again with a larger patience trains on, and ends as a run with
// that patience from the start does.
func TestPatienceRaisedOnResume(t *testing.T) {
	store := tinyStore(t)
	ref := t.TempDir()
	if _, err := runJob(t, context.Background(), loadCfg(t, append(overfitSets, "train.epochs=12", "train.patience=4")...), store, ref); err != nil {
		t.Fatal(err)
	}
	run := t.TempDir()
	first, err := runJob(t, context.Background(), loadCfg(t, append(overfitSets, "train.epochs=12", "train.patience=1")...), store, run)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Final.StoppedEarly {
		t.Fatalf("patience 1 did not stop: %+v", first.Final)
	}
	again, err := runJob(t, context.Background(), loadCfg(t, append(overfitSets, "train.epochs=12", "train.patience=4")...), store, run)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := ReadResult(ref)
	if again.Final.Epochs <= first.Final.Epochs || again.Final.Epochs != want.Epochs || again.Final.StoppedEarly != want.StoppedEarly {
		t.Fatalf("raised patience: %d epochs (stopped %v), a run with patience 4 throughout: %d (stopped %v); patience 1 stopped at %d",
			again.Final.Epochs, again.Final.StoppedEarly, want.Epochs, want.StoppedEarly, first.Final.Epochs)
	}
	if lastParams(t, run) != lastParams(t, ref) {
		t.Fatal("parameters differ from the run with patience 4 throughout")
	}
}

// TestReembedBestOnForcedResume: a finished run resumed with --force and
// another embed-only key (README: re-embedding a finished run) trains
// nothing and embeds the best checkpoint again under the new config; the
// test result is for those embeddings.
func TestReembedBestOnForcedResume(t *testing.T) {
	store := tinyStore(t)
	run := t.TempDir()
	sets := append(overfitSets, "train.epochs=6")
	if _, err := runJob(t, context.Background(), loadCfg(t, sets...), store, run); err != nil {
		t.Fatal(err)
	}
	b0, _ := ReadBest(run)
	users0 := mustRead(t, filepath.Join(run, BestDir, export.EmbeddingsDir, "users.npy"))
	items0 := mustRead(t, filepath.Join(run, BestDir, export.EmbeddingsDir, "items.npy"))
	var out bytes.Buffer
	res, err := Run(context.Background(), Options{Config: loadCfg(t, append(sets, "model.history.weight=0.5", "model.history.embed_only=true")...),
		StoreDir: store, RunDir: run, Force: true, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "epoch   ") {
		t.Fatalf("the forced resume of a finished run trained:\n%s", out.String())
	}
	b1, err := ReadBest(run)
	if err != nil {
		t.Fatal(err)
	}
	if b1.Epoch != b0.Epoch || b1.Step != b0.Step || b1.Value == b0.Value {
		t.Fatalf("best before %+v, after %+v: want the same epoch with a new validation value", b0, b1)
	}
	best, err := export.Load(filepath.Join(run, BestDir))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(mustRead(t, filepath.Join(run, BestDir, export.EmbeddingsDir, "users.npy")), users0) {
		t.Fatal("best user vectors unchanged by the embed-time smoothing")
	}
	if !bytes.Equal(mustRead(t, filepath.Join(run, BestDir, export.EmbeddingsDir, "items.npy")), items0) {
		t.Fatal("best item vectors changed")
	}
	full, _, _, test := splits(t, store)
	m, err := eval.Evaluate(context.Background(), best.Users, best.Items, best.Dim, full, test, eval.Options{K: 20})
	if err != nil {
		t.Fatal(err)
	}
	if m.Recall(20) != res.Final.Test.Recall(20) || res.Final.Selected.Metrics.Recall(20) != b1.Value {
		t.Fatalf("result %+v does not describe the re-embedded best (test recall@20 %v, validation %v)", res.Final, m.Recall(20), b1.Value)
	}
}

// TestStopAfter: a run with Options.StopAfter trains and evaluates through
// that epoch (whatever train.eval_every says), never scores the test split,
// returns at once when started again, and then, without StopAfter, finishes
// with the parameters and curve of a run never paused.
func TestStopAfter(t *testing.T) {
	store := tinyStore(t)
	cfg := loadCfg(t, "model.name=mf", "model.loss=bpr", "train.epochs=5", "train.eval_every=2")
	pilot := t.TempDir()
	stop := func(o *Options) { o.StopAfter = 3 }
	res, err := runJob(t, context.Background(), cfg, store, pilot, stop)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Paused || res.Interrupted || res.Final != nil || res.Epoch != 3 {
		t.Fatalf("result %+v: want paused after epoch 3", res)
	}
	curve := readCurve(t, pilot)
	if len(curve) != 2 || curve[0].Epoch != 2 || curve[1].Epoch != 3 {
		t.Fatalf("curve epochs %v, want evaluations at 2 (eval_every) and 3 (StopAfter)", curve)
	}
	if _, err := os.Stat(filepath.Join(pilot, ResultFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a paused run wrote %s (stat: %v): it must not score the test split", ResultFile, err)
	}
	b, err := ReadBest(pilot)
	if err != nil || b.Epoch > 3 {
		t.Fatalf("best %+v, %v: want one of the pilot's epochs", b, err)
	}
	step := res.Step
	again, err := runJob(t, context.Background(), cfg, store, pilot, stop)
	if err != nil || !again.Paused || again.Step != step {
		t.Fatalf("second start: %+v, %v; want paused at step %d without training", again, err, step)
	}
	if _, err := runJob(t, context.Background(), cfg, store, pilot); err != nil {
		t.Fatal(err)
	}
	plain := t.TempDir()
	if _, err := runJob(t, context.Background(), cfg, store, plain); err != nil {
		t.Fatal(err)
	}
	if lastParams(t, pilot) != lastParams(t, plain) {
		t.Error("paused then finished run's parameters differ from an unpaused run's")
	}
	// train.patience ending a pilot before StopAfter pauses it too: no test score.
	early := t.TempDir()
	res, err = runJob(t, context.Background(), loadCfg(t, append(overfitSets, "train.epochs=25", "train.patience=1")...), store, early,
		func(o *Options) { o.StopAfter = 20 })
	if err != nil {
		t.Fatal(err)
	}
	if !res.Paused || res.Final != nil || res.Epoch >= 20 {
		t.Fatalf("patience within a pilot: %+v; want paused before epoch 20", res)
	}
	if _, err := os.Stat(filepath.Join(early, ResultFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a pilot stopped by patience wrote %s (stat: %v)", ResultFile, err)
	}
	// The paused run evaluated epoch 3 as well; the epochs both evaluated agree.
	pc, uc := readCurve(t, pilot), readCurve(t, plain)
	for _, u := range uc {
		found := false
		for _, p := range pc {
			if p.Epoch == u.Epoch {
				found = true
				if !reflect.DeepEqual(p, u) {
					t.Errorf("epoch %d: paused run %+v, plain run %+v", u.Epoch, p, u)
				}
			}
		}
		if !found {
			t.Errorf("paused run lacks the evaluation of epoch %d", u.Epoch)
		}
	}
}
