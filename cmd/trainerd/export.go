package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/trainerd/trainerd/checkpoints"
	"github.com/trainerd/trainerd/dataset"
	"github.com/trainerd/trainerd/export"
	"github.com/trainerd/trainerd/featurestore"
	"github.com/trainerd/trainerd/obs"
	"github.com/trainerd/trainerd/trainer"
)

func newExportCmd() *cobra.Command {
	var runDir, out, store, which string
	var force bool
	cmd := &cobra.Command{
		Use:   "export --run-dir DIR --out DIR [--store DIR]",
		Short: "Write a run's embeddings as NumPy .npy matrices plus TSV id maps",
		Long: `export reads the embeddings of the run's best checkpoint, RUN/best/embeddings
(train.select on the validation split; --checkpoint latest: RUN/embeddings, the
newest), users.npy, items.npy and, when present, users.tsv and items.tsv, and
writes the same set into --out:

  OUT/users.npy      float32 '<f4', C order, shape (users, dim): numpy.load() reads it
  OUT/items.npy      float32 '<f4', C order, shape (items, dim)
  OUT/users.tsv      "dense_id<TAB>external_id" header, then one line per user
  OUT/items.tsv      the same for items
  OUT/manifest.json  the fingerprint of the store the run was trained on, and the shapes

When the run has no id maps, --store supplies them from the feature store the
run was trained on; a store with another fingerprint (a different or
regenerated data set) is refused unless --force. Each file is written
atomically (temp file, fsync, rename).

Training writes RUN/embeddings at each evaluation and when it finishes; a run
stopped before its first evaluation has none yet (resume it with the same
train command).`,
		Example: `  trainerd export --run-dir runs/lightgcn-1 --out /tmp/emb
  trainerd export --run-dir runs/mf --store store/gowalla --out share/mf
  python3 -c "import numpy; print(numpy.load('/tmp/emb/items.npy').shape)"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			display, err := commandProgress(cmd)
			if err != nil {
				return fmt.Errorf("export: %w", err)
			}
			return runExportCmd(runDir, which, out, store, force, cmd.OutOrStdout(), display)
		},
	}
	cmd.Flags().StringVar(&runDir, "run-dir", "", "run directory holding embeddings/ (required)")
	cmd.Flags().StringVar(&out, "out", "", "output directory, created if missing (required)")
	cmd.Flags().StringVar(&store, "store", "", "feature store to take id maps from when the run has none")
	cmd.Flags().BoolVar(&force, "force", false, "use --store even if its fingerprint differs from the run's training store")
	cmd.Flags().StringVar(&which, "checkpoint", checkpointBest, checkpointFlagHelp)
	addProgressFlag(cmd, nil)
	_ = cmd.MarkFlagRequired("run-dir")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

func runExportCmd(runDir, which, out, storeDir string, force bool, w io.Writer, display *obs.Progress) error {
	emb, err := loadRun(runDir, which)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if storeDir != "" && (emb.UserIDs == nil || emb.ItemIDs == nil) {
		s, err := openRunStore(runDir, storeDir, emb, force)
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		err = idsFromStore(s, storeDir, emb)
		s.Close()
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	task := display.Start("export", obs.UnitBytes, 0)
	err = export.SaveDirWith(out, emb, export.SaveOptions{Progress: func(n, total int64) { task.SetTotal(total); task.Add(n) }})
	task.Finish()
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	slog.Info("export: written", "dir", out, "users", emb.NumUsers(), "items", emb.NumItems(), "dim", emb.Dim,
		"id_maps", emb.UserIDs != nil, "fingerprint", emb.Fingerprint)
	fmt.Fprintf(w, "wrote %d users and %d items (dim %d) to %s\n", emb.NumUsers(), emb.NumItems(), emb.Dim, out)
	return nil
}

// Values of --checkpoint (eval, export, serve).
const (
	checkpointBest   = "best"
	checkpointLatest = "latest"
)

// checkpointFlagHelp is --checkpoint's help.
const checkpointFlagHelp = "which model: best (the checkpoint train.select picked on the validation split, RUN/best) or latest (RUN/embeddings); " +
	"best falls back to latest, with a log line, for a run without a validation split"

// loadRun loads the embeddings of runDir's best or latest checkpoint
// (which: checkpointBest or checkpointLatest; see runEmbeddingsDir) with
// the fingerprint of the store they were trained on: the one their manifest
// records, else the one the newest valid checkpoint records ("" when neither
// exists). Missing embeddings give an error that says why they are missing
// and what to do.
func loadRun(runDir, which string) (*export.Embeddings, error) {
	dir, err := runEmbeddingsDir(runDir, which)
	if err != nil {
		return nil, err
	}
	emb, err := export.Load(dir)
	if errors.Is(err, fs.ErrNotExist) && dir == runDir {
		return nil, noEmbeddingsError(runDir, err)
	}
	if err != nil {
		return nil, err
	}
	slog.Info("loaded embeddings", "checkpoint", which, "dir", export.Dir(dir))
	if emb.Fingerprint == "" {
		if ck, _, err := checkpoints.Latest(checkpoints.Dir(runDir)); err == nil {
			emb.Fingerprint = ck.Fingerprint
		}
	}
	return emb, nil
}

// runEmbeddingsDir is the directory whose embeddings/ holds the model
// --checkpoint which names: RUN/best for best (when the run has kept one),
// RUN for latest. A run without a validation split (train.validation.fraction
// 0, or one trained before selection existed) has no best: best then means
// its latest, logged. A run with a validation split that has not kept a best
// yet has not been evaluated: best is refused, naming latest.
func runEmbeddingsDir(runDir, which string) (string, error) {
	switch which {
	case checkpointLatest:
		return runDir, nil
	case checkpointBest:
	default:
		return "", fmt.Errorf("--checkpoint %q: want %s or %s", which, checkpointBest, checkpointLatest)
	}
	best := filepath.Join(runDir, trainer.BestDir)
	if _, err := trainer.ReadBest(runDir); err == nil {
		return best, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if r, err := trainer.ReadResult(runDir); err == nil && r.Split == trainer.SplitValidation {
		return "", fmt.Errorf("run %s finished with a validation split but %s is missing: "+
			"resume it with the same train command to write it again, or pass --checkpoint latest", runDir, filepath.Join(best, trainer.BestFile))
	}
	if recs, err := trainer.ReadCurve(runDir); err == nil && len(recs) > 0 && recs[len(recs)-1].Split == trainer.SplitValidation {
		return "", fmt.Errorf("run %s has no best checkpoint yet (%s missing, though it evaluates on a validation split); "+
			"pass --checkpoint latest for its newest embeddings: %w", runDir, filepath.Join(best, trainer.BestFile), fs.ErrNotExist)
	}
	slog.Info("run has no validation split, so no best checkpoint: using the latest", "run_dir", runDir)
	return runDir, nil
}

// noEmbeddingsError explains a run directory without embeddings; err is the
// file error (it wraps fs.ErrNotExist).
func noEmbeddingsError(runDir string, err error) error {
	infos, _ := checkpoints.List(checkpoints.Dir(runDir))
	var newest *checkpoints.Info
	for i := range infos {
		if infos[i].Valid {
			newest = &infos[i]
		}
	}
	_, curveErr := os.Stat(filepath.Join(runDir, trainer.CurveFile))
	switch {
	case newest != nil && curveErr == nil:
		return fmt.Errorf("run %s has been evaluated (%s) but its embeddings are gone: %w; resume training with the same "+
			"`trainerd train ... --run-dir %s` command to write them again at its next evaluation or at the end",
			runDir, trainer.CurveFile, err, runDir)
	case newest != nil:
		return fmt.Errorf("run %s has no embeddings yet: it stopped before its first evaluation (no %s; newest checkpoint %s at step %d, epoch %d), "+
			"and training writes %s only at each evaluation (every train.eval_every epochs) and when it finishes; "+
			"resume it with the same `trainerd train ... --run-dir %s` command and let it reach an evaluation (%w)",
			runDir, trainer.CurveFile, newest.Path, newest.Step, newest.Epoch, export.Dir(runDir), runDir, err)
	default:
		return fmt.Errorf("%s holds no embeddings and no checkpoints: it is not the --run-dir of a trainerd train run "+
			"that reached its first evaluation (%w)", runDir, err)
	}
}

// openRunStore opens storeDir read-only and checks that it is the store
// the run's embeddings were trained on; see checkStore.
func openRunStore(runDir, storeDir string, emb *export.Embeddings, force bool) (*featurestore.Store, error) {
	s, err := featurestore.Open(storeDir, featurestore.Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	if err := checkStore(runDir, emb.Fingerprint, storeDir, s.Fingerprint(), force); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// storeMismatchError says that a store is not the one a run was trained
// on: its ids and splits do not line up with the run's embedding rows.
type storeMismatchError struct {
	// RunDir and RunFingerprint are the run and its training store's
	// fingerprint; StoreDir and StoreFingerprint the store given.
	RunDir, RunFingerprint     string
	StoreDir, StoreFingerprint string
}

// Error names the run, the store and both fingerprints.
func (e *storeMismatchError) Error() string {
	return fmt.Sprintf("store %s (fingerprint %s) is not the store run %s was trained on (fingerprint %s): "+
		"a different or regenerated data set has other ids and another test split, so results would be wrong; "+
		"pass the run's own store, or --force to use this one anyway",
		e.StoreDir, e.StoreFingerprint, e.RunDir, e.RunFingerprint)
}

// checkStore refuses a store whose fingerprint differs from the run's with
// a *storeMismatchError; with force it logs the mismatch as a warning
// instead. A run that records no fingerprint is used with a warning.
func checkStore(runDir, runFP, storeDir, storeFP string, force bool) error {
	if runFP == "" {
		slog.Warn("run records no store fingerprint (no embeddings manifest, no valid checkpoint): cannot check that the store is the one it was trained on",
			"run_dir", runDir, "store", storeDir, "store_fingerprint", storeFP)
		return nil
	}
	if runFP == storeFP {
		return nil
	}
	err := &storeMismatchError{RunDir: runDir, RunFingerprint: runFP, StoreDir: storeDir, StoreFingerprint: storeFP}
	if force {
		slog.Warn("using a store the run was not trained on (--force): results will not match the run's own data",
			"run_dir", runDir, "run_fingerprint", runFP, "store", storeDir, "store_fingerprint", storeFP)
		return nil
	}
	return err
}

// idsFromStore fills emb's missing id maps from the store, checking counts.
func idsFromStore(s *featurestore.Store, storeDir string, emb *export.Embeddings) error {
	for _, m := range []struct {
		t    dataset.NodeType
		dst  *[]string
		want int
	}{{dataset.User, &emb.UserIDs, emb.NumUsers()}, {dataset.Item, &emb.ItemIDs, emb.NumItems()}} {
		if *m.dst != nil {
			continue
		}
		ids, err := s.IDs(m.t)
		if err != nil {
			return err
		}
		if len(ids) != m.want {
			return fmt.Errorf("store %s has %d %s ids but the embeddings have %d rows", storeDir, len(ids), m.t, m.want)
		}
		*m.dst = ids
	}
	return nil
}
