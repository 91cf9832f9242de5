package config

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary YAML, one --set string and one environment entry
// to the loader. It must never panic: it either returns an error starting
// "config: " or a config that validates, hashes, prints, and loads back from
// its printed form to the identical config with the same hash. The seed
// corpus is the configs/ directory, the cases below and
// testdata/fuzz/FuzzLoad (which `go test` runs as ordinary subtests).
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "configs", "*.yaml"))
	for _, p := range files {
		if raw, err := os.ReadFile(p); err == nil {
			f.Add(raw, "", "")
		}
	}
	f.Add([]byte(""), "model.lr=inf", "")
	f.Add([]byte("model:\n  l2: .inf\n"), "", "TRAINERD_MODEL_TEMPERATURE=inf")
	f.Add([]byte("model: {dim: 1000000000}\n"), "producer.layers=7", "TRAINERD_MODEL_LRR=5")
	f.Add([]byte("curriculum:\n  margin: {kind: steps, values: [[0, 1e-3], [2, .nan]]}\n"), "curriculum.margin.values=[[0, 1e400]]", "TRAINERD_DATA=/x")
	f.Add([]byte("producer: {negatives: {pool_size: 0}}\n"), "model.in_batch=true", "TRAINERD_PRODUCER_QUEUE=")
	f.Add([]byte("a: &a [*a]\n"), "train.seed=18446744073709551616", "TRAINERD_TRAIN_SEED=-1")
	f.Fuzz(func(t *testing.T, raw []byte, set, env string) {
		var sets, environ []string
		if set != "" {
			sets = []string{set}
		}
		if env != "" {
			environ = []string{env}
		}
		cfg, err := load("fuzz.yaml", raw, environ, sets)
		if err != nil {
			if cfg != nil {
				t.Fatalf("error %v with a config", err)
			}
			if !strings.HasPrefix(err.Error(), "config: ") {
				t.Fatalf("error does not start with \"config: \": %v", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("loaded config does not validate: %v", err)
		}
		h := Hash(cfg)
		if cfg.ParamBytes(1<<20, 1<<20) < 0 {
			t.Fatal("negative ParamBytes")
		}
		var buf bytes.Buffer
		if err := Print(&buf, cfg); err != nil {
			t.Fatalf("print: %v", err)
		}
		back, err := load("printed.yaml", buf.Bytes(), nil, nil)
		if err != nil {
			t.Fatalf("printed config does not load: %v\n%s", err, buf.String())
		}
		if !reflect.DeepEqual(back, cfg) {
			t.Fatalf("round trip differs:\n got %+v\nwant %+v\n%s", back, cfg, buf.String())
		}
		if Hash(back) != h {
			t.Fatal("hash differs after the round trip")
		}
	})
}
