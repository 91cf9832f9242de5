package config

import (
	"bytes"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/trainerd/trainerd/modelspec"
	"github.com/trainerd/trainerd/producer"
)

func writeYAML(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsValid(t *testing.T) {
	cfg, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := Default(); !reflect.DeepEqual(*cfg, want) {
		t.Fatalf("Load(\"\") = %+v, want Default() %+v", *cfg, want)
	}
}

func TestBadConfigs(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		sets []string
		key  string
		kind error
		msg  string // substring of the message
	}{
		{"unknown model key", "model:\n  lrr: 0.1\n", nil, "model.lrr", ErrUnknownKey, "unknown key"},
		{"unknown section", "modle:\n  lr: 0.1\n", nil, "modle", ErrUnknownKey, "unknown key"},
		{"unknown nested", "producer:\n  walk:\n    beta: 1\n", nil, "producer.walk.beta", ErrUnknownKey, "unknown key"},
		{"unknown curriculum", "curriculum:\n  margin:\n    kind: constant\n    valeu: 1\n", nil, "curriculum.margin.valeu", ErrUnknownKey, "unknown key"},
		{"curriculum lr removed", "curriculum:\n  lr: {kind: cosine, start: 0.002, end: 0.0002, over: 12}\n", nil, "curriculum.lr", ErrUnknownKey, "model.lr_schedule"},
		{"curriculum lr removed --set", "", []string{"curriculum.lr.kind=cosine"}, "curriculum.lr.kind", ErrUnknownKey, "model.lr_schedule"},
		{"bad lr unit", "", []string{"model.lr_unit=batch"}, "model.lr_unit", ErrInvalid, "batch"},
		{"unknown --set", "", []string{"model.lrr=0.1"}, "model.lrr", ErrUnknownKey, "unknown key"},
		{"dim not int", "model:\n  dim: abc\n", nil, "model.dim", ErrType, `want an integer, got "abc"`},
		{"dim float", "model:\n  dim: 1.5\n", nil, "model.dim", ErrType, "want an integer, got 1.5"},
		{"lr string --set", "", []string{"model.lr=fast"}, "model.lr", ErrType, `want a number, got "fast"`},
		{"normalize not bool", "model:\n  normalize: maybe\n", nil, "model.normalize", ErrType, "true or false"},
		{"section scalar", "train: 5\n", nil, "train", ErrType, "want a mapping"},
		{"device list", "train:\n  device: [cpu]\n", nil, "train.device", ErrType, "want a string"},
		{"seed negative", "train:\n  seed: -1\n", nil, "train.seed", ErrType, "non-negative integer"},
		{"steps bad row", "curriculum:\n  margin:\n    kind: steps\n    values: [[0, x]]\n", nil, "curriculum.margin.values[0][1]", ErrType, "want a number"},
		{"lr negative", "model:\n  lr: -1\n", nil, "model.lr", ErrInvalid, "must be > 0, got -1"},
		{"dim zero", "", []string{"model.dim=0"}, "model.dim", ErrInvalid, "must be > 0, got 0"},
		{"history weight above one", "model:\n  name: mf\n  history: {weight: 1.5}\n", nil, "model.history.weight", ErrInvalid, "must be ≤ 1, got 1.5"},
		{"history max negative", "", []string{"model.history.max=-2"}, "model.history.max", ErrInvalid, "must be ≥ 0, got -2"},
		{"history power negative", "", []string{"model.history.weight=0.5", "model.history.degree_power=-1"}, "model.history.degree_power", ErrInvalid, "must be ≥ 0, got -1"},
		{"old flat history key", "model:\n  name: mf\n  history_weight: 0.5\n", nil, "model.history_weight", ErrUnknownKey, "moved to model.history.weight"},
		{"old flat history --set", "", []string{"model.history_embed_only=true"}, "model.history_embed_only", ErrUnknownKey, "moved to model.history.embed_only"},
		{"embed-only with linear", "", []string{"model.history.weight=0.5", "model.history.embed_only=true", "model.history.linear=true"}, "model.history.linear", ErrInvalid, "model.history.embed_only"},
		{"embed-only with max", "", []string{"model.history.weight=0.5", "model.history.embed_only=true", "model.history.max=4"}, "model.history.max", ErrInvalid, "model.history.embed_only"},
		{"dropout one", "model:\n  name: mf\n  dropout: 1\n", nil, "model.dropout", ErrInvalid, "must be < 1, got 1"},
		{"history on lightgcn", "model:\n  name: lightgcn\n  history: {weight: 0.5}\n", nil, "model.history.weight", ErrInvalid, "needs model.name mf"},
		{"dropout on item pairs", "model:\n  name: mf\n  dropout: 0.1\nproducer:\n  examples: {kind: item_item}\n", nil, "model.dropout", ErrInvalid, "needs user queries"},
		{"residual on graphsage", "model:\n  name: graphsage\n  residual: true\n", nil, "model.residual", ErrInvalid, "needs model.name pinsage, got \"graphsage\""},
		{"bad model name", "model:\n  name: resnet\n", nil, "model.name", ErrInvalid, `got "resnet"`},
		{"bad loss", "model:\n  loss: hinge\n", nil, "model.loss", ErrInvalid, `got "hinge"`},
		{"bad examples", "producer:\n  examples:\n    kind: clicks\n", nil, "producer.examples.kind", ErrInvalid, "clicks"},
		{"bad neighbors mode", "producer:\n  neighbors:\n    mode: top\n", nil, "producer.neighbors.mode", ErrInvalid, "top"},
		{"alpha > 1", "producer:\n  walk:\n    alpha: 1.5\n", nil, "producer.walk.alpha", ErrInvalid, "must be in (0,1), got 1.5"},
		{"rank window", "producer:\n  hard:\n    rank_lo: 10\n    rank_hi: 5\n", nil, "producer.hard.rank_hi", ErrInvalid, "must be >"},
		{"batch size zero", "", []string{"producer.batch_size=0"}, "producer.batch_size", ErrInvalid, "got 0"},
		{"pool size negative", "", []string{"producer.negatives.pool_size=-1"}, "producer.negatives.pool_size", ErrInvalid, "got -1"},
		{"neighbors t too big", "", []string{"producer.neighbors.t=5000"}, "producer.neighbors.t", ErrInvalid, "[1,1024]"},
		{"drop items one", "", []string{"producer.neighbors.drop_items=1"}, "producer.neighbors.drop_items", ErrInvalid, "[0,1)"},
		{"queue zero", "producer:\n  queue: 0\n", nil, "producer.queue", ErrInvalid, "must be > 0"},
		{"workers negative", "", []string{"producer.workers=-2"}, "producer.workers", ErrInvalid, "must be ≥ 0"},
		// Strict keys and types inside the squashed producer.Config.
		{"unknown squashed key", "producer:\n  batchsize: 5\n", nil, "producer.batchsize", ErrUnknownKey, "unknown key"},
		{"unknown squashed nested", "producer:\n  negatives:\n    size: 5\n", nil, "producer.negatives.size", ErrUnknownKey, "unknown key"},
		{"old pool key", "producer:\n  pool:\n    size: 5\n", nil, "producer.pool", ErrUnknownKey, "unknown key"},
		{"embedded name is no key", "producer:\n  config:\n    batch_size: 5\n", nil, "producer.config", ErrUnknownKey, "unknown key"},
		{"unknown squashed --set", "", []string{"producer.walk.max_steps=5"}, "producer.walk.max_steps", ErrUnknownKey, "unknown key"},
		{"squashed type", "producer:\n  batch_size: many\n", nil, "producer.batch_size", ErrType, `want an integer, got "many"`},
		{"squashed nested type", "producer:\n  neighbors:\n    pad: sometimes\n", nil, "producer.neighbors.pad", ErrType, "true or false"},
		{"squashed seed negative", "producer:\n  seed: -3\n", nil, "producer.seed", ErrType, "non-negative integer"},
		{"bad device", "train:\n  device: tpu\n", nil, "train.device", ErrInvalid, "tpu"},
		{"bad device index", "train:\n  device: cuda:x\n", nil, "train.device", ErrInvalid, "cuda:x"},
		{"keep_last zero", "checkpoint:\n  keep_last: 0\n", nil, "checkpoint.keep_last", ErrInvalid, "must be > 0"},
		{"bad addr", "http:\n  addr: localhost\n", nil, "http.addr", ErrInvalid, "host:port"},
		{"layers mismatch", "model:\n  layers: 3\nproducer:\n  layers: 2\n", nil, "producer.layers", ErrInvalid, "model.layers"},
		{"layers vs model default", "", []string{"producer.layers=3"}, "producer.layers", ErrInvalid, "model.layers 0 = 2, producer.layers 3"},
		{"curriculum kind", "curriculum:\n  margin:\n    kind: exp\n", nil, "curriculum.margin.kind", ErrInvalid, "exp"},
		{"curriculum cosine", "curriculum:\n  margin:\n    kind: cosine\n    start: 0.2\n", nil, "curriculum.margin.over", ErrInvalid, "over"},
		{"curriculum unit", "", []string{"curriculum.unit=hour"}, "curriculum.unit", ErrInvalid, "hour"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.yaml != "" {
				path = writeYAML(t, tt.yaml)
			}
			_, err := Load(path, tt.sets)
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("error %q is not %v", err, tt.kind)
			}
			if want := "config: " + tt.key + ": "; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q does not start with %q", err, want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
		})
	}
}

func TestLayering(t *testing.T) {
	path := writeYAML(t, "model:\n  lr: 0.01\n  dim: 32\ntrain:\n  epochs: 5\n")
	t.Setenv("TRAINERD_MODEL_LR", "0.02")
	t.Setenv("TRAINERD_PRODUCER_WALK_STEPS", "77")
	t.Setenv("TRAINERD_PRODUCER_NEGATIVES_POOL_SIZE", "300")
	t.Setenv("TRAINERD_PRODUCER_QUEUE", "3")
	t.Setenv("TRAINERD_DATA", "/somewhere") // a section-named variable must not shadow dataset.*
	t.Setenv("TRAINERD_MODEL_NORMALIZE", "false")
	cfg, err := Load(path, []string{"train.epochs=7", "curriculum.margin.kind=steps", "curriculum.margin.values=[[0, 0.1], [10, 0.2]]"})
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Model.LR = 0.02          // env beats file
	want.Model.Dim = 32           // file beats default
	want.Producer.Walk.Steps = 77 // env, nested key with _ inside the squashed producer.Config
	want.Producer.Negatives.PoolSize = 300
	want.Producer.Queue = 3
	want.Model.Normalize = false
	want.Train.Epochs = 7 // --set beats file
	want.Curriculum.Margin.Kind = "steps"
	want.Curriculum.Margin.Values = [][]float64{{0, 0.1}, {10, 0.2}}
	if !reflect.DeepEqual(*cfg, want) {
		t.Fatalf("got  %+v\nwant %+v", *cfg, want)
	}
	// --set beats env.
	cfg, err = Load(path, []string{"model.lr=0.5"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Model.LR != 0.5 {
		t.Fatalf("--set model.lr=0.5 gave %g", cfg.Model.LR)
	}
	// A wrong type from the environment names the key.
	t.Setenv("TRAINERD_MODEL_DIM", "abc")
	if _, err := Load(path, nil); err == nil || !strings.HasPrefix(err.Error(), "config: model.dim: ") {
		t.Fatalf("TRAINERD_MODEL_DIM=abc: %v", err)
	}
}

func TestPrintRoundTrip(t *testing.T) {
	path := writeYAML(t, `
model: {name: lightgcn, lr: 0.0025, dim: 48, l2: 1e-4, seed: 18446744073709551615}
producer: {workers: 3, seed: 42, examples: {kind: walks, window: 5}, walk: {alpha: 0.3, stop_nodes: -1}, neighbors: {t: 7, pad: true}, negatives: {dist: uniform}, hard: {steps: 900}}
dataset: {store: "dir with: colon"}
curriculum:
  unit: step
  margin: {kind: cosine, start: 0.001, end: 1e-5, over: 1000}
  rank_window: {kind: steps, values: [[0, 2000, 5000], [500, 1000, 3000]]}
  hard_negatives: {kind: linear, slope: 1, cap: 6}
`)
	cfg, err := Load(path, []string{"http.addr=:9090", "dataset.store=''"})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Print(&buf, cfg); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"model:", "  lr: 0.0025", "curriculum:", "    kind: \"cosine\"", "store: \"\"",
		"producer:\n  workers: 3\n  queue: 8\n  seed: 42\n  batch_size: 512\n", "    t: 7\n", "    stop_nodes: -1\n"} {
		if !strings.Contains(buf.String(), k) {
			t.Errorf("printed config lacks %q:\n%s", k, buf.String())
		}
	}
	back, err := Load(writeYAML(t, buf.String()), nil)
	if err != nil {
		t.Fatalf("printed config does not load: %v\n%s", err, buf.String())
	}
	if !reflect.DeepEqual(back, cfg) {
		t.Fatalf("round trip differs:\n got %+v\nwant %+v", back, cfg)
	}
	if Hash(back) != Hash(cfg) {
		t.Fatal("hash differs after round trip")
	}
	p := cfg.Producer
	if p.Workers != 3 || p.Seed != 42 || p.Examples.Kind != "walks" || p.Examples.Window != 5 || p.Walk.StopNodes != -1 ||
		p.Neighbors.T != 7 || !p.Neighbors.Pad || p.Negatives.Dist != "uniform" || p.Hard.Steps != 900 {
		t.Errorf("producer section not decoded: %+v", p)
	}
	if strings.Contains(buf.String(), "  config:") {
		t.Errorf("embedded producer.Config printed as a section:\n%s", buf.String())
	}
	// Every key is printed.
	for _, k := range Keys() {
		last := k[strings.LastIndex(k, ".")+1:]
		if !strings.Contains(buf.String(), last+":") {
			t.Errorf("key %s not printed", k)
		}
	}
}

func TestHash(t *testing.T) {
	base := Default()
	h := Hash(&base)
	tests := []struct {
		name   string
		change func(*Config)
		same   bool
	}{
		{"epochs", func(c *Config) { c.Train.Epochs = 99 }, true},
		{"http", func(c *Config) { c.HTTP.Addr = ":1" }, true},
		{"every_minutes", func(c *Config) { c.Checkpoint.EveryMinutes = 1 }, true},
		{"workers", func(c *Config) { c.Producer.Workers = 7 }, true},
		{"queue", func(c *Config) { c.Producer.Queue = 1 }, true},
		{"producer seed", func(c *Config) { c.Producer.Seed = 9 }, false},
		{"neighbors t", func(c *Config) { c.Producer.Neighbors.T = 11 }, false},
		{"hard steps", func(c *Config) { c.Producer.Hard.Steps = 100 }, false},
		{"store path", func(c *Config) { c.Dataset.Store = "/elsewhere" }, true},
		{"lr", func(c *Config) { c.Model.LR = 0.5 }, false},
		{"seed", func(c *Config) { c.Train.Seed = 2 }, false},
		{"device", func(c *Config) { c.Train.Device = "cpu" }, false},
		{"curriculum", func(c *Config) { c.Curriculum.HardNegatives.Kind = "linear" }, false},
		{"batch size", func(c *Config) { c.Producer.BatchSize = 1 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.change(&c)
			if got := Hash(&c) == h; got != tt.same {
				t.Fatalf("hash unchanged = %v, want %v", got, tt.same)
			}
		})
	}
}

// TestHashKeyAdded: a key trainerd gains later with a zero default leaves
// the hash of every existing config as it was (so a checkpoint of an older
// trainerd resumes), while any non-zero value of it changes the hash.
func TestHashKeyAdded(t *testing.T) {
	for _, name := range []string{"quickstart.yaml", "gowalla-pinsage.yaml", "gowalla-mf-ccl-192.yaml"} {
		t.Run(name, func(t *testing.T) {
			cfg, err := Load(filepath.Join("..", "configs", name), nil)
			if err != nil {
				t.Fatal(err)
			}
			flat := func(extra map[string]any) map[string]any {
				m := map[string]any{}
				flatten(reflect.ValueOf(*cfg), "", m)
				maps.Copy(m, extra)
				return m
			}
			h := Hash(cfg)
			for _, zero := range []any{false, 0, 0.0, "", []string(nil), []float64{}} {
				if got := hashFlat(flat(map[string]any{"model.new_key": zero})); got != h {
					t.Errorf("a new key at %#v changes the hash", zero)
				}
			}
			for _, v := range []any{true, 1, 0.5, "x", []string{"a"}} {
				if got := hashFlat(flat(map[string]any{"model.new_key": v})); got == h {
					t.Errorf("a new key at %#v leaves the hash unchanged", v)
				}
			}
			if got := hashFlat(flat(nil)); got != h {
				t.Errorf("hashFlat of the flattened config %s, Hash %s", got, h)
			}
		})
	}
}

// TestProducerKeys checks that the squashed producer.Config puts its keys
// directly under producer:, next to workers and queue, with no duplicates.
func TestProducerKeys(t *testing.T) {
	want := []string{"producer.workers", "producer.queue"}
	for _, l := range leaves(reflect.TypeOf(producer.Config{}), "producer.") {
		want = append(want, l.key)
	}
	var got []string
	seen := map[string]bool{}
	for _, k := range Keys() {
		if seen[k] {
			t.Errorf("duplicate key %s", k)
		}
		seen[k] = true
		if strings.HasPrefix(k, "producer.") {
			got = append(got, k)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("producer keys\n got %v\nwant %v", got, want)
	}
	for _, k := range []string{"producer.batch_size", "producer.neighbors.t", "producer.walk.steps",
		"producer.negatives.pool_size", "producer.hard.rank_lo", "producer.examples.walks_per_node", "producer.seed"} {
		if !seen[k] {
			t.Errorf("no key %s", k)
		}
	}
}

// TestDefaultProducer checks that the producer defaults are producer's own
// (EnsureDefaults), apart from the two documented exceptions.
func TestDefaultProducer(t *testing.T) {
	var want producer.Config
	want.EnsureDefaults()
	got := Default().Producer.Config
	spec, _ := modelspec.Lookup(Default().Model.Model)
	if got.Layers != spec.DefaultLayers || got.Walk.StopNodes != 0 {
		t.Fatalf("layers %d stop_nodes %d, want %d and 0", got.Layers, got.Walk.StopNodes, spec.DefaultLayers)
	}
	got.Layers, got.Walk.StopNodes = want.Layers, want.Walk.StopNodes
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Default().Producer.Config\n got %+v\nwant %+v", got, want)
	}
	// stop_nodes 0 resolves to neighbors.t in the producer.
	c := Default().Producer.Config
	c.Neighbors.T = 17
	c.EnsureDefaults()
	if c.Walk.StopNodes != 17 {
		t.Fatalf("stop_nodes 0 resolved to %d, want neighbors.t 17", c.Walk.StopNodes)
	}
}

// TestProducerErrorsJoined checks that every bad producer key is reported as
// its own *KeyError.
func TestProducerErrorsJoined(t *testing.T) {
	_, err := Load("", []string{"producer.walk.alpha=2", "producer.negatives.dist=zipf", "producer.hard.rank_lo=-5"})
	if err == nil {
		t.Fatal("accepted")
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("%q is not ErrInvalid", err)
	}
	for _, k := range []string{"producer.walk.alpha", "producer.negatives.dist", "producer.hard.rank_lo"} {
		if !strings.Contains(err.Error(), "config: "+k+": ") {
			t.Errorf("error lacks %s:\n%v", k, err)
		}
	}
	var ke *KeyError
	if !errors.As(err, &ke) || !strings.HasPrefix(ke.Key, "producer.") || ke.Kind != ErrInvalid {
		t.Errorf("errors.As *KeyError: %+v", ke)
	}
}

// TestBase checks that the curriculum starts from the producer's pool size
// and rank window and the model's margin.
func TestBase(t *testing.T) {
	cfg, err := Load("", []string{"producer.negatives.pool_size=123", "producer.hard.rank_lo=40",
		"producer.hard.rank_hi=90", "model.margin=0.3"})
	if err != nil {
		t.Fatal(err)
	}
	b := cfg.Base()
	if b.PoolSize != 123 || b.RankLo != 40 || b.RankHi != 90 || b.Margin != 0.3 || b.HardPer != 0 {
		t.Fatalf("Base() = %+v", b)
	}
	s, err := cfg.Schedule()
	if err != nil {
		t.Fatal(err)
	}
	if p := s.At(3, 100); p.PoolSize != 123 || p.RankLo != 40 || p.RankHi != 90 || p.Margin != 0.3 {
		t.Fatalf("unscheduled At(3) = %+v, want the base", p)
	}
}

// TestConfigsDir loads and validates every file in configs/ so they never rot.
func TestConfigsDir(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "configs", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 7 {
		t.Fatalf("want ≥ 7 configs in ../configs, found %d", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := Load(f, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cfg.Schedule(); err != nil {
				t.Fatal(err)
			}
		})
	}
	// reference.yaml documents every key with its default.
	ref, err := Load(filepath.Join("..", "configs", "reference.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*ref, Default()) {
		t.Errorf("configs/reference.yaml differs from Default():\n got %+v\nwant %+v", *ref, Default())
	}
	raw, _ := os.ReadFile(filepath.Join("..", "configs", "reference.yaml"))
	for _, k := range Keys() {
		last := k[strings.LastIndex(k, ".")+1:]
		if !strings.Contains(string(raw), last+":") {
			t.Errorf("configs/reference.yaml lacks key %s", k)
		}
	}
}

// TestHistoryOffOneSet: the shipped smoothed MF-CCL recipe turns its
// behaviour aggregation off with the one key model.history.weight=0 (the
// other history keys become irrelevant), and every conflict among an active
// aggregation's keys is reported in one error.
func TestHistoryOffOneSet(t *testing.T) {
	f := filepath.Join("..", "configs", "gowalla-mf-ccl.yaml")
	cfg, err := Load(f, []string{"model.history.weight=0"})
	if err != nil {
		t.Fatalf("turning the smoothing off with one --set: %v", err)
	}
	if cfg.Model.History.Active() {
		t.Errorf("history still active: %+v", cfg.Model.History)
	}
	_, err = Load(f, []string{"model.history.linear=true", "model.history.max=8"})
	if err == nil {
		t.Fatal("embed_only with linear and max accepted")
	}
	for _, k := range []string{"model.history.linear:", "model.history.max:"} {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("error lacks %s:\n%v", k, err)
		}
	}
}
