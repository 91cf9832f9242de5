package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTuneKeys: train.tune is checked on its own and against the keys it
// depends on, each problem naming its key.
func TestTuneKeys(t *testing.T) {
	ok := []string{"train.tune.key=model.neg_weight", "train.tune.values=[30, 150]", "train.tune.epochs=3"}
	with := func(extra ...string) []string { return append(append([]string(nil), ok...), extra...) }
	checkKeyCases(t, []keyCase{
		{ok, "", ""},
		{[]string{"train.tune.key=model.dim", "train.tune.values=[32, 64]", "train.tune.epochs=1"}, "", ""},
		{with("train.tune.key=model.lr_schedule"), "train.tune.key", "not a numeric key"},
		{with("train.tune.key=model.no_such"), "train.tune.key", "not a config key"},
		{with("train.tune.key=train.patience"), "train.tune.key", "cannot be tuned"},
		{with("train.tune.key=train.validation.fraction"), "train.tune.key", "cannot be tuned"},
		{with("train.tune.key=checkpoint.keep_last"), "train.tune.key", "cannot be tuned"},
		{with("train.tune.values=[30]"), "train.tune.values", "at least two"},
		{with("train.tune.values=[30, 150, 30]"), "train.tune.values[2]", "repeats train.tune.values[0]"},
		{with("train.tune.epochs=0"), "train.tune.epochs", "[1, train.epochs 10)"},
		{with("train.tune.epochs=10"), "train.tune.epochs", "got 10"},
		{with("train.validation.fraction=0"), "train.tune.key", "train.validation.fraction 0"},
		{with("train.tune.key="), "", ""}, // one --set turns a config's tuning off
	})
}

// TestCandidates: each value becomes the config of a plain run with it (the
// file's other keys and the --sets kept, no tune section, the hash of that
// plain run); every value invalid for the key is reported at once, naming
// its index.
func TestCandidates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	yaml := "model:\n  name: mf\n  loss: ccl\n  neg_weight: 150\n  dim: 32\ntrain:\n  epochs: 20\n  tune: {key: model.neg_weight, values: [150, 30], epochs: 3}\n"
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	sets := []string{"model.lr=0.02"}
	cfg, err := Load(path, sets)
	if err != nil {
		t.Fatal(err)
	}
	cands, err := Candidates(path, sets, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(cands) != 2 {
		t.Fatalf("%d candidates, want 2", len(cands))
	}
	for i, want := range []float64{150, 30} {
		c := cands[i]
		if c.Model.NegWeight != want || c.Model.LR != 0.02 || c.Model.Dim != 32 || c.Train.Epochs != 20 || c.Train.Tune.Key != "" || len(c.Train.Tune.Values) != 0 {
			t.Errorf("candidate %d: neg_weight %v lr %v dim %d epochs %d tune %+v", i, c.Model.NegWeight, c.Model.LR, c.Model.Dim, c.Train.Epochs, c.Train.Tune)
		}
		plain, err := Load(path, append(append([]string(nil), sets...), TuneSet("model.neg_weight", want), "train.tune.key=", "train.tune.values=[]", "train.tune.epochs=0"))
		if err != nil {
			t.Fatal(err)
		}
		if Hash(c) != Hash(plain) {
			t.Errorf("candidate %d's hash differs from the plain run's", i)
		}
	}
	if Hash(cfg) != Hash(cands[0]) {
		t.Error("the tuned config's hash differs from that of its candidate with the file's own value: train.tune must not be hashed")
	}

	cfg.Train.Tune.Values = []float64{-1, 30, 0}
	_, err = Candidates(path, sets, cfg)
	if err == nil {
		t.Fatal("negative and zero ccl weights accepted")
	}
	for _, want := range []string{"train.tune.values[0] (model.neg_weight=-1)", "train.tune.values[2] (model.neg_weight=0)", "model.neg_weight"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "values[1]") {
		t.Errorf("error %q names the valid value", err)
	}
	cfg.Train.Tune = Tune{Key: "model.dim", Values: []float64{32, 48.5}, Epochs: 3}
	if _, err := Candidates(path, sets, cfg); err == nil || !strings.Contains(err.Error(), "train.tune.values[1] (model.dim=48.5)") {
		t.Errorf("fractional dim: err = %v", err)
	}
	if c, err := Candidates(path, sets, &Config{}); c != nil || err != nil {
		t.Errorf("no tuning: %v, %v; want nil, nil", c, err)
	}
}
