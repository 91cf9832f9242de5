package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/trainerd/trainerd/infer"
)

// jobIndexEnv is the variable a Kubernetes Indexed Job sets to each pod's
// completion index.
const jobIndexEnv = "JOB_COMPLETION_INDEX"

type inferFlags struct {
	runDir, store, cfgPath, out, shard, which string
	coldNeighbors                             string
	sets                                      []string
	shards, topK                              int
	merge, force                              bool
}

func newInferCmd() *cobra.Command {
	var f inferFlags
	cmd := &cobra.Command{
		Use:   "infer --run-dir DIR --out DIR (--shard i/N | --shards N) [--topk K] | infer --merge --out DIR",
		Short: "Embed a trained run's users and items in shards (.npy + manifest), optionally with each user's top-K items",
		Long: `infer rebuilds a run's model from its checkpoint (--checkpoint best, the default:
the one train.select picked on the validation split; latest: the newest) and the
store it was trained on, and writes shard i of N of the embeddings into --out:

  OUT/users-0000i-of-0000N.npy   float32 (rows, dim), the shard's users in id order
  OUT/users-0000i-of-0000N.tsv   their external ids (dense ids local to the shard)
  OUT/items-0000i-of-0000N.npy   the shard's items, and items-....tsv
  OUT/shard-0000i-of-0000N.json  the shard's manifest: node ranges, shapes, the
                                 checkpoint, config hash and store fingerprint

Shards are contiguous runs of node ids (users, then items); together they equal
what export writes for the same --checkpoint, bit for bit. Each file is written
atomically and the shard manifest last, so a rerun of a shard (a retried pod)
replaces it whole.
Once every shard exists, --merge checks them and writes OUT/manifest.json, which
lists all shards for readers.

--topk K adds, for the shard's users, their K best items by inner product with
their train items removed (topk-....npy: int32 item ids, -1 past the end;
topk-scores-....npy: float32). Every item is a candidate, so all N shards must be
embedded first: run the shards, then the same command with --topk (a shard
already embedded from the same checkpoint is not embedded again).

The config is the run's training config: --config/--set as given to train, else
RUN/config.yaml when the run recorded one. Its hash and the store's fingerprint
must match the checkpoint's (--force uses them anyway). A store grown from the
run's store by ingest --append is accepted too: its old nodes keep their ids,
and PinSage or GraphSAGE reading features (model.inputs features, or both with
a zero id row for each new node) embed its new nodes from their features and
sampled neighbourhoods in the grown graph with the trained weights; models that
are id tables (MF, LightGCN, NGCF, walk, or inputs id) are refused. A node without
train edges has an empty neighbourhood; --cold-neighbors similar gives it the
sampled neighbourhood of the node of its type, with edges, whose features are
most similar (cosine; ties to the higher degree).

Batch array jobs: --shards N takes the shard index from $JOB_COMPLETION_INDEX,
which a Kubernetes Indexed Job (completionMode: Indexed, completions: N) sets
in each pod, so one Job runs all N shards; a final --merge (or any reader of the
shard manifests) finds them. Other schedulers: pass --shard "$TASK_INDEX/N".`,
		Example: `  trainerd infer --run-dir runs/pinsage --store store/gowalla --config configs/gowalla-pinsage.yaml --out emb --shard 0/4
  for i in 0 1 2 3; do trainerd infer --run-dir runs/pinsage --out emb --shard $i/4; done; trainerd infer --merge --out emb
  # Kubernetes Indexed Job (completions: 16, completionMode: Indexed), container args:
  trainerd infer --run-dir /runs/p --store /stores/s --out /emb --shards 16
  trainerd infer --run-dir /runs/p --store /stores/s --out /emb --shards 16 --topk 100`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runInferCmd(cmd, f, cmd.OutOrStdout())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.runDir, "run-dir", "", "training run directory (its checkpoints/)")
	fl.StringVar(&f.store, "store", "", "feature store the run was trained on; default: the config's dataset.store")
	fl.StringVar(&f.cfgPath, "config", "", "the run's training config; default: RUN/config.yaml")
	fl.StringArrayVar(&f.sets, "set", nil, "override a config key, key=value, as given to train (repeatable)")
	fl.StringVar(&f.out, "out", "", "output directory, created if missing (required)")
	fl.StringVar(&f.shard, "shard", "", "shard i/N to write (0-based: 0/16 .. 15/16)")
	fl.IntVar(&f.shards, "shards", 0, "shard count N, the index coming from $"+jobIndexEnv+" (Kubernetes Indexed Job)")
	fl.IntVar(&f.topK, "topk", 0, "also write each of the shard's users' top-K items (needs every shard embedded)")
	fl.StringVar(&f.which, "checkpoint", infer.CheckpointBest, "which model: best (the checkpoint train.select picked on the validation split, "+
		"RUN/best; the latest for a run without a validation split) or latest (the newest valid checkpoint)")
	fl.StringVar(&f.coldNeighbors, "cold-neighbors", infer.ColdNeighborsNone, "neighbourhood of nodes without train edges: none (features alone) or similar (that of the most similar node by features)")
	fl.BoolVar(&f.merge, "merge", false, "check that every shard in --out is present and write OUT/manifest.json")
	fl.BoolVar(&f.force, "force", false, "use a config or store whose hash or fingerprint differs from the checkpoint's")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

// shardOf resolves --shard / --shards with the job index variable.
func shardOf(f inferFlags, getenv func(string) string) (infer.Shard, error) {
	switch {
	case f.shard != "" && f.shards != 0:
		return infer.Shard{}, fmt.Errorf("--shard and --shards are exclusive: --shard i/N names the shard, --shards N takes i from $%s", jobIndexEnv)
	case f.shard != "":
		s, err := infer.ParseShard(f.shard)
		if err != nil {
			return infer.Shard{}, fmt.Errorf("--shard: %w", err)
		}
		return s, nil
	case f.shards != 0:
		v := getenv(jobIndexEnv)
		if v == "" {
			return infer.Shard{}, fmt.Errorf("--shards %d: $%s is not set (a Kubernetes Indexed Job sets it; elsewhere pass --shard i/%d)", f.shards, jobIndexEnv, f.shards)
		}
		i, err := strconv.Atoi(v)
		if err != nil {
			return infer.Shard{}, fmt.Errorf("--shards %d: $%s=%q is not an integer: %w", f.shards, jobIndexEnv, v, infer.ErrShardSpec)
		}
		s := infer.Shard{Index: i, Count: f.shards}
		if err := s.Validate(); err != nil {
			return infer.Shard{}, fmt.Errorf("--shards %d with $%s=%s: %w", f.shards, jobIndexEnv, v, err)
		}
		return s, nil
	}
	return infer.Shard{}, fmt.Errorf("no shard: pass --shard i/N, or --shards N with $%s set, or --merge", jobIndexEnv)
}

func runInferCmd(cmd *cobra.Command, f inferFlags, w io.Writer) error {
	if f.merge {
		if f.shard != "" || f.shards != 0 || f.topK != 0 {
			return fmt.Errorf("infer: --merge only merges: run it without --shard, --shards or --topk")
		}
		man, err := infer.Merge(f.out)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "merged %d shards: %d users and %d items (dim %d) in %s\n", man.Count, man.NumUsers, man.NumItems, man.Dim,
			filepath.Join(f.out, infer.ManifestJSON))
		return nil
	}
	if f.runDir == "" {
		return fmt.Errorf("infer: --run-dir is required")
	}
	if f.topK < 0 || f.topK > infer.MaxTopK {
		return fmt.Errorf("infer: --topk %d must be between 1 and %d (0: no top-K)", f.topK, infer.MaxTopK)
	}
	s, err := shardOf(f, os.Getenv)
	if err != nil {
		return fmt.Errorf("infer: %w", err)
	}
	cfg, err := infer.LoadConfig(f.cfgPath, f.sets, f.runDir)
	if err != nil {
		return fmt.Errorf("infer: %w", err)
	}
	store := f.store
	if store == "" {
		store = cfg.Dataset.Store
	}
	start := time.Now()
	m, err := infer.Open(infer.Options{Config: cfg, RunDir: f.runDir, StoreDir: store, Checkpoint: f.which, Force: f.force, ColdNeighbors: f.coldNeighbors})
	if err != nil {
		return err
	}
	defer m.Close()
	ctx := cmd.Context()
	sm, err := infer.ReadShardManifest(f.out, s)
	if f.topK == 0 || err != nil || !m.Produced(sm) {
		if sm, err = m.RunShard(ctx, f.out, s); err != nil {
			return err
		}
	}
	if f.topK > 0 {
		if sm, err = m.TopKShard(ctx, f.out, s, f.topK); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "shard %s: %d users and %d items (nodes %d..%d, dim %d) in %s, %.1fs\n", s, sm.Users.Rows, sm.Items.Rows,
		sm.Nodes.Lo, sm.Nodes.Hi, sm.Dim, f.out, time.Since(start).Seconds())
	if sm.TopK != nil {
		fmt.Fprintf(w, "top-%d items of each user in %s\n", sm.TopK.K, filepath.Join(f.out, sm.TopK.Items))
	}
	return nil
}
