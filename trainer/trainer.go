// Package trainer runs one training job end to end: it opens the feature
// store, builds the producers' sampler and the model, resumes from the newest
// valid checkpoint, drives producers → consumer epoch by epoch with the
// curriculum, checkpoints (every N steps, every M minutes, at epoch ends and
// on interrupt), evaluates every E epochs, writes embeddings, the training
// curve and the status, and serves metrics over HTTP.
//
// The parts run as actors in an oklog/run group (training loop, HTTP server)
// with one interrupt path: cancelling the context passed to Run makes the
// loop finish its current step, write a checkpoint and return, which stops
// the rest.
//
// Exactness: a batch is a pure function of (seed, epoch, index, curriculum
// params) and model steps are deterministic, so a run resumed from any
// checkpoint ends with the same parameters as an uninterrupted one.
package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/oklog/run"

	"github.com/trainerd/trainerd/checkpoints"
	"github.com/trainerd/trainerd/config"
	"github.com/trainerd/trainerd/consumer"
	"github.com/trainerd/trainerd/curriculum"
	"github.com/trainerd/trainerd/dataset"
	"github.com/trainerd/trainerd/eval"
	"github.com/trainerd/trainerd/export"
	"github.com/trainerd/trainerd/featurestore"
	"github.com/trainerd/trainerd/graph"
	"github.com/trainerd/trainerd/internal/atomicfile"
	"github.com/trainerd/trainerd/model"
	"github.com/trainerd/trainerd/obs"
	"github.com/trainerd/trainerd/producer"
)

// Options configure one run.
type Options struct {
	// Config is the validated training config.
	Config *config.Config
	// StoreDir is the feature store; RunDir receives checkpoints,
	// embeddings, curves and the status.
	StoreDir string
	RunDir   string
	// Force resumes from a checkpoint made with another config or data set.
	Force bool
	// Device names where the consumer runs ("cpu", "cuda:0"), for status.
	Device string
	// NewModel builds the model; nil means consumer.New (the CPU consumer).
	// The CUDA binary passes its own constructor.
	NewModel func(model.Config, model.Info) (model.Model, error)
	// Logger receives structured logs; nil means slog.Default().
	Logger *slog.Logger
	// Out receives one line per epoch; nil means os.Stdout.
	Out io.Writer
	// Progress, when non-nil, shows a live progress line.
	Progress *obs.Progress
	// Ready, when non-nil, is called with the HTTP server's address once it
	// listens (tests use it to find a :0 port), or with "" when http.addr
	// is empty and no server runs.
	Ready func(httpAddr string)
	// StopAfter, when > 0, trains through epoch StopAfter only (evaluating
	// it whatever train.eval_every says), checkpoints and returns with
	// Result.Paused; the test split is never read. Started again, such a run
	// resumes and returns at once. Pilot runs of train.tune use it.
	StopAfter int
}

// Result summarises a finished (or interrupted) run.
type Result struct {
	Epoch, Step int
	// Interrupted is true when the run stopped on a cancelled context.
	Interrupted bool
	// Paused is true when the run stopped after Options.StopAfter epochs.
	Paused bool
	// Eval is the last evaluation (on the validation split when the run has
	// one, else on test).
	Eval eval.Metrics
	// Final is the finished run's result (also in ResultFile): the selected
	// checkpoint and its test metrics. Nil when interrupted.
	Final *RunResult
	// Checkpoint is the last checkpoint written.
	Checkpoint string
	// Producer holds the sampler's counters for this process (not
	// carried across a resume).
	Producer producer.SamplerStats
}

// CurveFile is the run-directory file holding the evaluation history, one
// record per evaluated epoch, by ascending epoch.
const CurveFile = "curve.json"

// LockFile is the run-directory file a training process holds an exclusive
// lock (flock) on for its lifetime; it holds the holder's pid. Readers of a
// run (eval, export, serve) do not take it.
const LockFile = ".trainerd.lock"

// ErrRunDirLocked: another process is training in the run directory.
var ErrRunDirLocked = errors.New("run directory in use")

// EvalRecord is one evaluation in the run's history (CurveFile).
type EvalRecord struct {
	Epoch int `json:"epoch"`
	// Loss is the epoch's mean training loss.
	Loss float64 `json:"loss"`
	// TrainSeconds is the training wall time accumulated up to this epoch.
	TrainSeconds float64      `json:"train_seconds"`
	Metrics      eval.Metrics `json:"metrics"`
	// Split is the split Metrics were computed on: SplitValidation or
	// SplitTest.
	Split string `json:"split,omitempty"`
}

// Run trains until the configured number of epochs is done or ctx is
// cancelled; an interrupt is not an error.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.NewModel == nil {
		o.NewModel = consumer.New
	}
	if o.Device == "" {
		o.Device = "cpu"
	}
	if err := os.MkdirAll(o.RunDir, 0o755); err != nil {
		return nil, fmt.Errorf("trainer: run dir: %w", err)
	}
	lock, err := lockRunDir(o.RunDir)
	if err != nil {
		return nil, err
	}
	defer lock.release()
	j, err := newJob(o)
	if err != nil {
		return nil, err
	}
	defer j.close()

	var g run.Group
	var res *Result
	trainCtx, cancel := context.WithCancel(ctx)
	g.Add(func() error {
		var err error
		res, err = j.loop(trainCtx)
		return err
	}, func(error) { cancel() })

	if o.Config.HTTP.Addr == "" { // http.addr "" disables the server
		o.Logger.Info("http server off (http.addr is empty)")
		if o.Ready != nil {
			o.Ready("")
		}
	} else {
		srv := obs.NewServer(o.Config.HTTP.Addr, j.metrics, &j.status)
		if err := srv.Listen(); err != nil {
			return nil, fmt.Errorf("trainer: http %s: %w", o.Config.HTTP.Addr, err)
		}
		o.Logger.Info("http listening", "addr", srv.Addr(), "endpoints", "/ /metrics /healthz /status", "page", "http://"+srv.Addr()+"/")
		if o.Ready != nil {
			o.Ready(srv.Addr())
		}
		g.Add(func() error { return srv.Serve() }, func(error) {
			sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
			defer c()
			_ = srv.Shutdown(sctx)
		})
	}
	if err := g.Run(); err != nil {
		j.status.Update(func(s *obs.Status) { s.State = "failed"; s.Error = err.Error() })
		return res, err
	}
	return res, nil
}

// job is one run's wired parts.
type job struct {
	o     Options
	cfg   *config.Config
	log   *slog.Logger
	store *featurestore.Store
	// train is the graph training sees (the store's train split less the
	// validation edges); fullTrain is the store's whole train split, which
	// the test evaluation excludes from rankings.
	train, fullTrain *graph.Bipartite
	// val is the held-out validation split (nil when
	// train.validation.fraction is 0); test the store's test split.
	val, test *graph.Bipartite
	// resumed is the checkpoint the run resumed from (nil: from scratch).
	resumed *checkpoints.Checkpoint
	sampler *producer.Sampler
	model   model.Model
	sched   *curriculum.Schedule
	hash    string
	fp      string
	metrics *obs.Metrics
	status  obs.StatusBox
	userIDs []string
	itemIDs []string
	ckw     *checkpoints.Writer
	curve   []EvalRecord
	// embedEpoch is the epoch whose neighborhoods Embed samples.
	embedEpoch int
	trainSec   float64
}

func newJob(o Options) (*job, error) {
	cfg := o.Config
	j := &job{o: o, cfg: cfg, log: o.Logger, metrics: obs.NewMetrics(),
		ckw: checkpoints.NewWriter(checkpoints.Dir(o.RunDir), cfg.Checkpoint.KeepLast)}
	store, err := featurestore.Open(o.StoreDir, featurestore.Options{ReadOnly: true, Logger: o.Logger})
	if err != nil {
		return nil, fmt.Errorf("trainer: store %s: %w", o.StoreDir, err)
	}
	j.store = store
	if err := j.wire(); err != nil {
		store.Close()
		return nil, err
	}
	return j, nil
}

func (j *job) close() { j.store.Close() }

func (j *job) wire() error {
	cfg, st := j.cfg, j.store
	stats := st.Stats()
	g, err := st.LoadGraph()
	if err != nil {
		return fmt.Errorf("trainer: load graph: %w", err)
	}
	testEdges, err := st.Interactions("test")
	if err != nil {
		return fmt.Errorf("trainer: test split: %w", err)
	}
	te := make([]graph.Edge, len(testEdges))
	for i, e := range testEdges {
		te[i] = graph.Edge{User: e.User, Item: e.Item}
	}
	if j.test, err = graph.Build(stats.Users, stats.Items, te); err != nil {
		return fmt.Errorf("trainer: test graph: %w", err)
	}
	j.train, j.fullTrain = g, g
	if f := cfg.Train.Validation.Fraction; f > 0 {
		if j.train, j.val, err = Holdout(g, j.test, f, cfg.ValidationSeed()); err != nil {
			return err
		}
		if j.val.NumEdges() == 0 {
			return fmt.Errorf("trainer: train.validation.fraction %g holds out no edge of store %s (its users have too few train edges): "+
				"raise it, or set train.validation.fraction 0 to evaluate on the test split without selection", f, j.o.StoreDir)
		}
		g = j.train
	}
	if j.userIDs, err = st.IDs(dataset.User); err != nil {
		return err
	}
	if j.itemIDs, err = st.IDs(dataset.Item); err != nil {
		return err
	}

	pcfg := cfg.SamplerConfig()
	var fs producer.FeatureSource
	info := model.Info{NumUsers: stats.Users, NumItems: stats.Items, Graph: g,
		UserFeatDim: stats.UserFeatureDim, ItemFeatDim: stats.ItemFeatureDim}
	if cfg.ReadsFeatures() && stats.UserFeatureDim+stats.ItemFeatureDim > 0 {
		fs = st
		if info.UserFeatures, err = st.FeatureMatrix(dataset.User); err != nil {
			return err
		}
		if info.ItemFeatures, err = st.FeatureMatrix(dataset.Item); err != nil {
			return err
		}
	} else {
		info.UserFeatDim, info.ItemFeatDim = 0, 0
	}
	if j.sampler, err = producer.New(g, fs, pcfg); err != nil {
		return fmt.Errorf("trainer: producer: %w", err)
	}
	mcfg := cfg.ModelConfig()
	// Run-relative schedule lengths (epochs, the whole run) become steps
	// of this data set; the hash covers the steps, so a resume whose
	// resolved schedule differs (another train.epochs under a whole-run
	// cosine) is refused like any other config change.
	mcfg.WarmupSteps, mcfg.DecaySteps = cfg.RunSchedule(j.sampler.BatchesPerEpoch())
	if err := checkModelMemory(cfg.ParamBytes(stats.Users, stats.Items), availableMemory(), mcfg.Dim, stats.Users, stats.Items); err != nil {
		return err
	}
	if j.model, err = j.o.NewModel(mcfg, info); err != nil {
		return fmt.Errorf("trainer: model: %w", err)
	}
	if ns, ok := j.model.(model.NeighborSetter); ok {
		// Embed convolves over the producer's neighborhoods, sampled as
		// training samples them (the epoch's randomness).
		T := j.sampler.Config().Neighbors.T
		ns.SetNeighbors(func(node uint32, nbr []uint32, w []float32) int {
			return j.sampler.Neighborhood(j.embedEpoch, node, nbr, w)
		}, T)
	}
	if j.sched, err = cfg.Schedule(); err != nil {
		return fmt.Errorf("trainer: curriculum: %w", err)
	}
	j.hash = cfg.RunHash(j.sampler.BatchesPerEpoch())
	j.fp = st.Fingerprint()
	j.log.Info("wired", "model", mcfg.Model, "users", stats.Users, "items", stats.Items,
		"train_edges", g.NumEdges(), "validation_edges", edges(j.val), "test_edges", len(testEdges), "batches_per_epoch", j.sampler.BatchesPerEpoch(),
		"device", j.o.Device, "lr_schedule", mcfg.LRSchedule, "warmup_steps", mcfg.WarmupSteps, "decay_steps", mcfg.DecaySteps)
	return nil
}

// edges is g's edge count, 0 for nil.
func edges(g *graph.Bipartite) int {
	if g == nil {
		return 0
	}
	return g.NumEdges()
}

// hyper is what the trainer overrides in the model at (epoch, step): with
// model.lr_unit epoch the learning rate, the model's schedule held for the
// epoch (config.EpochLR); the curriculum's margin when it schedules one.
// Zero fields keep the model's own value (with lr_unit step the model
// follows model.lr_schedule at every step itself).
func (j *job) hyper(epoch, step int) model.Hyper {
	var h model.Hyper
	if lr, ok := j.cfg.EpochLR(j.sampler.BatchesPerEpoch(), epoch); ok {
		h.LR = lr
	}
	if j.cfg.Curriculum.Margin.Kind != "" {
		h.Margin = j.sched.At(epoch, step).Margin
	}
	return h
}

// epochParams maps the curriculum onto the producer's per-epoch knobs.
func epochParams(p curriculum.Params) producer.EpochParams {
	return producer.EpochParams{HardPer: p.HardPer, PoolSize: p.PoolSize, RankLo: p.RankLo, RankHi: p.RankHi}
}

// resume loads the newest valid checkpoint and returns its position (epoch
// 1 with none). When checkpoint files exist but none is usable it refuses,
// listing each file and why, unless Force: then it logs that loudly, moves
// the files to the checkpoint directory's corrupt/ and starts from scratch.
func (j *job) resume(ctx context.Context) (checkpoints.Position, error) {
	pos, err := j.resumeCheckpoint()
	if err != nil {
		return pos, err
	}
	if err := j.loadCurve(pos.Epoch); err != nil {
		return pos, err
	}
	if j.resumed != nil {
		if err := j.ensureBest(ctx, j.resumed); err != nil {
			return pos, err
		}
	}
	return pos, nil
}

func (j *job) resumeCheckpoint() (checkpoints.Position, error) {
	pos := checkpoints.Position{Epoch: 1}
	dir := checkpoints.Dir(j.o.RunDir)
	ck, skipped, err := checkpoints.Latest(dir) // logs each skipped file
	if errors.Is(err, checkpoints.ErrNoCheckpoint) || errors.Is(err, os.ErrNotExist) {
		if len(skipped) == 0 {
			return pos, nil
		}
		if !j.o.Force {
			var b strings.Builder
			for _, s := range skipped {
				fmt.Fprintf(&b, "\n  %v", s.Err) // names the file
			}
			return pos, fmt.Errorf("trainer: %s: none of its %d checkpoint files is usable, refusing to start over from scratch:%s\n"+
				"run with --force to move them to %s and train from scratch: %w",
				dir, len(skipped), b.String(), filepath.Join(dir, checkpoints.CorruptDir), checkpoints.ErrNoCheckpoint)
		}
		j.log.Error("every checkpoint is unusable: training from scratch (forced); moving them aside",
			"dir", dir, "files", len(skipped))
		for _, s := range skipped {
			dst, err := checkpoints.MoveAside(s.Path)
			if err != nil {
				return pos, fmt.Errorf("trainer: %w", err)
			}
			j.log.Error("moved unusable checkpoint aside", "path", s.Path, "to", dst, "reason", s.Err)
		}
		return pos, nil
	}
	if err != nil {
		return pos, fmt.Errorf("trainer: checkpoints: %w", err)
	}
	if err := ck.Check(j.hash, j.fp, j.o.Force); err != nil {
		return pos, fmt.Errorf("trainer: %w", err) // the error names the file and --force
	}
	state := make([]model.Tensor, len(ck.Tensors))
	for i, t := range ck.Tensors {
		state[i] = model.Tensor(t)
	}
	if err := j.model.Load(state); err != nil {
		return pos, fmt.Errorf("trainer: load %s: %w", ck.Path, err)
	}
	j.trainSec = ck.TrainSeconds
	j.resumed = ck
	j.log.Info("resumed", "checkpoint", ck.Path, "epoch", ck.Epoch, "step", ck.Step, "batch", ck.BatchCursor)
	return ck.Position, nil
}

func (j *job) save(pos checkpoints.Position) (string, error) {
	st := j.model.State()
	ts := make([]checkpoints.Tensor, len(st))
	for i, t := range st {
		ts[i] = checkpoints.Tensor(t)
	}
	ck := &checkpoints.Checkpoint{Header: checkpoints.Header{Position: pos, ConfigHash: j.hash,
		Fingerprint: j.fp, WallTime: time.Now(), TrainSeconds: j.trainSec}, Tensors: ts}
	j.log.Debug("writing checkpoint", "epoch", pos.Epoch, "step", pos.Step, "batch", pos.BatchCursor)
	path, err := j.ckw.Save(ck)
	if err != nil {
		return "", fmt.Errorf("trainer: checkpoint: %w", err)
	}
	j.metrics.CheckpointWritten(time.Now())
	j.status.Update(func(s *obs.Status) { s.LastCheckpoint = path })
	j.log.Debug("checkpoint", "path", path, "epoch", pos.Epoch, "step", pos.Step, "batch", pos.BatchCursor)
	return path, nil
}

func (j *job) loop(ctx context.Context) (*Result, error) {
	cfg := j.cfg
	res := &Result{}
	j.status.Update(func(s *obs.Status) {
		s.State, s.Model, s.Device, s.RunDir, s.Epochs = "starting", cfg.Model.Model, j.o.Device, j.o.RunDir, cfg.Train.Epochs
		s.ConfigHash, s.Started = j.hash, time.Now()
		s.Config = obs.RunConfig{Loss: cfg.Model.Loss, Dim: cfg.Model.Dim, Layers: cfg.Model.Layers,
			BatchSize: cfg.Producer.BatchSize, LR: cfg.Model.LR}
		s.BatchesPerEpoch = j.sampler.BatchesPerEpoch()
	})
	if err := j.writeConfig(); err != nil {
		return res, err
	}
	pos, err := j.resume(ctx)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) && j.resumed != nil {
			res.Interrupted = true // rewriting the best files; the next start does it again
			return res, nil
		}
		return res, err
	}
	stepCtx := context.WithoutCancel(ctx) // a step, once begun, always finishes
	tunable, _ := j.model.(model.Tunable)
	lastCkpt := time.Now()
	perEpoch := j.sampler.BatchesPerEpoch()
	workers, queue := cfg.Producer.Workers, cfg.Producer.Queue
	j.status.Update(func(s *obs.Status) { s.State = "training" })

	// Early stopping compares the selection state with this run's
	// train.patience (not hashed: it may change on a resume), so a raised
	// or zeroed patience lets a stopped run go on.
	stale := func() bool { return cfg.Train.Patience > 0 && j.val != nil && pos.Best.Stale >= cfg.Train.Patience }
	if pos.Best.Stopped && !stale() {
		pos.Best.Stopped = false
		j.log.Info("train.patience allows more evaluations without a new best: training goes on", "patience", cfg.Train.Patience, "stale", pos.Best.Stale)
	}
	last := cfg.Train.Epochs // the last epoch this process trains
	if j.o.StopAfter > 0 {
		last = min(last, j.o.StopAfter)
	}
	for pos.Epoch <= last && !pos.Best.Stopped {
		epoch := pos.Epoch
		params := j.sched.At(epoch, pos.Step)
		pl := producer.NewPipeline(ctx, j.sampler, workers, queue, epoch, pos.BatchCursor, epochParams(params))
		// epochStart restarts after each mid-epoch checkpoint (train
		// seconds accrue per segment); epochT0 stays at the epoch's start
		// for its examples/s and the epoch line.
		epochStart := time.Now()
		epochT0 := epochStart
		// examples counts this process's share of the epoch (its rate);
		// pos carries the whole epoch's loss sum, steps and examples.
		var examples int
		var waited time.Duration
		interrupted := false
		for {
			t0 := time.Now()
			b, err := pl.Next(ctx)
			waited += time.Since(t0)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				if ctx.Err() != nil {
					interrupted = true
					break
				}
				pl.Close()
				return res, fmt.Errorf("trainer: producer: epoch %d: %w", epoch, err)
			}
			if tunable != nil {
				tunable.SetHyper(j.hyper(epoch, pos.Step))
			}
			st, err := j.model.Step(stepCtx, b)
			pl.Release(b)
			if err != nil {
				pl.Close()
				return res, fmt.Errorf("trainer: step %d (epoch %d batch %d): %w", pos.Step, epoch, pos.BatchCursor, err)
			}
			pos.Step++
			pos.BatchCursor++
			pos.EpochLossSum += checkpoints.Float(st.Loss)
			pos.EpochLossCount++
			pos.EpochExamples += st.Examples
			examples += st.Examples
			j.observe(pos, st, examples, epochT0, waited, pl.Stats().QueueDepth, perEpoch)
			if ctx.Err() != nil {
				interrupted = true
				break
			}
			due := cfg.Checkpoint.EverySteps > 0 && pos.Step%cfg.Checkpoint.EverySteps == 0
			due = due || (cfg.Checkpoint.EveryMinutes > 0 && time.Since(lastCkpt).Minutes() >= cfg.Checkpoint.EveryMinutes)
			if due && pos.BatchCursor < perEpoch {
				j.trainSec += time.Since(epochStart).Seconds()
				epochStart = time.Now()
				if res.Checkpoint, err = j.save(pos); err != nil {
					pl.Close()
					return res, err
				}
				lastCkpt = time.Now()
			}
		}
		pl.Close()
		j.trainSec += time.Since(epochStart).Seconds()
		res.Epoch, res.Step = pos.Epoch, pos.Step
		// stop checkpoints pos as it stands and ends the run as interrupted.
		// With BatchCursor at the epoch's end, the checkpoint records
		// "epoch trained, its end (evaluation) pending", which a resume runs.
		stop := func() (*Result, error) {
			if j.o.Progress != nil {
				j.o.Progress.Clear()
			}
			path, err := j.save(pos)
			if err != nil {
				return res, err
			}
			res.Checkpoint, res.Interrupted = path, true
			j.log.Info("interrupted: checkpoint written, stopping", "path", path, "epoch", epoch, "step", pos.Step, "batch", pos.BatchCursor)
			j.status.Update(func(s *obs.Status) { s.State = "stopped" })
			return res, nil
		}
		if interrupted {
			return stop()
		}
		secs := time.Since(epochT0).Seconds()
		loss := 0.0
		if pos.EpochLossCount > 0 {
			loss = float64(pos.EpochLossSum) / float64(pos.EpochLossCount)
		}
		evalDue := epoch == cfg.Train.Epochs || epoch == j.o.StopAfter || (cfg.Train.EvalEvery > 0 && epoch%cfg.Train.EvalEvery == 0)
		line := fmt.Sprintf("epoch %3d  loss %.4f  examples/s %8.0f  train %.1fs", epoch, loss, float64(examples)/max(secs, 1e-9), secs)
		var best *Best // set when this epoch's evaluation is a new best
		var bestEmb *export.Embeddings
		if evalDue {
			j.log.Debug("evaluating", "epoch", epoch)
			m, e, evalSec, err := j.evaluate(ctx, epoch, loss)
			if err != nil {
				if ctx.Err() == nil {
					return res, err
				}
				// Interrupted mid-evaluation: the epoch is trained but not
				// evaluated, and the checkpoint must say so.
				return stop()
			}
			res.Eval = m
			k := cfg.Train.EvalK
			line += fmt.Sprintf("  recall@%d %.4f  ndcg@%d %.4f  eval %.1fs", k, m.Recall(k), k, m.NDCG(k), evalSec)
			if j.val != nil {
				if updateSelection(&pos.Best, cfg.Train.Select, epoch, pos.Step, j.selectValue(m)) {
					best = &Best{Metric: cfg.Train.Select, Value: j.selectValue(m), Epoch: epoch, Step: pos.Step, Metrics: m}
					bestEmb = e
					line += "  best"
				}
				if stale() && epoch < cfg.Train.Epochs {
					pos.Best.Stopped = true
					line += fmt.Sprintf("\nstopping early: no better %s on validation in %d evaluations since epoch %d (%.4f)",
						cfg.Train.Select, pos.Best.Stale, pos.Best.Epoch, float64(pos.Best.Value))
				}
			}
		}
		if j.o.Progress != nil {
			j.o.Progress.Clear()
		}
		fmt.Fprintln(j.o.Out, line)
		pos.Epoch++
		pos.BatchCursor = 0
		pos.EpochLossSum, pos.EpochLossCount, pos.EpochExamples = 0, 0, 0
		if res.Checkpoint, err = j.save(pos); err != nil {
			return res, err
		}
		lastCkpt = time.Now()
		if best != nil {
			// After the checkpoint that holds this model: a crash in
			// between leaves that checkpoint naming a best epoch BestDir
			// lacks, which the resume (ensureBest) writes again.
			if err := j.writeBest(bestEmb, res.Checkpoint, *best); err != nil {
				return res, err
			}
		}
		if ctx.Err() != nil {
			res.Interrupted = true
			return res, nil
		}
	}
	res.Epoch, res.Step = pos.Epoch-1, pos.Step
	res.Producer = j.sampler.Stats()
	if j.o.StopAfter > 0 {
		// Paused at StopAfter, or before it by train.patience: a pilot never
		// scores the test split.
		res.Paused = true
		j.status.Update(func(s *obs.Status) { s.State = "paused" })
		return res, nil
	}
	latest, err := j.writeEmbeddings(ctx, pos.Epoch-1)
	if err == nil {
		res.Final, err = j.finish(ctx, pos, latest)
	}
	if err != nil {
		if isCancel(ctx, err) {
			// Every epoch is checkpointed: the next start only redoes this.
			res.Interrupted = true
			j.status.Update(func(s *obs.Status) { s.State = "stopped" })
			return res, nil
		}
		return res, err
	}
	j.status.Update(func(s *obs.Status) { s.State = "done" })
	return res, nil
}

func (j *job) observe(pos checkpoints.Position, st model.StepStats, examples int, start time.Time, waited time.Duration, depth, perEpoch int) {
	el := time.Since(start).Seconds()
	eps := float64(examples) / max(el, 1e-9)
	m := j.metrics
	m.Loss.Set(st.Loss)
	m.Examples.Add(float64(st.Examples))
	m.Batches.Inc()
	m.ExamplesPerSec.Set(eps)
	m.BatchesPerSec.Set(float64(pos.BatchCursor) / max(el, 1e-9))
	m.QueueDepth.Set(float64(depth))
	m.ConsumerWait.Set(waited.Seconds() / max(el, 1e-9))
	m.Epoch.Set(float64(pos.Epoch))
	m.Step.Set(float64(pos.Step))
	j.status.Update(func(s *obs.Status) {
		s.Epoch, s.Step, s.Batch, s.Loss, s.ExamplesPerSec = pos.Epoch, pos.Step, pos.BatchCursor, st.Loss, eps
	})
	if p := j.o.Progress; p != nil {
		p.Update("epoch %d  batch %d/%d  loss %.4f  %.0f examples/s", pos.Epoch, pos.BatchCursor, perEpoch, st.Loss, eps)
	}
}

// embeddings computes the model's embeddings with the store's id maps.
func (j *job) embeddings(ctx context.Context) (*export.Embeddings, error) {
	e, err := j.model.Embed(ctx)
	if err != nil {
		return nil, fmt.Errorf("trainer: embed: %w", err)
	}
	return &export.Embeddings{Dim: e.Dim, Users: e.Users, Items: e.Items, UserIDs: j.userIDs, ItemIDs: j.itemIDs, Fingerprint: j.fp}, nil
}

// evaluate scores the model at the end of epoch on the validation split
// (the test split when the run has none), with the training graph's items
// excluded from each user's ranking, and returns the metrics and the
// embeddings scored.
func (j *job) evaluate(ctx context.Context, epoch int, loss float64) (eval.Metrics, *export.Embeddings, float64, error) {
	j.status.Update(func(s *obs.Status) { s.State = "evaluating" })
	defer j.status.Update(func(s *obs.Status) { s.State = "training" })
	t0 := time.Now()
	j.embedEpoch = epoch
	e, err := j.embeddings(ctx)
	if err != nil {
		return nil, nil, 0, err
	}
	k := j.cfg.Train.EvalK
	target, split := j.test, SplitTest
	if j.val != nil {
		target, split = j.val, SplitValidation
	}
	m, err := eval.Evaluate(ctx, e.Users, e.Items, e.Dim, j.train, target, j.evalOptions())
	if err != nil {
		return nil, nil, 0, fmt.Errorf("trainer: evaluate: %w", err)
	}
	secs := time.Since(t0).Seconds()
	j.metrics.SetEval(m)
	j.status.Update(func(s *obs.Status) { s.Eval, s.EvalEpoch = m, epoch })
	if err := export.Save(j.o.RunDir, e); err != nil {
		return nil, nil, 0, fmt.Errorf("trainer: save embeddings: %w", err)
	}
	j.curve = setRecord(j.curve, EvalRecord{Epoch: epoch, Loss: loss, TrainSeconds: j.trainSec, Metrics: m, Split: split})
	if err := j.saveCurve(); err != nil {
		return nil, nil, 0, err
	}
	pts := make([]obs.CurvePoint, len(j.curve))
	for i, r := range j.curve {
		pts[i] = obs.CurvePoint{Epoch: r.Epoch, Loss: r.Loss, Recall: r.Metrics.Recall(k)}
	}
	if err := obs.WriteCurve(j.o.RunDir, pts, fmt.Sprintf("recall@%d (%s)", k, split)); err != nil {
		j.log.Warn("training curve plot", "err", err)
	}
	return m, e, secs, nil
}

// writeEmbeddings writes the final model's embeddings, sampling the
// neighborhoods of its last trained epoch, and returns them.
func (j *job) writeEmbeddings(ctx context.Context, lastEpoch int) (*export.Embeddings, error) {
	j.embedEpoch = max(lastEpoch, 1)
	e, err := j.embeddings(ctx)
	if err != nil {
		return nil, err
	}
	if err := export.Save(j.o.RunDir, e); err != nil {
		return nil, fmt.Errorf("trainer: save embeddings: %w", err)
	}
	return e, nil
}

func (j *job) saveCurve() error {
	if err := atomicfile.Write(filepath.Join(j.o.RunDir, CurveFile), func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(j.curve)
	}); err != nil {
		return fmt.Errorf("trainer: %w", err)
	}
	return nil
}

// setRecord puts r into curve (ascending by epoch) in place of any record
// of the same epoch, so re-running an evaluation after a crash never
// duplicates it.
func setRecord(curve []EvalRecord, r EvalRecord) []EvalRecord {
	i := sort.Search(len(curve), func(i int) bool { return curve[i].Epoch >= r.Epoch })
	if i < len(curve) && curve[i].Epoch == r.Epoch {
		curve[i] = r
		return curve
	}
	return slices.Insert(curve, i, r)
}

// loadCurve restores the evaluation history for a run positioned at the
// start (or middle) of epoch: records of epochs before it are kept, one per
// epoch; records of epoch and later come from work the checkpoint does not
// hold (a crash after an evaluation, before its checkpoint) and are dropped,
// since training redoes that work. curve.json is rewritten when that
// changes it. A curve.json that does not parse is an error naming it.
func (j *job) loadCurve(epoch int) error {
	path := filepath.Join(j.o.RunDir, CurveFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		j.curve = nil
		return nil
	}
	if err != nil {
		return fmt.Errorf("trainer: %w", err)
	}
	var recs []EvalRecord
	if err := json.Unmarshal(b, &recs); err != nil {
		return fmt.Errorf("trainer: %s: %w (move it away to start the curve over)", path, err)
	}
	j.curve = nil
	for _, r := range recs {
		if r.Epoch < epoch {
			j.curve = setRecord(j.curve, r)
		}
	}
	if len(j.curve) != len(recs) {
		j.log.Info("curve: dropped records the checkpoint does not cover", "path", path, "kept", len(j.curve), "dropped", len(recs)-len(j.curve))
		return j.saveCurve()
	}
	return nil
}
