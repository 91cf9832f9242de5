package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/trainerd/trainerd/checkpoints"
	"github.com/trainerd/trainerd/config"
	"github.com/trainerd/trainerd/eval"
	"github.com/trainerd/trainerd/export"
	"github.com/trainerd/trainerd/internal/atomicfile"
	"github.com/trainerd/trainerd/model"
)

// Run-directory names of the selection and the result.
const (
	// BestDir holds the best checkpoint by train.select on the validation
	// split: BestDir/checkpoint.trd (never pruned by keep_last), its
	// embeddings in BestDir/embeddings and BestFile.
	BestDir = "best"
	// BestFile (inside BestDir) records which epoch BestDir holds; it is
	// written last, so it names the epoch of every file beside it.
	BestFile = "best.json"
	// BestCheckpoint is the file name of the pinned best checkpoint.
	BestCheckpoint = "checkpoint.trd"
	// ResultFile is the run's final result: the selected checkpoint, its
	// test metrics (the only time training reads the test split when it has
	// a validation split), the last epoch's validation metrics.
	ResultFile = "result.json"
	// ConfigFile is the run's effective config, written when training
	// starts (config.Print; `trainerd runs compare` diffs it).
	ConfigFile = "config.yaml"
)

// Split names in EvalRecord.Split and RunResult.
const (
	SplitValidation = "validation"
	SplitTest       = "test"
)

// Best is the content of BestDir/BestFile.
type Best struct {
	// Metric and Value are train.select and its validation value.
	Metric string  `json:"metric"`
	Value  float64 `json:"value"`
	// Epoch and Step locate the checkpoint: the model at the end of Epoch.
	Epoch int `json:"epoch"`
	Step  int `json:"step"`
	// Metrics are all of its validation metrics.
	Metrics eval.Metrics `json:"metrics"`
}

// RunResult is the content of ResultFile.
type RunResult struct {
	// Split is what evaluations during training scored: "validation" (a
	// held-out part of the train split) or "test" (train.validation.fraction
	// 0: no selection, the last epoch is the chosen one).
	Split string `json:"split"`
	// Select is train.select.
	Select string `json:"select"`
	// Checkpoint is "best" (BestDir) or "latest" (RUN/embeddings).
	Checkpoint string `json:"checkpoint"`
	// Selected is the chosen epoch, its step and its metrics on Split.
	Selected EpochMetrics `json:"selected"`
	// Final is the last trained epoch and its metrics on Split (nil when it
	// was not evaluated).
	Final EpochMetrics `json:"final"`
	// Test is the chosen checkpoint's test metrics, with the store's whole
	// train split (held-out edges included) excluded from the ranking, as
	// `trainerd eval` computes them.
	Test eval.Metrics `json:"test"`
	// StoppedEarly is true when train.patience ended the run.
	StoppedEarly bool `json:"stopped_early"`
	// Epochs is the number of epochs trained.
	Epochs int `json:"epochs"`
	// TrainSeconds is the training wall time (evaluations excluded),
	// accumulated over every resume.
	TrainSeconds float64 `json:"train_seconds"`
	// TrainEdges and ValidationEdges are the edges training saw and held out.
	TrainEdges      int `json:"train_edges"`
	ValidationEdges int `json:"validation_edges"`
	// Finished is when the result was written.
	Finished time.Time `json:"finished"`
}

// EpochMetrics is one epoch's evaluation.
type EpochMetrics struct {
	Epoch   int          `json:"epoch"`
	Step    int          `json:"step,omitempty"`
	Metrics eval.Metrics `json:"metrics"`
}

// ReadResult reads RUN/ResultFile.
func ReadResult(runDir string) (*RunResult, error) {
	var r RunResult
	if err := readJSON(filepath.Join(runDir, ResultFile), &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ReadBest reads RUN/BestDir/BestFile.
func ReadBest(runDir string) (*Best, error) {
	var b Best
	if err := readJSON(filepath.Join(runDir, BestDir, BestFile), &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// ReadCurve reads RUN/CurveFile.
func ReadCurve(runDir string) ([]EvalRecord, error) {
	var recs []EvalRecord
	if err := readJSON(filepath.Join(runDir, CurveFile), &recs); err != nil {
		return nil, err
	}
	return recs, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("trainer: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("trainer: %s: %w", path, err)
	}
	return nil
}

func saveJSON(path string, v any) error {
	if err := atomicfile.Write(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}); err != nil {
		return fmt.Errorf("trainer: %w", err)
	}
	return nil
}

// selectValue is the train.select metric of m (NaN when m lacks it).
func (j *job) selectValue(m eval.Metrics) float64 {
	v, ok := m[j.cfg.Train.Select]
	if !ok {
		return math.NaN()
	}
	return v
}

// evalOptions are the cut-offs every evaluation computes: train.eval_k and
// train.select's K.
func (j *job) evalOptions() eval.Options {
	o := eval.Options{K: j.cfg.Train.EvalK}
	if _, k, ok := config.ParseSelect(j.cfg.Train.Select); ok && k > 0 && k != o.K {
		o.Ks = []int{k}
	}
	return o
}

// updateSelection folds the evaluation of epoch (metrics m, at global step)
// into sel and reports whether it is a new best. A tie keeps the earlier
// epoch; a NaN never improves.
func updateSelection(sel *checkpoints.Selection, metric string, epoch, step int, v float64) bool {
	if sel.Epoch == 0 || v > float64(sel.Value) || (math.IsNaN(float64(sel.Value)) && !math.IsNaN(v)) {
		*sel = checkpoints.Selection{Metric: metric, Epoch: epoch, Step: step, Value: checkpoints.Float(v)}
		return true
	}
	sel.Stale++
	return false
}

// writeBest stores the best model: its embeddings, its checkpoint (pinned
// from ckptPath, the epoch-end checkpoint that holds it) and BestFile, in
// that order, so BestFile names the epoch of the others.
func (j *job) writeBest(e *export.Embeddings, ckptPath string, b Best) error {
	dir := filepath.Join(j.o.RunDir, BestDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("trainer: best: %w", err)
	}
	if err := export.Save(dir, e); err != nil {
		return fmt.Errorf("trainer: best embeddings: %w", err)
	}
	if err := checkpoints.Pin(ckptPath, filepath.Join(dir, BestCheckpoint)); err != nil {
		return fmt.Errorf("trainer: best checkpoint: %w", err)
	}
	if err := saveJSON(filepath.Join(dir, BestFile), b); err != nil {
		return fmt.Errorf("trainer: best: %w", err)
	}
	j.log.Debug("best checkpoint", "epoch", b.Epoch, "metric", b.Metric, "value", b.Value, "checkpoint", ckptPath)
	return nil
}

// ensureBest runs on resume from ck: when ck's selection names a best epoch
// that BestDir does not hold (a crash between the epoch-end checkpoint and
// writing BestDir), and ck is that epoch-end checkpoint (the model just
// loaded), it writes BestDir again from the model.
func (j *job) ensureBest(ctx context.Context, ck *checkpoints.Checkpoint) error {
	sel := ck.Best
	if j.val == nil || sel.Epoch == 0 {
		return nil
	}
	if b, err := ReadBest(j.o.RunDir); err == nil && b.Epoch == sel.Epoch && b.Step == sel.Step {
		return nil
	}
	if ck.Epoch != sel.Epoch+1 || ck.BatchCursor != 0 || ck.Step != sel.Step {
		j.log.Error("best checkpoint missing and not recoverable from the resumed checkpoint; it will be kept again at the next new best",
			"dir", filepath.Join(j.o.RunDir, BestDir), "best_epoch", sel.Epoch, "resumed", ck.Path)
		return nil
	}
	var metrics eval.Metrics
	for _, r := range j.curve {
		if r.Epoch == sel.Epoch {
			metrics = r.Metrics
		}
	}
	j.embedEpoch = sel.Epoch
	e, err := j.embeddings(ctx)
	if err != nil {
		return err
	}
	j.log.Info("rewriting the best checkpoint the previous process did not finish", "epoch", sel.Epoch)
	return j.writeBest(e, ck.Path, Best{Metric: sel.Metric, Value: float64(sel.Value), Epoch: sel.Epoch, Step: sel.Step, Metrics: metrics})
}

// finish scores the chosen checkpoint on the test split once, writes
// ResultFile and prints the result. latest are the final embeddings.
func (j *job) finish(ctx context.Context, pos checkpoints.Position, latest *export.Embeddings) (*RunResult, error) {
	r := &RunResult{Split: SplitTest, Select: j.cfg.Train.Select, Checkpoint: "latest",
		StoppedEarly: pos.Best.Stopped, Epochs: pos.Epoch - 1, TrainSeconds: j.trainSec,
		TrainEdges: j.train.NumEdges(), Finished: time.Now().UTC()}
	if n := len(j.curve); n > 0 && j.curve[n-1].Epoch == r.Epochs {
		r.Final = EpochMetrics{Epoch: r.Epochs, Step: pos.Step, Metrics: j.curve[n-1].Metrics}
	} else {
		r.Final = EpochMetrics{Epoch: r.Epochs, Step: pos.Step}
	}
	chosen := latest
	r.Selected = r.Final
	if j.val != nil {
		r.Split, r.ValidationEdges = SplitValidation, j.val.NumEdges()
		b, err := ReadBest(j.o.RunDir)
		switch {
		case err == nil && b.Epoch == pos.Best.Epoch:
			var e *export.Embeddings
			if j.resumed != nil && j.resumed.ConfigHash != j.hash {
				// A forced resume with another config (say, other
				// embed-only keys): the best model is embedded and
				// validated again under it, as the latest just was.
				if e, b, err = j.reembedBest(ctx, b); err != nil {
					return nil, err
				}
			} else if e, err = export.Load(filepath.Join(j.o.RunDir, BestDir)); err != nil {
				return nil, fmt.Errorf("trainer: best embeddings: %w", err)
			}
			chosen, r.Checkpoint = e, "best"
			r.Selected = EpochMetrics{Epoch: b.Epoch, Step: b.Step, Metrics: b.Metrics}
		case pos.Best.Epoch == 0:
			j.log.Warn("no evaluation selected a checkpoint: the result is the last epoch's", "run_dir", j.o.RunDir)
		default:
			j.log.Error("best checkpoint missing: the result is the last epoch's", "run_dir", j.o.RunDir, "best_epoch", pos.Best.Epoch, "err", err)
		}
	}
	m, err := eval.Evaluate(ctx, chosen.Users, chosen.Items, chosen.Dim, j.fullTrain, j.test, j.evalOptions())
	if err != nil {
		return nil, fmt.Errorf("trainer: test evaluation: %w", err)
	}
	r.Test = m
	if err := saveJSON(filepath.Join(j.o.RunDir, ResultFile), r); err != nil {
		return nil, fmt.Errorf("trainer: result: %w", err)
	}
	k := j.cfg.Train.EvalK
	line := fmt.Sprintf("test  epoch %d (%s checkpoint", r.Selected.Epoch, r.Checkpoint)
	if r.Split == SplitValidation {
		line += fmt.Sprintf(", %s %.4f on validation", r.Select, r.Selected.Metrics[r.Select])
	}
	line += fmt.Sprintf(")  recall@%d %.4f  ndcg@%d %.4f", k, m.Recall(k), k, m.NDCG(k))
	if _, ok := m[r.Select]; ok && r.Select != eval.Key("recall", k) && r.Select != eval.Key("ndcg", k) {
		line += fmt.Sprintf("  %s %.4f", r.Select, m[r.Select])
	}
	if r.StoppedEarly {
		line += fmt.Sprintf("  (stopped early after epoch %d)", r.Epochs)
	}
	fmt.Fprintln(j.o.Out, line)
	return r, nil
}

// reembedBest loads the best checkpoint into the model, embeds it with the
// run's config, scores it on the validation split and rewrites the best
// embeddings and BestFile (same epoch; the metrics may change). The model
// keeps the best's state: finish calls it after the last training.
func (j *job) reembedBest(ctx context.Context, b *Best) (*export.Embeddings, *Best, error) {
	dir := filepath.Join(j.o.RunDir, BestDir)
	ck, err := checkpoints.Read(filepath.Join(dir, BestCheckpoint))
	if err != nil {
		return nil, nil, fmt.Errorf("trainer: best checkpoint: %w", err)
	}
	state := make([]model.Tensor, len(ck.Tensors))
	for i, t := range ck.Tensors {
		state[i] = model.Tensor(t)
	}
	if err := j.model.Load(state); err != nil {
		return nil, nil, fmt.Errorf("trainer: load %s: %w", ck.Path, err)
	}
	j.embedEpoch = b.Epoch
	e, err := j.embeddings(ctx)
	if err != nil {
		return nil, nil, err
	}
	m, err := eval.Evaluate(ctx, e.Users, e.Items, e.Dim, j.train, j.val, j.evalOptions())
	if err != nil {
		return nil, nil, fmt.Errorf("trainer: evaluate best: %w", err)
	}
	nb := *b
	nb.Metrics, nb.Value = m, j.selectValue(m)
	if err := export.Save(dir, e); err != nil {
		return nil, nil, fmt.Errorf("trainer: best embeddings: %w", err)
	}
	if err := saveJSON(filepath.Join(dir, BestFile), nb); err != nil {
		return nil, nil, fmt.Errorf("trainer: best: %w", err)
	}
	j.log.Info("re-embedded the best checkpoint under this run's config", "epoch", b.Epoch, b.Metric, nb.Value, "was", b.Value)
	return e, &nb, nil
}

// writeConfig writes RUN/ConfigFile.
func (j *job) writeConfig() error {
	err := atomicfile.Write(filepath.Join(j.o.RunDir, ConfigFile), func(w io.Writer) error {
		if _, err := fmt.Fprintf(w, "# trainerd effective config; hash %s\n", j.hash); err != nil {
			return err
		}
		return config.Print(w, j.cfg)
	})
	if err != nil {
		return fmt.Errorf("trainer: %w", err)
	}
	return nil
}

// isCancel reports whether err comes from a cancelled context.
func isCancel(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, context.Canceled)
}
