// Package inferpipe is trainerd's sharded inference (package infer) as an
// Apache Beam pipeline:
//
//	plan files (one JSON ShardSpec per shard, written by WritePlan)
//	  → fileio.MatchFiles → beam.Reshuffle → fileio.ReadMatches
//	  → embedShardFn: one element per shard; the model is loaded once per
//	    DoFn instance (Setup) and reused for every shard it processes
//	  → [topKShardFn: each shard's users' top-K, after every shard is
//	    embedded (the embedded shards are its side input)]
//	  → mergeFn: one element, after every shard (side input): infer.Merge
//	    writes manifest.json.
//
// Workers write straight into the output directory with infer's atomic
// writes, so the output is the same set of files `trainerd infer` writes,
// byte for byte. The run directory, the store and the output directory are
// POSIX paths every worker can read (and, for the output, write): local
// disk on the in-process prism runner, a shared file system (NFS,
// Filestore, a FUSE-mounted bucket) on a cluster.
package inferpipe

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/fileio"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local" // plan files on a POSIX path
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trainerd/trainerd/config"
	"github.com/trainerd/trainerd/export"
	"github.com/trainerd/trainerd/infer"
	"github.com/trainerd/trainerd/linalg"
)

func init() {
	register.DoFn3x1[context.Context, fileio.ReadableFile, func(int), error](&embedShardFn{})
	register.DoFn4x1[context.Context, fileio.ReadableFile, func(*int) bool, func(int), error](&topKShardFn{})
	register.DoFn3x1[context.Context, []byte, func(*int) bool, error](&mergeFn{})
	register.Emitter1[int]()
	register.Iter1[int]()
}

// ShardSpec is the content of one plan file: which shard to compute.
type ShardSpec struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// PlanName is the plan file name of shard i of n.
func PlanName(i, n int) string { return fmt.Sprintf("shard-%05d-of-%05d.json", i, n) }

// WritePlan writes one ShardSpec file per shard of n into dir (created if
// missing, each file atomically) and returns the glob matching them.
// Plan files of another shard count in dir are removed first, so the glob
// matches exactly these n.
func WritePlan(dir string, n int) (string, error) {
	if err := (infer.Shard{Index: 0, Count: n}).Validate(); err != nil {
		return "", fmt.Errorf("inferpipe: --shards: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("inferpipe: plan: %w", err)
	}
	old, err := filepath.Glob(filepath.Join(dir, "shard-*-of-*.json"))
	if err != nil {
		return "", fmt.Errorf("inferpipe: plan: %w", err)
	}
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return "", fmt.Errorf("inferpipe: plan: %w", err)
		}
	}
	for i := 0; i < n; i++ {
		b, _ := json.Marshal(ShardSpec{Index: i, Count: n})
		err := export.WriteFileAtomic(filepath.Join(dir, PlanName(i, n)), func(w io.Writer) error {
			_, err := w.Write(append(b, '\n'))
			return err
		})
		if err != nil {
			return "", fmt.Errorf("inferpipe: plan: %w", err)
		}
	}
	return filepath.Join(dir, "shard-*-of-*.json"), nil
}

// Options configure the pipeline. They travel to the workers inside the
// DoFns (exported fields are serialised), so the config goes as its YAML.
type Options struct {
	// RunDir and StoreDir are the run and the store it was trained on.
	RunDir, StoreDir string
	// ConfigYAML is the run's effective config (config.Print's output).
	ConfigYAML string
	// Out is the output directory; PlanGlob matches the plan files.
	Out, PlanGlob string
	// TopK > 0 also writes each user's top-K items.
	TopK int
	// Checkpoint is infer.CheckpointBest ("" too) or CheckpointLatest.
	Checkpoint string
	// Force uses a config or store that does not match the checkpoint.
	Force bool
}

// Build adds the inference to s: plan files → shards → (top-K) → merge.
func Build(s beam.Scope, o Options) {
	s = s.Scope("trainerd-infer")
	files := fileio.MatchFiles(s, o.PlanGlob, fileio.MatchEmptyDisallow())
	files = beam.Reshuffle(s, files)
	specs := fileio.ReadMatches(s, files)
	done := beam.ParDo(s, &embedShardFn{Run: runOf(o)}, specs)
	if o.TopK > 0 {
		// The same plan, read again, with every embedded shard as a side
		// input: top-K starts once all items exist.
		specs2 := fileio.ReadMatches(s, beam.Reshuffle(s, fileio.MatchFiles(s, o.PlanGlob, fileio.MatchEmptyDisallow())))
		done = beam.ParDo(s, &topKShardFn{Run: runOf(o), K: o.TopK}, specs2, beam.SideInput{Input: done})
	}
	beam.ParDo0(s, &mergeFn{Out: o.Out}, beam.Impulse(s), beam.SideInput{Input: done})
}

// Run is what every DoFn needs to find the run.
type Run struct {
	RunDir, StoreDir, ConfigYAML, Out, Checkpoint string
	Force                                         bool
}

func runOf(o Options) Run {
	return Run{RunDir: o.RunDir, StoreDir: o.StoreDir, ConfigYAML: o.ConfigYAML, Out: o.Out, Checkpoint: o.Checkpoint, Force: o.Force}
}

// open loads the run's model on a worker. Like trainerd, it runs OpenBLAS
// single-threaded unless OPENBLAS_NUM_THREADS says otherwise: the model
// parallelises over goroutines, and the GEMM's thread split would change the
// last bits of top-K scores relative to `trainerd infer`.
func (r Run) open() (*infer.Model, error) {
	if os.Getenv("OPENBLAS_NUM_THREADS") == "" {
		linalg.SetThreads(1)
	}
	f, err := os.CreateTemp("", "trainerd-config-*.yaml")
	if err != nil {
		return nil, fmt.Errorf("inferpipe: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(r.ConfigYAML); err != nil {
		f.Close()
		return nil, fmt.Errorf("inferpipe: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("inferpipe: %w", err)
	}
	cfg, err := config.Load(f.Name(), nil)
	if err != nil {
		return nil, fmt.Errorf("inferpipe: the pipeline's config: %w", err)
	}
	return infer.Open(infer.Options{Config: cfg, RunDir: r.RunDir, StoreDir: r.StoreDir, Checkpoint: r.Checkpoint, Force: r.Force})
}

// readSpec reads one plan file.
func readSpec(ctx context.Context, f fileio.ReadableFile) (infer.Shard, error) {
	b, err := f.Read(ctx)
	if err != nil {
		return infer.Shard{}, fmt.Errorf("inferpipe: plan %s: %w", f.Metadata.Path, err)
	}
	var sp ShardSpec
	if err := json.Unmarshal(b, &sp); err != nil {
		return infer.Shard{}, fmt.Errorf("inferpipe: plan %s: %w", f.Metadata.Path, err)
	}
	s := infer.Shard{Index: sp.Index, Count: sp.Count}
	if err := s.Validate(); err != nil {
		return infer.Shard{}, fmt.Errorf("inferpipe: plan %s: %w", f.Metadata.Path, err)
	}
	return s, nil
}

// embedShardFn embeds one shard per element. The model is loaded in Setup,
// once per DoFn instance, which the runner reuses across bundles.
type embedShardFn struct {
	Run   Run
	model *infer.Model
}

// Setup loads the model.
func (fn *embedShardFn) Setup() error {
	m, err := fn.Run.open()
	if err != nil {
		return err
	}
	fn.model = m
	return nil
}

// ProcessElement writes the shard the plan file names and emits its index.
func (fn *embedShardFn) ProcessElement(ctx context.Context, f fileio.ReadableFile, emit func(int)) error {
	s, err := readSpec(ctx, f)
	if err != nil {
		return err
	}
	sm, err := fn.model.RunShard(ctx, fn.Run.Out, s)
	if err != nil {
		return err
	}
	log.Infof(ctx, "trainerd-beam: shard %s written: %d users, %d items", s, sm.Users.Rows, sm.Items.Rows)
	emit(s.Index)
	return nil
}

// Teardown releases the store.
func (fn *embedShardFn) Teardown() error {
	if fn.model != nil {
		return fn.model.Close()
	}
	return nil
}

// topKShardFn writes one shard's top-K per element, after every shard is
// embedded (the side input).
type topKShardFn struct {
	Run   Run
	K     int
	model *infer.Model
}

// Setup loads the model (for its store's train graph, the mask).
func (fn *topKShardFn) Setup() error {
	m, err := fn.Run.open()
	if err != nil {
		return err
	}
	fn.model = m
	return nil
}

// ProcessElement writes the top-K files of the plan file's shard.
func (fn *topKShardFn) ProcessElement(ctx context.Context, f fileio.ReadableFile, embedded func(*int) bool, emit func(int)) error {
	var i, n int
	for embedded(&i) {
		n++
	}
	s, err := readSpec(ctx, f)
	if err != nil {
		return err
	}
	if n != s.Count {
		return fmt.Errorf("inferpipe: top-k of shard %s: %d of %d shards embedded", s, n, s.Count)
	}
	if _, err := fn.model.TopKShard(ctx, fn.Run.Out, s, fn.K); err != nil {
		return err
	}
	emit(s.Index)
	return nil
}

// Teardown releases the store.
func (fn *topKShardFn) Teardown() error {
	if fn.model != nil {
		return fn.model.Close()
	}
	return nil
}

// mergeFn runs infer.Merge once every shard is done (its side input).
type mergeFn struct {
	Out string
}

// ProcessElement merges the output directory.
func (fn *mergeFn) ProcessElement(ctx context.Context, _ []byte, done func(*int) bool) error {
	var i, n int
	for done(&i) {
		n++
	}
	man, err := infer.Merge(fn.Out)
	if err != nil {
		return err
	}
	log.Infof(ctx, "trainerd-beam: merged %d shards (%d done here) into %s", man.Count, n, filepath.Join(fn.Out, infer.ManifestJSON))
	return nil
}

// ConfigYAML renders cfg as the YAML that workers load back.
func ConfigYAML(cfg *config.Config) (string, error) {
	var b strings.Builder
	if err := config.Print(&b, cfg); err != nil {
		return "", fmt.Errorf("inferpipe: %w", err)
	}
	return b.String(), nil
}
