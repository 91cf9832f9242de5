package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseSelect(t *testing.T) {
	tests := []struct {
		in   string
		name string
		k    int
		ok   bool
	}{
		{"recall@20", "recall", 20, true},
		{"ndcg@50", "ndcg", 50, true},
		{"hit@1", "hit", 1, true},
		{"mrr@10", "mrr", 10, true},
		{"mrr", "mrr", 0, true},
		{"recall", "", 0, false},
		{"recall@0", "", 0, false},
		{"recall@020", "", 0, false},
		{"recall@+5", "", 0, false},
		{"auc@20", "", 0, false},
		{"recall@10001", "", 0, false},
		{"", "", 0, false},
	}
	for _, tc := range tests {
		name, k, ok := ParseSelect(tc.in)
		if name != tc.name || k != tc.k || ok != tc.ok {
			t.Errorf("ParseSelect(%q) = %q, %d, %v; want %q, %d, %v", tc.in, name, k, ok, tc.name, tc.k, tc.ok)
		}
	}
}

// keyCase is a config (as --sets) and the key its error must name with
// ErrInvalid and a message containing msg; key "" means it must load.
type keyCase struct {
	sets []string
	key  string
	msg  string
}

// checkKeyCases loads each case's config and checks the outcome.
func checkKeyCases(t *testing.T, tests []keyCase) {
	t.Helper()
	for _, tc := range tests {
		_, err := Load("", tc.sets)
		if tc.key == "" {
			if err != nil {
				t.Errorf("%v: %v", tc.sets, err)
			}
			continue
		}
		var ke *KeyError
		if !errors.As(err, &ke) || ke.Key != tc.key || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%v: err = %v, want %s: …%s", tc.sets, err, tc.key, tc.msg)
		}
	}
}

func TestSelectionKeys(t *testing.T) {
	checkKeyCases(t, []keyCase{
		{[]string{"train.select=ndcg@10", "train.patience=3"}, "", ""},
		{[]string{"train.validation.fraction=0", "train.select=mrr"}, "", ""},
		{[]string{"train.select=auc"}, "train.select", `got "auc"`},
		{[]string{"train.validation.fraction=0.6"}, "train.validation.fraction", "must be ≤ 0.5, got 0.6"},
		{[]string{"train.validation.fraction=-0.1"}, "train.validation.fraction", "must be ≥ 0"},
		{[]string{"train.patience=-1"}, "train.patience", "must be ≥ 0, got -1"},
		{[]string{"train.validation.fraction=0", "train.patience=2"}, "train.patience", "train.validation.fraction 0"},
	})
}

func TestValidationSeed(t *testing.T) {
	c := Default()
	c.Train.Seed = 7
	if got := c.ValidationSeed(); got != 7 {
		t.Errorf("seed 0 → %d, want train.seed 7", got)
	}
	c.Train.Validation.Seed = 3
	if got := c.ValidationSeed(); got != 3 {
		t.Errorf("seed 3 → %d, want 3", got)
	}
}

func TestRunSchedule(t *testing.T) {
	tests := []struct {
		name          string
		sets          []string
		bpe           int
		warmup, decay int
	}{
		{"steps kept", []string{"model.lr_schedule=step", "model.warmup_steps=7", "model.decay_steps=30"}, 10, 7, 30},
		{"epochs", []string{"model.lr_schedule=step", "model.warmup_epochs=0.5", "model.decay_epochs=2"}, 10, 5, 20},
		{"fraction of an epoch rounds, at least one step", []string{"model.lr_schedule=step", "model.decay_epochs=0.01"}, 10, 0, 1},
		{"cosine over the whole run", []string{"model.lr_schedule=cosine", "train.epochs=10", "model.warmup_epochs=1"}, 99, 99, 891},
		{"cosine with a length", []string{"model.lr_schedule=cosine", "train.epochs=10", "model.decay_epochs=4"}, 99, 0, 396},
		{"step without a length does not decay", []string{"model.lr_schedule=step"}, 99, 0, 0},
		{"constant", nil, 99, 0, 0},
	}
	for _, tc := range tests {
		c, err := Load("", tc.sets)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		w, d := c.RunSchedule(tc.bpe)
		if w != tc.warmup || d != tc.decay {
			t.Errorf("%s: RunSchedule(%d) = %d, %d; want %d, %d", tc.name, tc.bpe, w, d, tc.warmup, tc.decay)
		}
	}
}

// TestScheduleConflicts: steps and epochs of the same length are refused,
// every conflict reported at once.
func TestScheduleConflicts(t *testing.T) {
	_, err := Load("", []string{"model.warmup_steps=10", "model.warmup_epochs=1", "model.decay_steps=100", "model.decay_epochs=2",
		"model.decay_rate=-1"})
	if err == nil {
		t.Fatal("conflicting schedule keys accepted")
	}
	for _, want := range []string{"config: model.warmup_epochs: conflicts with model.warmup_steps 10",
		"config: model.decay_epochs: conflicts with model.decay_steps 100", "config: model.decay_rate: must be ≥ 0"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	_, err = Load("", []string{"model.lr_schedule=cosine", "train.epochs=3", "model.warmup_epochs=3"})
	if err == nil || !strings.Contains(err.Error(), "model.warmup_epochs: 3 leaves no epoch") {
		t.Errorf("warm-up as long as a whole-run cosine: %v", err)
	}
	if _, err := Load("", []string{"model.decay_epochs=-1"}); err == nil || !strings.Contains(err.Error(), "model.decay_epochs: must be ≥ 0") {
		t.Errorf("negative decay_epochs: %v", err)
	}
}

// TestPrintDiff: only the keys that differ from the model's defaults are
// printed, and the output loads back to the same config.
func TestPrintDiff(t *testing.T) {
	tests := []struct {
		name string
		sets []string
		want []string // lines the output holds
		not  []string // keys it must not print
	}{
		{"defaults", nil, []string{"{}"}, []string{"model:", "train:"}},
		{"mf", []string{"model.name=mf", "producer.layers=0", "model.lr=0.01", "train.validation.fraction=0.2", "curriculum.margin.kind=constant", "curriculum.margin.value=0.5"},
			[]string{"model:", `  name: "mf"`, "  lr: 0.01", "train:", "  validation:", "    fraction: 0.2", "curriculum:", "  margin:", `    kind: "constant"`, "    value: 0.5"},
			[]string{"layers", "dim:", "seed:", "select", "start:"}},
		{"list", []string{"curriculum.hard_negatives.kind=steps", "curriculum.hard_negatives.values=[[0, 1], [2, 3]]"},
			[]string{"  hard_negatives:", "    values: [[0.0, 1.0], [2.0, 3.0]]"}, []string{"model:"}},
	}
	for _, tc := range tests {
		cfg, err := Load("", tc.sets)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var b strings.Builder
		if err := PrintDiff(&b, cfg); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		for _, w := range tc.want {
			if !strings.Contains("\n"+out, "\n"+w+"\n") {
				t.Errorf("%s: output lacks line %q:\n%s", tc.name, w, out)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(out, n) {
				t.Errorf("%s: output holds %q:\n%s", tc.name, n, out)
			}
		}
		back, err := Load(writeYAML(t, out), nil)
		if err != nil {
			t.Fatalf("%s: output does not load: %v\n%s", tc.name, err, out)
		}
		if !reflect.DeepEqual(*back, *cfg) {
			t.Errorf("%s: loaded back %+v\nwant %+v", tc.name, *back, *cfg)
		}
	}
}
