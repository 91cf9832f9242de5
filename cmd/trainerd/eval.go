package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/trainerd/trainerd/eval"
	"github.com/trainerd/trainerd/export"
	"github.com/trainerd/trainerd/featurestore"
	"github.com/trainerd/trainerd/graph"
)

func newEvalCmd() *cobra.Command {
	var store, runDir, which string
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
with the same train command.`,
		Example: `  trainerd eval --store store/gowalla --run-dir runs/lightgcn-1 --json
  trainerd eval --store store/gowalla --run-dir runs/mf --k 20 --k 50`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runEvalCmd(cmd, store, runDir, which, ks, asJSON, force, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&store, "store", "", "feature store directory holding the train and test split (required)")
	cmd.Flags().StringVar(&runDir, "run-dir", "", "run directory holding embeddings/users.npy and items.npy (required)")
	cmd.Flags().IntSliceVar(&ks, "k", []int{eval.DefaultK}, "cutoff K; repeat or comma-separate for several")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object (the default output is a table)")
	cmd.Flags().BoolVar(&force, "force", false, "evaluate even if the store's fingerprint differs from the run's training store")
	cmd.Flags().StringVar(&which, "checkpoint", checkpointBest, checkpointFlagHelp)
	addProgressFlag(cmd, nil)
	_ = cmd.MarkFlagRequired("store")
	_ = cmd.MarkFlagRequired("run-dir")
	return cmd
}

func runEvalCmd(cmd *cobra.Command, storeDir, runDir, which string, ks []int, asJSON, force bool, w io.Writer) error {
	if len(ks) == 0 {
		return fmt.Errorf("eval: --k needs at least one value")
	}
	display, err := commandProgress(cmd)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	emb, err := loadRun(runDir, which)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	s, err := openRunStore(runDir, storeDir, emb, force)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	train, test, err := loadSplits(s, storeDir)
	s.Close()
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	if emb.NumUsers() != train.NumUsers || emb.NumItems() != train.NumItems {
		return fmt.Errorf("eval: embeddings in %s are %d users × %d items but the store has %d × %d",
			export.Dir(runDir), emb.NumUsers(), emb.NumItems(), train.NumUsers, train.NumItems)
	}
	start := time.Now()
	task := display.Start("eval", "users", 0)
	m, err := eval.Evaluate(cmd.Context(), emb.Users, emb.Items, emb.Dim, train, test, eval.Options{K: ks[0], Ks: ks[1:],
		Progress: func(users, total int) { task.SetTotal(int64(total)); task.Add(int64(users)) }})
	task.Finish()
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	slog.Info("eval: done", "users", m.Users(), "dim", emb.Dim, "elapsed", time.Since(start).Round(time.Millisecond))
	if asJSON {
		return json.NewEncoder(w).Encode(m)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := strconv.FormatFloat(m[k], 'f', 6, 64)
		if k == "users" {
			v = strconv.Itoa(m.Users())
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
