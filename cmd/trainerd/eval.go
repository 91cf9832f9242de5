package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/trainerd/trainerd/dataset"
	"github.com/trainerd/trainerd/eval"
	"github.com/trainerd/trainerd/export"
	"github.com/trainerd/trainerd/featurestore"
	"github.com/trainerd/trainerd/graph"
	"github.com/trainerd/trainerd/infer"
)

func newEvalCmd() *cobra.Command {
	var store, runDir, which, itemsSel, baseline, embDir string
	var asJSON, force bool
	var ks []int
	cmd := &cobra.Command{
		Use:   "eval --store DIR --run-dir DIR [--k 20] [--json]",
		Short: "Evaluate trained embeddings with the LightGCN full-ranking protocol",
		Long: `eval loads the embeddings of the run's best checkpoint (RUN/best/embeddings:
the epoch train.select picked on the validation split; --checkpoint latest:
RUN/embeddings, the newest), the store's train graph and test interactions, and
for every user with at least one test item ranks all items by inner product,
removes the user's train items (the whole train split, validation edges
included) and compares the top K with the test items. For the best checkpoint
this is the test score train printed and wrote to RUN/result.json.

It prints one JSON object with recall@K, ndcg@K, precision@K, hit@K, mrr@K (the
reciprocal rank truncated at K), mrr (reciprocal rank of the first test item in
the full ranking) and users (the number of test users averaged over), for
every --k given. Without --json a short table goes to stdout instead.
Set OPENBLAS_NUM_THREADS=1: eval runs one GEMM per worker goroutine itself.

The store must be the one the run was trained on: its fingerprint is checked
against the one the run records (RUN/embeddings/manifest.json, else the newest
checkpoint), and a different or regenerated store is refused unless --force.
A run stopped before its first evaluation has no embeddings yet; resume it
with the same train command.

--items cold ranks only the cold items, those without a train interaction
(the items ingest --split cold-items held out), and counts only test items
among them; users without such a test item are skipped. --baseline content
needs no run: it scores the content-only baseline from the store's item
features (a user is the mean of its train items' feature rows, scores are
cosine similarities). --embeddings DIR scores a merged trainerd infer output
instead of a run (its store fingerprint must be the store's).`,
		Example: `  trainerd eval --store store/gowalla --run-dir runs/lightgcn-1 --json
  trainerd eval --store store/gowalla --run-dir runs/mf --k 20 --k 50
  trainerd eval --store store/ml-cold --run-dir runs/pinsage --items cold
  trainerd eval --store store/ml-cold --baseline content --items cold`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runEvalCmd(cmd, evalArgs{store: store, runDir: runDir, which: which, items: itemsSel, baseline: baseline, embDir: embDir,
				ks: ks, asJSON: asJSON, force: force}, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&store, "store", "", "feature store directory holding the train and test split (required)")
	cmd.Flags().StringVar(&runDir, "run-dir", "", "run directory holding embeddings/users.npy and items.npy (required unless --baseline)")
	cmd.Flags().IntSliceVar(&ks, "k", []int{eval.DefaultK}, "cutoff K; repeat or comma-separate for several")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object (the default output is a table)")
	cmd.Flags().BoolVar(&force, "force", false, "evaluate even if the store's fingerprint differs from the run's training store")
	cmd.Flags().StringVar(&which, "checkpoint", checkpointBest, checkpointFlagHelp)
	cmd.Flags().StringVar(&itemsSel, "items", "all", "candidate items: all, or cold (only items without a train interaction, and only test items among them)")
	cmd.Flags().StringVar(&baseline, "baseline", "", "score a baseline instead of a run: content (cosine of item features to the mean of the user's train items')")
	cmd.Flags().StringVar(&embDir, "embeddings", "", "score a merged trainerd infer output directory instead of a run")
	addProgressFlag(cmd, nil)
	_ = cmd.MarkFlagRequired("store")
	return cmd
}

// evalArgs holds the flags of `trainerd eval`.
type evalArgs struct {
	store, runDir, which, items, baseline string
	embDir                                string
	ks                                    []int
	asJSON, force                         bool
}

func runEvalCmd(cmd *cobra.Command, a evalArgs, w io.Writer) error {
	if len(a.ks) == 0 {
		return fmt.Errorf("eval: --k needs at least one value")
	}
	switch a.items {
	case "all", "cold":
	default:
		return fmt.Errorf("eval: --items %q: want all or cold", a.items)
	}
	sources := 0
	for _, v := range []string{a.runDir, a.baseline, a.embDir} {
		if v != "" {
			sources++
		}
	}
	switch {
	case sources > 1:
		return errors.New("eval: --run-dir, --baseline and --embeddings are exclusive: give one")
	case a.baseline != "" && a.baseline != "content":
		return fmt.Errorf("eval: --baseline %q: want content", a.baseline)
	case a.baseline != "" && a.runDir != "":
		return fmt.Errorf("eval: --baseline %s scores the store alone; drop --run-dir", a.baseline)
	case sources == 0:
		return errors.New(`eval: required flag(s) "run-dir" not set (or give --baseline content or --embeddings DIR)`)
	}
	display, err := commandProgress(cmd)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	var users, items []float32
	var dim int
	var train, test *graph.Bipartite
	switch {
	case a.embDir != "":
		emb, _, err := infer.Read(a.embDir)
		if err != nil {
			return fmt.Errorf("eval: %w", err)
		}
		s, err := featurestore.Open(a.store, featurestore.Options{ReadOnly: true})
		if err != nil {
			return fmt.Errorf("eval: %w", err)
		}
		fp := s.Fingerprint()
		train, test, err = loadSplits(s, a.store)
		s.Close()
		if err != nil {
			return fmt.Errorf("eval: %w", err)
		}
		if fp != emb.Fingerprint && !a.force {
			return fmt.Errorf("eval: embeddings in %s were computed over store fingerprint %.12s, not store %s's %.12s (--force to score anyway)",
				a.embDir, emb.Fingerprint, a.store, fp)
		}
		if emb.NumUsers() != train.NumUsers || emb.NumItems() != train.NumItems {
			return fmt.Errorf("eval: embeddings in %s are %d users × %d items but the store has %d × %d",
				a.embDir, emb.NumUsers(), emb.NumItems(), train.NumUsers, train.NumItems)
		}
		users, items, dim = emb.Users, emb.Items, emb.Dim
	case a.baseline != "":
		s, err := featurestore.Open(a.store, featurestore.Options{ReadOnly: true})
		if err != nil {
			return fmt.Errorf("eval: %w", err)
		}
		train, test, err = loadSplits(s, a.store)
		var feat []float32
		if err == nil {
			dim = s.Schema(dataset.Item).Dim()
			if dim > 0 {
				feat, err = s.FeatureMatrix(dataset.Item)
			}
		}
		s.Close()
		if err != nil {
			return fmt.Errorf("eval: %w", err)
		}
		if users, items, err = eval.ContentEmbeddings(train, feat, dim); err != nil {
			return fmt.Errorf("eval: store %s: %w", a.store, err)
		}
	default:
		emb, err := loadRun(a.runDir, a.which)
		if err != nil {
			return fmt.Errorf("eval: %w", err)
		}
		s, err := openRunStore(a.runDir, a.store, emb, a.force)
		if err != nil {
			return fmt.Errorf("eval: %w", err)
		}
		train, test, err = loadSplits(s, a.store)
		s.Close()
		if err != nil {
			return fmt.Errorf("eval: %w", err)
		}
		if emb.NumUsers() != train.NumUsers || emb.NumItems() != train.NumItems {
			return fmt.Errorf("eval: embeddings in %s are %d users × %d items but the store has %d × %d",
				export.Dir(a.runDir), emb.NumUsers(), emb.NumItems(), train.NumUsers, train.NumItems)
		}
		users, items, dim = emb.Users, emb.Items, emb.Dim
	}
	start := time.Now()
	task := display.Start("eval", "users", 0)
	opts := eval.Options{K: a.ks[0], Ks: a.ks[1:],
		Progress: func(users, total int) { task.SetTotal(int64(total)); task.Add(int64(users)) }}
	var m eval.Metrics
	if a.items == "cold" {
		cold := eval.ColdItems(train)
		if len(cold) == 0 {
			task.Finish()
			return fmt.Errorf("eval: --items cold: every item of store %s has train interactions (ingest --split cold-items holds some out)", a.store)
		}
		m, err = eval.EvaluateItems(cmd.Context(), users, items, dim, train, test, cold, opts)
		if m != nil {
			m["items"] = float64(len(cold))
		}
	} else {
		m, err = eval.Evaluate(cmd.Context(), users, items, dim, train, test, opts)
	}
	task.Finish()
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	slog.Info("eval: done", "users", m.Users(), "dim", dim, "items", a.items, "elapsed", time.Since(start).Round(time.Millisecond))
	if a.asJSON {
		return json.NewEncoder(w).Encode(m)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := strconv.FormatFloat(m[k], 'f', 6, 64)
		if k == "users" || k == "items" {
			v = strconv.Itoa(int(m[k]))
		}
		fmt.Fprintf(w, "%-14s %s\n", k, v)
	}
	return nil
}

// loadSplits returns the store's train graph and the test interactions as a
// graph of the same shape.
func loadSplits(s *featurestore.Store, storeDir string) (train, test *graph.Bipartite, err error) {
	if train, err = s.LoadGraph(); err != nil {
		return nil, nil, err
	}
	ints, err := s.Interactions("test")
	if err != nil {
		return nil, nil, err
	}
	es := make([]graph.Edge, len(ints))
	for i, e := range ints {
		es[i] = graph.Edge{User: e.User, Item: e.Item}
	}
	if test, err = graph.Build(train.NumUsers, train.NumItems, es); err != nil {
		return nil, nil, fmt.Errorf("store %s: test split: %w", storeDir, err)
	}
	return train, test, nil
}
