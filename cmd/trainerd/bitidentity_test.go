package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trainerd/trainerd/checkpoints"
	"github.com/trainerd/trainerd/config"
	"github.com/trainerd/trainerd/eval"
	"github.com/trainerd/trainerd/linalg"
	"github.com/trainerd/trainerd/trainer"
)

// bitIdentity is testdata/bit-identity.golden: for each model, the
// params_sha256 of the last checkpoint and the run's metrics after a short
// seeded run, and the GEMM backend they were recorded on.
type bitIdentity struct {
	// BLAS is linalg's description of the backend (OpenBLAS's own config
	// line, which names its version and core type).
	BLAS   string             `json:"blas"`
	Models []bitIdentityModel `json:"models"`
}

type bitIdentityModel struct {
	Name         string       `json:"name"`
	Step         int          `json:"step"`
	ParamsSHA256 string       `json:"params_sha256"`
	Selected     eval.Metrics `json:"selected"`
	Test         eval.Metrics `json:"test"`
}

// TestBitIdentity trains each model (GraphSAGE with every aggregator) for
// one short epoch on the tiny generated store with fixed seeds and
// compares the checkpoint's params_sha256 and the metrics, bit for bit,
// with testdata/bit-identity.golden: a refactor that should not change the
// maths must leave them as they are (`-update` records new ones when a
// change of the arithmetic is intended). The bits depend on the GEMM
// backend, so the test runs only on the OpenBLAS build and core type the
// golden file was recorded with (CI's: OPENBLAS_CORETYPE=Haswell) and
// skips, naming both, elsewhere.
func TestBitIdentity(t *testing.T) {
	blas := linalg.Default()
	if !strings.HasPrefix(blas.Name(), "openblas") {
		t.Skipf("GEMM backend is %s: the golden params_sha256 were recorded with OpenBLAS (OPENBLAS_CORETYPE=Haswell)", blas.Name())
	}
	golden := filepath.Join(testdataDir(t), "bit-identity.golden")
	var want bitIdentity
	if !*update {
		b, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run with -update to record it)", err)
		}
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("%s: %v", golden, err)
		}
		if blas.Config() != want.BLAS {
			t.Skipf("OpenBLAS here is %q; the golden values were recorded with %q (set OPENBLAS_CORETYPE=Haswell)", blas.Config(), want.BLAS)
		}
	}
	// trainerd runs OpenBLAS single-threaded (cmd/trainerd's start-up).
	blas.SetThreads(1)
	store := tinyStoreInProcess(t)
	got := bitIdentity{BLAS: blas.Config()}
	for _, spec := range []string{"mf", "deepwalk", "lightgcn", "ngcf", "graphsage:gcn", "graphsage:gat", "graphsage:mean", "graphsage:pool", "pinsage"} {
		name, agg, _ := strings.Cut(spec, ":")
		sets := []string{"train.device=cpu", "http.addr=", "model.name=" + name, "train.epochs=1", "train.seed=5",
			"model.seed=7", "producer.batch_size=64", "model.dim=16", "model.threads=2"}
		if agg != "" {
			sets = append(sets, "model.aggregator="+agg)
		}
		cfg, err := config.Load("", sets)
		if err != nil {
			t.Fatal(err)
		}
		res, err := trainer.Run(context.Background(), trainer.Options{Config: cfg, StoreDir: store,
			RunDir: filepath.Join(t.TempDir(), "run"), Out: io.Discard, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		in := checkpoints.Describe(res.Checkpoint, -1)
		if !in.Valid || res.Final == nil {
			t.Fatalf("%s: checkpoint %s valid %v (%s), final result %v", spec, res.Checkpoint, in.Valid, in.Error, res.Final)
		}
		got.Models = append(got.Models, bitIdentityModel{Name: spec, Step: res.Step, ParamsSHA256: in.ParamsSHA256,
			Selected: res.Final.Selected.Metrics, Test: res.Final.Test})
	}
	if *update {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetIndent("", "  ")
		if err := enc.Encode(got); err != nil {
			t.Fatal(err)
		}
		checkGolden(t, "bit-identity.golden", b.String())
		return
	}
	if len(got.Models) != len(want.Models) {
		t.Fatalf("%d models trained, golden has %d", len(got.Models), len(want.Models))
	}
	for i, g := range got.Models {
		w := want.Models[i]
		if g.Name != w.Name || g.Step != w.Step || g.ParamsSHA256 != w.ParamsSHA256 {
			t.Errorf("%s: step %d params_sha256 %s, want %s step %d %s", g.Name, g.Step, g.ParamsSHA256, w.Name, w.Step, w.ParamsSHA256)
		}
		for _, m := range []struct {
			split     string
			got, want eval.Metrics
		}{{"selected", g.Selected, w.Selected}, {"test", g.Test, w.Test}} {
			if len(m.got) != len(m.want) {
				t.Errorf("%s %s metrics %v, want %v", g.Name, m.split, m.got, m.want)
			}
			for k, v := range m.want {
				if m.got[k] != v {
					t.Errorf("%s %s %s = %v, want %v (bit for bit)", g.Name, m.split, k, m.got[k], v)
				}
			}
		}
	}
}
