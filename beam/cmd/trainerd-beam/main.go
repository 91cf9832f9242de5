// Command trainerd-beam runs trainerd's sharded inference (package infer)
// as an Apache Beam pipeline: it writes one plan file per shard, and the
// pipeline embeds every shard (the model loaded once per worker DoFn),
// optionally writes each user's top-K items, and merges the manifest. The
// output equals `trainerd infer` run for every shard, file for file.
//
// The default runner is prism, in process: no Docker, no Java, no network.
// On a cluster the same binary is the worker: build it for the workers'
// platform and pass it as --worker_binary, with --runner flink (a Flink job
// server at --endpoint), dataflow (--project, --region,
// --staging_location) or universal (any portable job service at
// --endpoint). --run-dir, --store and --out must then be paths every worker
// sees (a shared file system).
//
//	trainerd-beam --run-dir runs/p --store stores/s --out emb --shards 16
//	trainerd-beam --run-dir runs/p --store stores/s --out emb --shards 64 --topk 100 \
//	    --runner flink --endpoint flink-jobserver:8099 --environment_type LOOPBACK
//	GOOS=linux GOARCH=amd64 go build -o trainerd-beam-linux ./cmd/trainerd-beam
//	trainerd-beam ... --runner dataflow --project P --region R --staging_location gs://B/staging \
//	    --worker_binary trainerd-beam-linux
package main

import (
	"context"
	"errors"
	"flag"
	"path/filepath"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"

	"github.com/trainerd/trainerd/beam/inferpipe"
	"github.com/trainerd/trainerd/infer"
)

var (
	runDir  = flag.String("run-dir", "", "training run directory (required)")
	store   = flag.String("store", "", "feature store the run was trained on; default: the config's dataset.store")
	cfgPath = flag.String("config", "", "the run's training config; default: RUN/config.yaml")
	out     = flag.String("out", "", "output directory (required)")
	plan    = flag.String("plan", "", "directory for the per-shard plan files; default: OUT/.plan")
	shards  = flag.Int("shards", 1, "number of shards")
	topK    = flag.Int("topk", 0, "also write each user's top-K items (0: none)")
	which   = flag.String("checkpoint", "best", "which model: best (train.select's pick, the latest for a run without a validation split) or latest")
	force   = flag.Bool("force", false, "use a config or store that does not match the checkpoint")
)

// setFlags collects repeated --set key=value flags.
type setFlags []string

func (s *setFlags) String() string     { return strings.Join(*s, " ") }
func (s *setFlags) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	var sets setFlags
	flag.Var(&sets, "set", "override a config key, key=value, as given to train (repeatable)")
	flag.Parse()
	beam.Init() // a worker started from this binary runs here and never returns
	ctx := context.Background()
	if err := run(ctx, sets); err != nil {
		log.Exitf(ctx, "trainerd-beam: %v", err)
	}
}

func run(ctx context.Context, sets []string) error {
	if *runDir == "" || *out == "" {
		return errors.New("--run-dir and --out are required")
	}
	cfg, err := infer.LoadConfig(*cfgPath, sets, *runDir)
	if err != nil {
		return err
	}
	yaml, err := inferpipe.ConfigYAML(cfg)
	if err != nil {
		return err
	}
	st := *store
	if st == "" {
		st = cfg.Dataset.Store
	}
	planDir := *plan
	if planDir == "" {
		planDir = filepath.Join(*out, ".plan")
	}
	glob, err := inferpipe.WritePlan(planDir, *shards)
	if err != nil {
		return err
	}
	p, s := beam.NewPipelineWithRoot()
	inferpipe.Build(s, inferpipe.Options{RunDir: *runDir, StoreDir: st, ConfigYAML: yaml, Out: *out, PlanGlob: glob, TopK: *topK, Checkpoint: *which, Force: *force})
	return beamx.Run(ctx, p)
}
