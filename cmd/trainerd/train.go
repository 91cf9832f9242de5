package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/spf13/cobra"

	"github.com/trainerd/trainerd/config"
	"github.com/trainerd/trainerd/model"
	"github.com/trainerd/trainerd/obs"
	"github.com/trainerd/trainerd/trainer"
	"github.com/trainerd/trainerd/tune"
)

func newTrainCmd() *cobra.Command {
	var (
		cfgPath, store, runDir, httpAddr string
		sets                             []string
		force                            bool
		cpuProfile                       string
	)
	cmd := &cobra.Command{
		Use:   "train --config FILE --store DIR --run-dir DIR [--set key=value ...]",
		Short: "Train a model: producers → consumer, checkpoints, evaluation, metrics",
		Long: `Train the model the config describes on the store's train split.

One line per epoch (loss, examples/s, recall and ndcg when evaluated). Checkpoints
go to RUN/checkpoints every checkpoint.every_steps steps, every
checkpoint.every_minutes minutes, at epoch ends and on SIGTERM/SIGINT (the current
step finishes first, then the process exits 0). Started again with the same
command, training resumes from the newest valid checkpoint and ends with
bit-identical parameters and the same curve.json; an evaluation interrupted
by the signal runs on resume. When checkpoint files exist but none is usable,
train refuses and lists them (--force moves them to RUN/checkpoints/corrupt/
and trains from scratch). Files named like checkpoints that fail verification
never count toward checkpoint.keep_last and are moved to that corrupt/.

Validation and selection: train holds out train.validation.fraction (default
0.1) of each user's train edges, picked by train.validation.seed (0 =
train.seed; the same edges on every resume, never a test edge), trains on the
rest and evaluates on them. The epoch with the best train.select (default
recall@20) on validation is kept in RUN/best (its checkpoint, embeddings and
best.json; never pruned by checkpoint.keep_last); train.patience N stops after
N evaluations without a new best. When training ends, the test split is scored
once, for that checkpoint, printed and written to RUN/result.json; eval, export
and serve use it by default (--checkpoint latest for the newest).
train.validation.fraction 0 evaluates on the test split and keeps the last epoch.

Tuning: train.tune {key, values, epochs} chooses one numeric key on validation
before the run: one pilot run per value in RUN/tune/KEY=VALUE, each trained
train.tune.epochs epochs under the run's own schedule; the value whose pilot
reaches the best train.select wins (the first listed on a tie), RUN/tune.json
records the pilots and the choice, and the run trains from scratch in RUN with
that value (its config.yaml has the value and no tune section). The pilots
resume like any run, so the same command after a signal makes the same choice.
The effective config goes to RUN/config.yaml (trainerd runs compare diffs it).

One train process uses a run directory at a time: it holds a lock on
RUN/.trainerd.lock, and a second one exits at once naming the holder's pid. Embeddings go to RUN/embeddings (NumPy .npy + TSV id
maps), the evaluation history to RUN/curve.json and RUN/curve.png/svg.

Config layers: defaults < --config YAML (over the file its base: key names,
if any) < TRAINERD_<KEY> environment
(TRAINERD_MODEL_LR for model.lr) < --set key=value. Unknown keys, wrong types and
out-of-range values are refused naming the key.

HTTP (default 127.0.0.1, a free port; logged at start): /metrics (Prometheus),
/healthz, /status (JSON).

The device follows train.device: auto trains on the GPU through trainerd-cuda
(found beside this binary or at $TRAINERD_CUDA_BINARY) when a GPU answers, else
on CPU, and logs which and why.`,
		Example: `  trainerd gen --store stores/small --preset small
  trainerd train --config configs/quickstart.yaml --store stores/small --run-dir runs/q
  trainerd train --config configs/gowalla-lightgcn.yaml --store stores/gowalla --run-dir runs/lgcn --set model.lr=0.002`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runDir == "" {
				return fmt.Errorf("train: --run-dir is required")
			}
			if httpAddr != "" {
				sets = append(sets, "http.addr="+httpAddr)
			}
			cfg, err := config.Load(cfgPath, sets)
			if err != nil {
				return err
			}
			if store == "" {
				store = cfg.Dataset.Store // --store wins over dataset.store
			}
			log := slog.Default()
			if cfg.Train.CUDABinary != "" && os.Getenv(cudaBinaryEnv) == "" {
				// train.cuda_binary names trainerd-cuda; the environment keeps the last word.
				if err := os.Setenv(cudaBinaryEnv, cfg.Train.CUDABinary); err != nil {
					return fmt.Errorf("train: train.cuda_binary: %w", err)
				}
			}
			dec, err := resolveDevice(cmd.Context(), cfg.Train.Device,
				workload{Model: cfg.Model.Model, Loss: cfg.Model.Loss, CPUOnly: cpuOnlyReason(cfg.Model)}, log)
			if err != nil {
				return fmt.Errorf("train: %w", err)
			}
			opts := trainer.Options{Config: cfg, StoreDir: store, RunDir: runDir, Force: force,
				Logger: log, Out: cmd.OutOrStdout(), Progress: obs.NewProgress(os.Stderr), Device: "cpu"}
			if dec.Action == runCUDA {
				ord := dec.Ordinal
				opts.Device = fmt.Sprintf("cuda:%d", ord)
				opts.NewModel = func(c model.Config, i model.Info) (model.Model, error) {
					return newCUDAModel(c, i, ord)
				}
			}
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return fmt.Errorf("train: --cpuprofile: %w", err)
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return fmt.Errorf("train: --cpuprofile: %w", err)
				}
				defer pprof.StopCPUProfile()
			}
			var res *trainer.Result
			if cfg.Train.Tune.Key != "" {
				cands, err := config.Candidates(cfgPath, sets, cfg)
				if err != nil {
					return err
				}
				res, err = tune.Run(cmd.Context(), tune.Options{Trainer: opts, Candidates: cands})
				if err != nil {
					return err
				}
			} else if res, err = trainer.Run(cmd.Context(), opts); err != nil {
				return err
			}
			if res.Interrupted {
				log.Info("stopped on signal; run the same command to resume", "checkpoint", res.Checkpoint)
				return nil
			}
			attrs := []any{"epoch", res.Epoch, "step", res.Step, "run_dir", runDir,
				"hard_negative_search", res.Producer.HardTime.Round(time.Millisecond)}
			if r := res.Final; r != nil {
				attrs = append(attrs, "selected_epoch", r.Selected.Epoch, "checkpoint", r.Checkpoint, "result", filepath.Join(runDir, trainer.ResultFile))
			}
			log.Info("training done", attrs...)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfgPath, "config", "", "YAML config file (see configs/reference.yaml); empty: defaults")
	f.StringVar(&store, "store", "", "feature store directory (trainerd ingest / gen); default: the config's dataset.store")
	f.StringVar(&runDir, "run-dir", "", "run directory: checkpoints, embeddings, curves")
	f.StringArrayVar(&sets, "set", nil, "override a config key, key=value (repeatable)")
	f.BoolVar(&force, "force", false, "resume even from a checkpoint of another config or data set; when no checkpoint is usable, move them all to RUN/checkpoints/corrupt/ and train from scratch")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file (go tool pprof)")
	f.StringVar(&httpAddr, "http-addr", "", "metrics/status address (overrides http.addr), e.g. 127.0.0.1:9090")
	return cmd
}
