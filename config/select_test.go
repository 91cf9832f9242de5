package config

import (
	"errors"
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

func TestSelectionKeys(t *testing.T) {
	tests := []struct {
		sets []string
		key  string // "" = valid
		msg  string
	}{
		{[]string{"train.select=ndcg@10", "train.patience=3"}, "", ""},
		{[]string{"train.validation.fraction=0", "train.select=mrr"}, "", ""},
		{[]string{"train.select=auc"}, "train.select", `got "auc"`},
		{[]string{"train.validation.fraction=0.6"}, "train.validation.fraction", "must be ≤ 0.5, got 0.6"},
		{[]string{"train.validation.fraction=-0.1"}, "train.validation.fraction", "must be ≥ 0"},
		{[]string{"train.patience=-1"}, "train.patience", "must be ≥ 0, got -1"},
		{[]string{"train.validation.fraction=0", "train.patience=2"}, "train.patience", "train.validation.fraction 0"},
	}
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
