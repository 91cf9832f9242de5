package config

import (
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// wantKeyErr checks that err is non-nil, of kind, and that one of its lines
// is "config: <key>: ..." containing msg.
func wantKeyErr(t *testing.T, err error, kind error, key, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want an error on %s", key)
	}
	if !errors.Is(err, kind) {
		t.Errorf("error %q is not %v", err, kind)
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		if strings.HasPrefix(line, "config: "+key+": ") && strings.Contains(line, msg) {
			return
		}
	}
	t.Errorf("no line \"config: %s: ...%s...\" in\n%v", key, msg, err)
}

// floatKeys lists every key whose value is a float (scalars only).
func floatKeys() []string {
	var out []string
	for _, l := range leaves(reflect.TypeOf(Config{}), "") {
		if k := l.typ.Kind(); k == reflect.Float32 || k == reflect.Float64 {
			out = append(out, l.key)
		}
	}
	return out
}

// TestNonFinite: inf and NaN, from YAML, the environment or --set, in any
// float key or list, are refused by Validate naming the key, and never reach
// Hash (which panics on them).
func TestNonFinite(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  []string
		sets []string
		key  string
	}{
		{"set lr inf", "", nil, []string{"model.lr=inf"}, "model.lr"},
		{"set margin -inf", "", nil, []string{"model.margin=-inf"}, "model.margin"},
		{"set margin +Inf", "", nil, []string{"model.margin=+Inf"}, "model.margin"},
		{"yaml l2 .inf", "model:\n  l2: .inf\n", nil, nil, "model.l2"},
		{"yaml init_std .inf", "model:\n  init_std: .inf\n", nil, nil, "model.init_std"},
		{"yaml lr nan", "model:\n  lr: .nan\n", nil, nil, "model.lr"},
		{"env temperature inf", "", []string{"TRAINERD_MODEL_TEMPERATURE=inf"}, nil, "model.temperature"},
		{"env every_minutes Infinity", "", []string{"TRAINERD_CHECKPOINT_EVERY_MINUTES=Infinity"}, nil, "checkpoint.every_minutes"},
		{"producer alpha", "", nil, []string{"producer.walk.alpha=.inf"}, "producer.walk.alpha"},
		{"producer power", "", nil, []string{"producer.negatives.power=inf"}, "producer.negatives.power"},
		{"curriculum list", "curriculum:\n  margin: {kind: steps, values: [[0, 0.001], [3, .inf]]}\n", nil, nil, "curriculum.margin.values[1][1]"},
		{"curriculum slope", "", nil, []string{"curriculum.hard_negatives.kind=linear", "curriculum.hard_negatives.slope=-.inf"}, "curriculum.hard_negatives.slope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.yaml != "" {
				path = "test.yaml"
			}
			cfg, err := load(path, []byte(tt.yaml), tt.env, tt.sets)
			if err == nil {
				t.Fatalf("accepted: %+v (hash would panic)", cfg)
			}
			wantKeyErr(t, err, ErrInvalid, tt.key, "must be a finite number")
		})
	}
	// Every float key, generically.
	keys := floatKeys()
	if len(keys) < 20 {
		t.Fatalf("only %d float keys found", len(keys))
	}
	for _, k := range keys {
		for _, v := range []string{"inf", "-inf", "nan"} {
			_, err := load("", nil, nil, []string{k + "=" + v})
			wantKeyErr(t, err, ErrInvalid, k, "must be a finite number")
		}
	}
	// Validate on a hand-built config catches it too.
	c := Default()
	c.Model.Dropout = math.NaN()
	c.Curriculum.Margin.Values = [][]float64{{0, math.Inf(-1)}}
	err := c.Validate()
	wantKeyErr(t, err, ErrInvalid, "model.dropout", "finite")
	wantKeyErr(t, err, ErrInvalid, "curriculum.margin.values[0][1]", "finite")
}

// TestSizeLimits: size keys have upper bounds, so model.dim
// 1e9 is refused by validation instead of exhausting memory.
func TestSizeLimits(t *testing.T) {
	tests := []struct {
		sets []string
		key  string
		msg  string
	}{
		{[]string{"model.dim=1000000000"}, "model.dim", "must be ≤ 16384, got 1000000000"},
		{[]string{"model.hidden=100000"}, "model.hidden", "must be ≤ 16384"},
		{[]string{"model.layers=9"}, "model.layers", "must be ≤ 8"},
		{[]string{"model.name=lightgcn", "model.layers=1000"}, "model.layers", "must be ≤ 8"},
		{[]string{"model.threads=100000"}, "model.threads", "must be ≤ 1024"},
		{[]string{"model.name=mf", "model.history.weight=0.5", "model.history.max=10000000"}, "model.history.max", "must be ≤ 1048576"},
		{[]string{"producer.batch_size=1000000"}, "producer.batch_size", "must be ≤ 131072"},
		{[]string{"producer.negatives.pool_size=1000000"}, "producer.negatives.pool_size", "must be ≤ 131072"},
		{[]string{"producer.neighbors.t=100000"}, "producer.neighbors.t", "[1,1024]"},
		{[]string{"producer.queue=100000"}, "producer.queue", "must be ≤ 1024"},
		{[]string{"producer.workers=100000"}, "producer.workers", "must be ≤ 1024"},
		{[]string{"producer.walk.steps=1000000000"}, "producer.walk.steps", "must be ≤ 1048576"},
		{[]string{"producer.hard.rank_hi=1000000000"}, "producer.hard.rank_hi", "must be ≤ 16777216"},
		{[]string{"producer.examples.walk_length=1000000"}, "producer.examples.walk_length", "must be ≤ 4096"},
		{[]string{"train.eval_k=1000000"}, "train.eval_k", "must be ≤ 10000"},
		// Each key within its bound, their product (the batch's score
		// matrix) not.
		{[]string{"producer.batch_size=131072", "producer.negatives.pool_size=131072"}, "producer.batch_size", "scores per batch, must be ≤ 1073741824"},
		{[]string{"producer.batch_size=65536", "producer.negatives.pool_size=1", "model.in_batch=true"}, "producer.batch_size", "+ batch_size for model.in_batch"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.sets, " "), func(t *testing.T) {
			_, err := load("", nil, nil, tt.sets)
			wantKeyErr(t, err, ErrInvalid, tt.key, tt.msg)
		})
	}
	// The bounds themselves are accepted.
	for _, sets := range [][]string{
		{"model.dim=16384", "model.hidden=16384"},
		{"model.name=lightgcn", "model.layers=8"},
		{"producer.batch_size=8192", "producer.negatives.pool_size=131072"},
		{"train.eval_k=10000", "producer.queue=1024", "producer.workers=1024"},
	} {
		if _, err := load("", nil, nil, sets); err != nil {
			t.Errorf("%v: %v", sets, err)
		}
	}
}

// TestParamBytes checks the memory estimate against the sizes the models
// allocate: it grows linearly in users+items and in model.dim, counts the
// optimiser state, and saturates instead of overflowing.
func TestParamBytes(t *testing.T) {
	load := func(sets ...string) *Config {
		t.Helper()
		c, err := Load("", sets)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	mf := load("model.name=mf", "model.dim=64", "model.optimizer=sgd")
	// MF with SGD: the table, Embed's copy (2 × n × d floats) and one int32
	// slot per row.
	if got, want := mf.ParamBytes(1000, 2000), int64(4*(2*3000*64+3000)); got != want {
		t.Errorf("mf sgd ParamBytes = %d, want %d", got, want)
	}
	adam := load("model.name=mf", "model.dim=64")
	if got, want := adam.ParamBytes(1000, 2000), int64(4*(4*3000*64+2*3000)); got != want {
		t.Errorf("mf adam ParamBytes = %d, want %d (m and v per parameter, a step count per row)", got, want)
	}
	for _, name := range []string{"mf", "deepwalk", "lightgcn", "ngcf", "pinsage", "graphsage"} {
		c := load("model.name="+name, "model.dim=32")
		small, big := c.ParamBytes(10000, 10000), c.ParamBytes(20000, 20000)
		if small <= 0 || big <= small || big > 2*small {
			t.Errorf("%s: ParamBytes %d for 20k nodes, %d for 40k: want growth ≤ linear", name, small, big)
		}
		if lo, hi := float64(big-small), float64(4*20000*32); lo < hi {
			t.Errorf("%s: 20k more nodes add %g bytes, less than one float32 table row each (%g)", name, lo, hi)
		}
		c2 := load("model.name="+name, "model.dim=64")
		if c2.ParamBytes(20000, 20000) < 2*big*9/10 {
			t.Errorf("%s: doubling dim: %d → %d bytes", name, big, c2.ParamBytes(20000, 20000))
		}
	}
	// 1e9 nodes at the largest dim is far beyond any machine but exact in
	// int64; MaxInt users and items saturate.
	huge := load("model.name=ngcf", "model.dim=16384", "model.layers=8")
	if got := huge.ParamBytes(math.MaxInt, math.MaxInt); got != math.MaxInt64 {
		t.Errorf("ParamBytes(MaxInt, MaxInt) = %d, want saturation", got)
	}
	if got := huge.ParamBytes(-5, -5); got < 0 {
		t.Errorf("ParamBytes(-5, -5) = %d", got)
	}
}

// TestProducerLayers: producer.layers derives from
// model.layers when unset or 0; a mismatch is refused naming both keys.
func TestProducerLayers(t *testing.T) {
	ok := []struct {
		yaml string
		sets []string
		want int
	}{
		{"", nil, 2},                      // pinsage, model.layers 0 = 2
		{"model:\n  layers: 3\n", nil, 3}, // derived
		{"model:\n  layers: 3\nproducer:\n  layers: 3\n", nil, 3},
		{"", []string{"model.name=graphsage", "model.layers=4"}, 4},
		{"", []string{"model.layers=3", "producer.layers=0"}, 3},
		{"", []string{"model.name=lightgcn", "model.layers=7"}, 0}, // builds none
		{"", []string{"model.name=mf"}, 0},
	}
	for _, tt := range ok {
		c, err := load("t.yaml", []byte(tt.yaml), nil, tt.sets)
		if err != nil {
			t.Errorf("%q %v: %v", tt.yaml, tt.sets, err)
			continue
		}
		if c.Producer.Layers != tt.want {
			t.Errorf("%q %v: producer.layers %d, want %d", tt.yaml, tt.sets, c.Producer.Layers, tt.want)
		}
	}
	bad := []struct {
		yaml string
		sets []string
		msg  string
	}{
		{"model:\n  layers: 7\nproducer:\n  layers: 2\n", nil, "model.layers 7, producer.layers 2"},
		{"", []string{"producer.layers=3"}, "model.layers 0 = 2, producer.layers 3"},
		{"model:\n  name: lightgcn\n  layers: 7\nproducer:\n  layers: 2\n", nil, "lightgcn builds no computation graph"},
		{"", []string{"model.name=mf", "producer.layers=2"}, "model.layers 0"},
	}
	for _, tt := range bad {
		_, err := load("t.yaml", []byte(tt.yaml), nil, tt.sets)
		wantKeyErr(t, err, ErrInvalid, "producer.layers", tt.msg)
		if err != nil && !strings.Contains(err.Error(), "model.layers") {
			t.Errorf("error does not name model.layers: %v", err)
		}
	}
}

// TestUnknownEnv: a TRAINERD_* variable that names no key is
// refused, naming the variable; the documented non-config ones are not.
func TestUnknownEnv(t *testing.T) {
	_, err := load("", nil, []string{"TRAINERD_MODEL_LRR=5", "HOME=/root"}, nil)
	wantKeyErr(t, err, ErrUnknownKey, "TRAINERD_MODEL_LRR", "did you mean TRAINERD_MODEL_LR?")
	_, err = load("", nil, []string{"TRAINERD_MODEL_LRR=5", "TRAINERD_PRODUCER_BATCHSIZE=3", "TRAINERD_TOTALLY_UNRELATED="}, nil)
	for _, name := range []string{"TRAINERD_MODEL_LRR", "TRAINERD_PRODUCER_BATCHSIZE", "TRAINERD_TOTALLY_UNRELATED"} {
		wantKeyErr(t, err, ErrUnknownKey, name, "names no config key")
	}
	env := []string{"TRAINERD_MODEL_LR=0.25", "TRAINERDX=1"} // TRAINERDX lacks the prefix TRAINERD_
	for _, name := range NonConfigEnv() {
		env = append(env, name+"=1")
	}
	c, err := load("", nil, env, nil)
	if err != nil {
		t.Fatalf("non-config variables refused: %v", err)
	}
	if c.Model.LR != 0.25 {
		t.Errorf("TRAINERD_MODEL_LR=0.25 gave %g", c.Model.LR)
	}
	// Reported together with the invalid values of the keys it did not set.
	_, err = load("", nil, []string{"TRAINERD_MODEL_LRR=5"}, []string{"model.dim=0", "model.nmae=mf"})
	wantKeyErr(t, err, ErrUnknownKey, "TRAINERD_MODEL_LRR", "names no config key")
	wantKeyErr(t, err, ErrUnknownKey, "model.nmae", "unknown key (--set)")
	wantKeyErr(t, err, ErrInvalid, "model.dim", "must be > 0, got 0")
	// Load reads the process environment.
	t.Setenv("TRAINERD_MODEL_LRR", "5")
	_, err = Load("", nil)
	wantKeyErr(t, err, ErrUnknownKey, "TRAINERD_MODEL_LRR", "names no config key")
}

// TestPoolSizeZero: a zero shared pool leaves the loss without negatives
// unless in-batch negatives are on.
func TestPoolSizeZero(t *testing.T) {
	for _, sets := range [][]string{
		{"producer.negatives.pool_size=0"},
		{"model.name=mf", "model.loss=bpr", "producer.negatives.pool_size=0"},
		{"model.loss=softmax", "producer.negatives.pool_size=0", "curriculum.hard_negatives.kind=constant", "curriculum.hard_negatives.value=0"},
	} {
		_, err := load("", nil, nil, sets)
		wantKeyErr(t, err, ErrInvalid, "producer.negatives.pool_size", "must be ≥ 1 unless model.in_batch")
	}
	c, err := load("", nil, nil, []string{"model.name=mf", "model.in_batch=true", "producer.negatives.pool_size=0"})
	if err != nil {
		t.Fatalf("pool 0 with in-batch negatives: %v", err)
	}
	if c.Producer.Negatives.PoolSize != 0 {
		t.Fatalf("pool_size %d", c.Producer.Negatives.PoolSize)
	}
}

// TestAllErrorsAtOnce: every unknown key, wrong type and invalid value is
// reported in one error, each on its own line.
func TestAllErrorsAtOnce(t *testing.T) {
	yaml := "model:\n  lrr: 1\n  dim: abc\nproducer:\n  batchsize: 3\ntrain:\n  epochs: many\n"
	_, err := load("c.yaml", []byte(yaml), []string{"TRAINERD_MODEL_LRR=5", "TRAINERD_MODEL_HIDDEN=x"},
		[]string{"model.nmae=mf", "model.l2=[1]", "nokey"})
	for _, w := range []struct {
		key  string
		kind error
		msg  string
	}{
		{"model.lrr", ErrUnknownKey, "unknown key (file c.yaml)"},
		{"model.dim", ErrType, `want an integer, got "abc" (file c.yaml)`},
		{"producer.batchsize", ErrUnknownKey, "unknown key"},
		{"train.epochs", ErrType, "want an integer"},
		{"TRAINERD_MODEL_LRR", ErrUnknownKey, "names no config key"},
		{"model.hidden", ErrType, "(environment TRAINERD_MODEL_HIDDEN)"},
		{"model.nmae", ErrUnknownKey, "unknown key (--set)"},
		{"model.l2", ErrType, "want a number, got a list (--set)"},
	} {
		wantKeyErr(t, err, w.kind, w.key, w.msg)
	}
	if err == nil || !strings.Contains(err.Error(), `config: --set "nokey": want key=value`) {
		t.Errorf("malformed --set not reported: %v", err)
	}

	// Invalid values, all at once.
	_, err = load("", nil, nil, []string{"model.dim=0", "model.lr=-1", "model.loss=hinge", "producer.walk.alpha=2",
		"producer.queue=0", "train.device=tpu", "http.addr=nohost", "curriculum.unit=hour", "model.temperature=inf"})
	for _, k := range []string{"model.dim", "model.lr", "model.loss", "producer.walk.alpha", "producer.queue",
		"train.device", "http.addr", "curriculum.unit", "model.temperature"} {
		wantKeyErr(t, err, ErrInvalid, k, "")
	}
	var ke *KeyError
	if !errors.As(err, &ke) || ke.Kind != ErrInvalid {
		t.Errorf("errors.As *KeyError: %+v", ke)
	}
	// One bad value is reported once, not once per rule it breaks.
	_, err = load("", nil, nil, []string{"model.name=mf", "model.history.weight=inf"})
	if n := strings.Count(err.Error(), "model.history.weight:"); n != 1 {
		t.Errorf("model.history.weight reported %d times:\n%v", n, err)
	}
}

// TestScheduledSizes: the curriculum's pool size and hard negatives are
// sizes too; their largest value over the run is bounded, alone and in the
// batch's score matrix.
func TestScheduledSizes(t *testing.T) {
	bad := []struct {
		sets []string
		key  string
		msg  string
	}{
		{[]string{"curriculum.pool_size.kind=constant", "curriculum.pool_size.value=1e9"}, "curriculum.pool_size", "must stay ≤ 131072"},
		{[]string{"curriculum.pool_size.kind=steps", "curriculum.pool_size.values=[[0, 10], [5, 1e7]]"}, "curriculum.pool_size", "reaches 1e+07"},
		{[]string{"curriculum.hard_negatives.kind=linear", "curriculum.hard_negatives.slope=1000", "train.epochs=100"}, "curriculum.hard_negatives", "reaches 99000"},
		{[]string{"curriculum.unit=step", "curriculum.hard_negatives.kind=linear", "curriculum.hard_negatives.slope=1"}, "curriculum.hard_negatives", "set a cap"},
		{[]string{"producer.batch_size=131072", "curriculum.pool_size.kind=cosine", "curriculum.pool_size.start=100000", "curriculum.pool_size.end=10", "curriculum.pool_size.over=5"},
			"producer.batch_size", "pool 100000"},
	}
	for _, tt := range bad {
		_, err := load("", nil, nil, tt.sets)
		wantKeyErr(t, err, ErrInvalid, tt.key, tt.msg)
	}
	for _, sets := range [][]string{
		{"curriculum.hard_negatives.kind=linear", "curriculum.hard_negatives.slope=1", "curriculum.hard_negatives.cap=6"},
		{"curriculum.unit=step", "curriculum.hard_negatives.kind=linear", "curriculum.hard_negatives.slope=1", "curriculum.hard_negatives.cap=6"},
		{"curriculum.hard_negatives.kind=linear", "curriculum.hard_negatives.slope=1", "train.epochs=1000"},
		{"curriculum.pool_size.kind=steps", "curriculum.pool_size.values=[[0, 100], [4, 131072]]", "producer.batch_size=512"},
	} {
		if _, err := load("", nil, nil, sets); err != nil {
			t.Errorf("%v: %v", sets, err)
		}
	}
}

// TestEnvNamesKnown scans the repository for the TRAINERD_* variables the
// code reads (quoted in non-test Go files outside config/, passed to
// os.Getenv or os.LookupEnv in tests, or named in scripts, Makefiles and
// Dockerfiles) and checks that each is a config key's variable or listed in
// NonConfigEnv, so a new switch cannot make Load refuse its own environment.
func TestEnvNamesKnown(t *testing.T) {
	known := map[string]bool{}
	for _, k := range Keys() {
		known[EnvName(k)] = true
	}
	for _, n := range NonConfigEnv() {
		known[n] = true
	}
	quoted := regexp.MustCompile(`"(TRAINERD_[A-Z0-9_]*[A-Z0-9])"`)
	read := regexp.MustCompile(`(?:Getenv|LookupEnv)\("(TRAINERD_[A-Z0-9_]*[A-Z0-9])"\)`)
	bare := regexp.MustCompile(`\bTRAINERD_[A-Z0-9_]*[A-Z0-9]\b`)
	root := filepath.Join("..")
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") && name != ".ci" || name == "testdata" || name == "config") {
				return filepath.SkipDir
			}
			return nil
		}
		var re *regexp.Regexp
		switch {
		case strings.HasSuffix(name, "_test.go"):
			re = read
		case strings.HasSuffix(name, ".go"):
			re = quoted
		case strings.HasSuffix(name, ".sh"), name == "Makefile", strings.HasPrefix(name, "Dockerfile"), filepath.Base(filepath.Dir(path)) == ".ci":
			re = bare
		default:
			return nil
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range re.FindAllSubmatch(raw, -1) {
			v := string(m[len(m)-1])
			checked++
			if !known[v] {
				t.Errorf("%s uses %s, which is neither a config key's variable nor in NonConfigEnv: Load would refuse it", path, v)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 5 {
		t.Fatalf("found only %d uses of TRAINERD_* variables", checked)
	}
}
