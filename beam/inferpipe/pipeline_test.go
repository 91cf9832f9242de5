package inferpipe

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/trainerd/trainerd/config"
	"github.com/trainerd/trainerd/export"
	"github.com/trainerd/trainerd/featurestore"
	"github.com/trainerd/trainerd/gen"
	"github.com/trainerd/trainerd/infer"
	"github.com/trainerd/trainerd/linalg"
	"github.com/trainerd/trainerd/trainer"
)

// TestMain runs the pipelines on prism, in process, unless --runner says
// otherwise. OpenBLAS runs single-threaded, as in trainerd and on the
// pipeline's workers (the GEMM's thread split changes top-K scores' last
// bits), so the local infer and the pipeline compute alike.
func TestMain(m *testing.M) {
	linalg.SetThreads(1)
	ptest.MainWithDefault(m, "prism")
}

// fixture trains a model (sets) on the generated tiny store.
func fixture(t *testing.T, sets ...string) (cfg *config.Config, store, run string) {
	t.Helper()
	gc, err := gen.Preset("tiny")
	if err != nil {
		t.Fatal(err)
	}
	ds, err := gen.Generate(context.Background(), gc)
	if err != nil {
		t.Fatal(err)
	}
	store = filepath.Join(t.TempDir(), "store")
	if _, err := featurestore.Commit(context.Background(), store, ds); err != nil {
		t.Fatal(err)
	}
	cfg, err = config.Load("", append([]string{"train.device=cpu", "http.addr=", "producer.batch_size=128",
		"producer.negatives.pool_size=50", "producer.neighbors.t=5", "producer.walk.steps=30",
		"producer.hard.rank_lo=20", "producer.hard.rank_hi=100", "model.dim=8"}, sets...))
	if err != nil {
		t.Fatal(err)
	}
	run = filepath.Join(t.TempDir(), "run")
	var out bytes.Buffer
	if _, err := trainer.Run(context.Background(), trainer.Options{Config: cfg, StoreDir: store, RunDir: run, Out: &out}); err != nil {
		t.Fatalf("train: %v\n%s", err, out.String())
	}
	return cfg, store, run
}

// TestPipelineEqualsInfer runs the pipeline (3 shards, top-5) on prism for
// MF (three populated shards) and PinSage (one 1024-node chunk) and requires
// every file it writes to equal, byte for byte, what infer writes for the
// same shards locally; the merged embeddings equal the run's best.
func TestPipelineEqualsInfer(t *testing.T) {
	for _, tc := range []struct {
		name string
		sets []string
	}{
		{"mf", []string{"model.name=mf", "model.loss=bpr", "model.lr=0.01", "producer.layers=0", "train.epochs=2"}},
		{"pinsage", []string{"model.hidden=8", "model.name=pinsage", "model.loss=margin", "model.layers=2", "producer.layers=2", "train.epochs=1"}},
	} {
		t.Run(tc.name, func(t *testing.T) { pipelineEqualsInfer(t, tc.sets) })
	}
}

func pipelineEqualsInfer(t *testing.T, sets []string) {
	cfg, store, run := fixture(t, sets...)
	const n, k = 3, 5
	ctx := context.Background()

	local := filepath.Join(t.TempDir(), "local")
	m, err := infer.Open(infer.Options{Config: cfg, RunDir: run, StoreDir: store})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if _, err := m.RunShard(ctx, local, infer.Shard{Index: i, Count: n}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		if _, err := m.TopKShard(ctx, local, infer.Shard{Index: i, Count: n}, k); err != nil {
			t.Fatal(err)
		}
	}
	m.Close()
	if _, err := infer.Merge(local); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(t.TempDir(), "beam")
	yaml, err := ConfigYAML(cfg)
	if err != nil {
		t.Fatal(err)
	}
	glob, err := WritePlan(filepath.Join(t.TempDir(), "plan"), n)
	if err != nil {
		t.Fatal(err)
	}
	p, s := beam.NewPipelineWithRoot()
	Build(s, Options{RunDir: run, StoreDir: store, ConfigYAML: yaml, Out: out, PlanGlob: glob, TopK: k})
	if err := ptest.Run(p); err != nil {
		t.Fatalf("pipeline: %v", err)
	}

	ents, err := os.ReadDir(local)
	if err != nil {
		t.Fatal(err)
	}
	compared := 0
	for _, e := range ents {
		a, err := os.ReadFile(filepath.Join(local, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(out, e.Name()))
		if err != nil {
			t.Fatalf("the pipeline did not write %s: %v", e.Name(), err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between infer and the pipeline", e.Name())
		}
		compared++
	}
	if want := 1 + n*7; compared != want { // manifest.json + per shard 4 embedding files, 2 top-K files, 1 manifest
		t.Errorf("compared %d files, want %d", compared, want)
	}
	got, _, err := infer.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := export.Load(filepath.Join(run, trainer.BestDir))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f32bytes(got.Users), f32bytes(want.Users)) || !bytes.Equal(f32bytes(got.Items), f32bytes(want.Items)) {
		t.Errorf("pipeline embeddings differ from the run's best embeddings")
	}
}

// TestPlan: the plan has one file per shard and replaces a plan of another
// count; a bad count is refused.
func TestPlan(t *testing.T) {
	dir := t.TempDir()
	if _, err := WritePlan(dir, 4); err != nil {
		t.Fatal(err)
	}
	glob, err := WritePlan(dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(glob)
	if len(files) != 2 || filepath.Base(files[0]) != PlanName(0, 2) {
		t.Fatalf("plan files %v", files)
	}
	if _, err := WritePlan(dir, 0); err == nil || !strings.Contains(err.Error(), "shard count 0") {
		t.Fatalf("WritePlan(0): %v", err)
	}
}

func f32bytes(v []float32) []byte {
	var b bytes.Buffer
	_ = export.WriteNPY(&b, v, 1, len(v))
	return b.Bytes()
}
