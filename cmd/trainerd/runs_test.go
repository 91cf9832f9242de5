package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/trainerd/trainerd/internal/teststore"

	"github.com/trainerd/trainerd/config"
	"github.com/trainerd/trainerd/eval"
	"github.com/trainerd/trainerd/export"
	"github.com/trainerd/trainerd/trainer"
	"github.com/trainerd/trainerd/tune"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// writeRunFixture writes a run directory's files by hand: result (nil =
// still training), best (nil = none), curve and config.yaml lines.
func writeRunFixture(t *testing.T, dir string, result *trainer.RunResult, best *trainer.Best, curve []trainer.EvalRecord, cfg string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, trainer.BestDir), 0o755); err != nil {
		t.Fatal(err)
	}
	put := func(path string, v any) {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if result != nil {
		put(filepath.Join(dir, trainer.ResultFile), result)
	}
	if best != nil {
		put(filepath.Join(dir, trainer.BestDir, trainer.BestFile), best)
	}
	put(filepath.Join(dir, trainer.CurveFile), curve)
	if cfg != "" {
		if err := os.WriteFile(filepath.Join(dir, trainer.ConfigFile), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func rec(epoch int, secs, recall, ndcg float64, split string) trainer.EvalRecord {
	return trainer.EvalRecord{Epoch: epoch, Loss: 1 / float64(epoch), TrainSeconds: secs,
		Metrics: eval.Metrics{"recall@20": recall, "ndcg@20": ndcg, "users": 100}, Split: split}
}

// TestRunsCompareGolden compares three hand-made runs (one finished with a
// validation split, one finished without, one still training) against
// testdata/runs-compare.golden: the table, the differing config keys (a
// key one run lacks included, identical keys left out) and the plot line.
func TestRunsCompareGolden(t *testing.T) {
	t.Chdir(t.TempDir())
	const v, te = trainer.SplitValidation, trainer.SplitTest
	aCurve := []trainer.EvalRecord{rec(1, 3, 0.30, 0.20, v), rec(2, 6, 0.45, 0.28, v), rec(3, 9, 0.41, 0.26, v), rec(4, 12.5, 0.38, 0.24, v)}
	writeRunFixture(t, "runs/a", &trainer.RunResult{Split: v, Select: "recall@20", Checkpoint: "best",
		Selected: trainer.EpochMetrics{Epoch: 2, Step: 32, Metrics: aCurve[1].Metrics},
		Final:    trainer.EpochMetrics{Epoch: 4, Step: 64, Metrics: aCurve[3].Metrics},
		Test:     eval.Metrics{"recall@20": 0.3652, "ndcg@20": 0.2358, "users": 180}, Epochs: 4, TrainSeconds: 12.5},
		&trainer.Best{Metric: "recall@20", Value: 0.45, Epoch: 2, Step: 32, Metrics: aCurve[1].Metrics}, aCurve,
		"# hash x\nmodel:\n  name: \"mf\"\n  lr: 0.05\n  dim: 64\ntrain:\n  select: \"recall@20\"\n  patience: 0\n  validation:\n    fraction: 0.1\ncurriculum:\n  lr:\n    values: [[0, 1.0]]\n")
	tj, err := json.Marshal(tune.Summary{Key: "model.lr", Epochs: 1, Select: "recall@20", Chosen: 0.05,
		Pilots: []tune.Pilot{{Value: 0.01, RunDir: "tune/model.lr=0.01", Epoch: 1, Score: 0.25}, {Value: 0.05, RunDir: "tune/model.lr=0.05", Epoch: 1, Score: 0.3}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("runs/a", tune.File), tj, 0o644); err != nil {
		t.Fatal(err)
	}
	bCurve := []trainer.EvalRecord{rec(1, 2, 0.20, 0.10, te), rec(2, 4, 0.25, 0.15, te), rec(3, 6, 0.27, 0.16, te)}
	writeRunFixture(t, "runs/b", &trainer.RunResult{Split: te, Select: "recall@20", Checkpoint: "latest",
		Selected: trainer.EpochMetrics{Epoch: 3, Step: 48, Metrics: bCurve[2].Metrics},
		Final:    trainer.EpochMetrics{Epoch: 3, Step: 48, Metrics: bCurve[2].Metrics},
		Test:     bCurve[2].Metrics, Epochs: 3, TrainSeconds: 6, StoppedEarly: false}, nil, bCurve,
		"model:\n  name: \"mf\"\n  lr: 0.01\n  dim: 64\ntrain:\n  select: \"recall@20\"\n  validation:\n    fraction: 0.0\ncurriculum:\n  lr:\n    values: [[0, 0.5]]\n")
	cCurve := []trainer.EvalRecord{rec(1, 5, 0.31, 0.21, v), rec(2, 10, 0.29, 0.2, v)}
	writeRunFixture(t, "runs/c", nil, &trainer.Best{Metric: "recall@20", Value: 0.31, Epoch: 1, Step: 16, Metrics: cCurve[0].Metrics}, cCurve, "")

	var out bytes.Buffer
	if err := runsCompare(&out, []string{"runs/a", "runs/b", "runs/c"}, "", "cmp"); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "runs-compare.golden", out.String())
	for _, f := range []string{"cmp.png", "cmp.svg"} {
		if st, err := os.Stat(f); err != nil || st.Size() < 1000 {
			t.Fatalf("plot %s: %v", f, err)
		}
	}
	svg, _ := os.ReadFile("cmp.svg")
	for _, name := range []string{"runs/a", "runs/b", "runs/c"} {
		if !bytes.Contains(svg, []byte(name)) {
			t.Errorf("plot legend lacks %s", name)
		}
	}
	// --metric picks another column; a directory that is not a run is refused by name.
	out.Reset()
	if err := runsCompare(&out, []string{"runs/a", "runs/b"}, "ndcg@20", ""); err != nil || !strings.Contains(out.String(), "TEST recall@20") ||
		!strings.Contains(out.String(), "SELECTED ndcg@20") || !strings.Contains(out.String(), "0.2800") {
		t.Fatalf("--metric ndcg@20: %v\n%s", err, out.String())
	}
	if err := runsCompare(&out, []string{"runs/a", "runs"}, "", ""); err == nil || !strings.Contains(err.Error(), "runs: neither") {
		t.Fatalf("a non-run directory: err = %v", err)
	}
}

// testdataDir is this package's testdata directory (the test may have
// changed directory).
func testdataDir(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtimeCaller()
	return filepath.Join(filepath.Dir(file), "testdata")
}

// tinyStoreInProcess generates the tiny preset into a temp store.
func tinyStoreInProcess(t *testing.T) string { return teststore.Preset(t, "tiny") }

// trainTiny trains MF on store into run with extra --set values.
func trainTiny(t *testing.T, store, run string, sets ...string) *trainer.Result {
	t.Helper()
	base := []string{"train.device=cpu", "http.addr=127.0.0.1:0", "model.name=mf", "model.loss=bpr", "producer.layers=0",
		"producer.batch_size=128", "producer.negatives.pool_size=100", "model.dim=32", "model.lr=0.05",
		"model.l2=0", "model.normalize=false", "train.epochs=6"}
	cfg, err := config.Load("", append(base, sets...))
	if err != nil {
		t.Fatal(err)
	}
	res, err := trainer.Run(context.Background(), trainer.Options{Config: cfg, StoreDir: store, RunDir: run, Out: &bytes.Buffer{}})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestRunsCompareTrained compares two trained runs that differ in model.lr.
func TestRunsCompareTrained(t *testing.T) {
	store := tinyStoreInProcess(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	ra := trainTiny(t, store, a)
	rb := trainTiny(t, store, b, "model.lr=0.005")
	var out bytes.Buffer
	plot := filepath.Join(dir, "plot")
	if err := runsCompare(&out, []string{a, b}, "", plot); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	t.Logf("\n%s", got)
	lines := strings.Split(got, "\n")
	if !strings.HasPrefix(lines[0], "RUN") || !strings.HasPrefix(lines[1], a+" ") || !strings.HasPrefix(lines[2], b+" ") {
		t.Fatalf("table rows:\n%s", got)
	}
	for i, r := range []*trainer.Result{ra, rb} {
		f := strings.Fields(lines[1+i])
		if f[1] != "validation" || f[2] != itoa(r.Final.Selected.Epoch) || f[3] != metricOf(r.Final.Selected.Metrics, "recall@20") ||
			f[4] != metricOf(r.Final.Test, "recall@20") || f[6] != "6" {
			t.Errorf("row %q does not match result %+v", lines[1+i], r.Final)
		}
	}
	if !strings.Contains(got, "config differences (1 keys;") || !regexpLine(got, `^model\.lr +0\.05 +0\.005$`) {
		t.Fatalf("want exactly model.lr to differ:\n%s", got)
	}
	if _, err := os.Stat(plot + ".svg"); err != nil {
		t.Fatal(err)
	}
}

// TestCheckpointFlag: eval, export and serve default to the best
// checkpoint (eval then prints the test score train recorded), --checkpoint
// latest takes the newest, and a bad value is refused.
func TestCheckpointFlag(t *testing.T) {
	store := tinyStoreInProcess(t)
	run := filepath.Join(t.TempDir(), "run")
	res := trainTiny(t, store, run)
	if res.Final.Checkpoint != "best" || res.Final.Selected.Epoch >= 6 {
		t.Fatalf("precondition: the overfitting run selects an early epoch, got %+v", res.Final)
	}
	evalJSON := func(extra ...string) eval.Metrics {
		t.Helper()
		out, err := execCmd(t, context.Background(), newEvalCmd(), append([]string{"--store", store, "--run-dir", run, "--json"}, extra...)...)
		if err != nil {
			t.Fatalf("eval %v: %v\n%s", extra, err, out)
		}
		var m eval.Metrics
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	if got := evalJSON(); got.Recall(20) != res.Final.Test.Recall(20) || got.NDCG(20) != res.Final.Test.NDCG(20) {
		t.Fatalf("eval (best) %v, train's test result %v", got, res.Final.Test)
	}
	if got := evalJSON("--checkpoint", "best"); got.Recall(20) != res.Final.Test.Recall(20) {
		t.Fatalf("eval --checkpoint best %v", got)
	}
	if got := evalJSON("--checkpoint", "latest"); got.Recall(20) == res.Final.Test.Recall(20) {
		t.Fatalf("eval --checkpoint latest scored the best checkpoint's %v", got.Recall(20))
	}
	for _, tc := range []struct{ which, src string }{{"", filepath.Join(run, trainer.BestDir)}, {"latest", run}} {
		out := filepath.Join(t.TempDir(), "out")
		args := []string{"--run-dir", run, "--out", out}
		if tc.which != "" {
			args = append(args, "--checkpoint", tc.which)
		}
		if o, err := execCmd(t, context.Background(), newExportCmd(), args...); err != nil {
			t.Fatalf("export %v: %v\n%s", args, err, o)
		}
		got, err := export.LoadDir(out)
		if err != nil {
			t.Fatal(err)
		}
		want, err := export.Load(tc.src)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Users, want.Users) || !reflect.DeepEqual(got.Items, want.Items) {
			t.Fatalf("export --checkpoint %q did not write %s's embeddings", tc.which, tc.src)
		}
	}
	for _, c := range storeCmds {
		if err := c.run(t, store, run, "--checkpoint", "newest"); err == nil || !strings.Contains(err.Error(), `--checkpoint "newest"`) {
			t.Errorf("%s --checkpoint newest: err = %v", c.name, err)
		}
	}
	// checkpoints lists the best checkpoint after the others.
	out, err := runCmd(t, newCheckpointsCmd(), "--run-dir", run, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var infos []map[string]any
	if err := json.Unmarshal([]byte(out), &infos); err != nil || len(infos) < 2 {
		t.Fatalf("checkpoints --json: %v\n%s", err, out)
	}
	if b := infos[len(infos)-1]; b["best"] != true || b["valid"] != true || b["step"] != float64(res.Final.Selected.Step) {
		t.Fatalf("last entry is not the best checkpoint at step %d: %v", res.Final.Selected.Step, b)
	}
	for _, in := range infos[:len(infos)-1] {
		if in["best"] != nil {
			t.Fatalf("a checkpoint of the directory is marked best: %v", in)
		}
	}
	// Without a validation split, best means latest.
	flat := filepath.Join(t.TempDir(), "flat")
	fres := trainTiny(t, store, flat, "train.validation.fraction=0", "train.epochs=2")
	out, err = execCmd(t, context.Background(), newEvalCmd(), "--store", store, "--run-dir", flat, "--json")
	if err != nil {
		t.Fatalf("eval of a run without validation: %v\n%s", err, out)
	}
	var m eval.Metrics
	if err := json.Unmarshal([]byte(out), &m); err != nil || m.Recall(20) != fres.Final.Test.Recall(20) {
		t.Fatalf("eval %v (err %v), result %v", m, err, fres.Final.Test)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func runtimeCaller() (uintptr, string, int, bool) { return runtime.Caller(1) }

// regexpLine reports whether some line of s matches pattern.
func regexpLine(s, pattern string) bool {
	return regexp.MustCompile("(?m)" + pattern).MatchString(s)
}
