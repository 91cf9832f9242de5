package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trainerd/trainerd/gen"
)

// run executes the root command with args and returns its stdout.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func TestGenThenStats(t *testing.T) {
	store := filepath.Join(t.TempDir(), "store")
	start := time.Now()
	out, err := runCLI(t, "gen", "--store", store, "--preset", "tiny", "--seed", "3", "--log-level", "warn")
	if err != nil {
		t.Fatalf("gen: %v\n%s", err, out)
	}
	if el := time.Since(start); el > 5*time.Second { // target < 1 s on an idle machine
		t.Errorf("gen tiny took %v", el)
	}
	if !strings.Contains(out, "200 users, 300 items") {
		t.Fatalf("gen summary %q lacks the counts", out)
	}
	out, err = runCLI(t, "stats", "--store", store, "--json")
	if err != nil {
		t.Fatalf("stats: %v", err)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("stats --json is not one JSON object: %v\n%s", err, out)
	}
	cfg, _ := gen.Preset("tiny")
	ds, err := gen.Generate(context.Background(), func() gen.Config { c := cfg; c.Seed = 3; return c }())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"users": 200, "items": 300, "train_edges": float64(len(ds.Train)),
		"test_edges": float64(len(ds.Test)), "user_feature_dim": 8, "item_feature_dim": 8, "format_version": 1}
	for k, v := range want {
		if rep[k] != v {
			t.Errorf("stats %s = %v, want %v", k, rep[k], v)
		}
	}
	if rep["name"] != "gen-tiny" || len(rep["fingerprint"].(string)) != 64 {
		t.Errorf("stats name %v fingerprint %v", rep["name"], rep["fingerprint"])
	}
	out, err = runCLI(t, "stats", "--store", store)
	if err != nil || !strings.Contains(out, "train edges") || !strings.Contains(out, "community_embedding generated(7)") {
		t.Fatalf("stats table (err %v):\n%s", err, out)
	}
	if _, err := runCLI(t, "stats", "--store", filepath.Join(t.TempDir(), "none")); err == nil {
		t.Fatal("stats on an empty dir: want an error")
	}
}

func TestGenFlagsConfig(t *testing.T) {
	cases := []struct {
		name    string
		f       genFlags
		changed []string
		check   func(gen.Config) bool
		wantErr bool
	}{
		{"preset only", genFlags{preset: "small", seed: 1, testRatio: 0.2, inCommunity: 0.8, noise: 1, users: 7},
			nil, func(c gen.Config) bool { return c.Users == 5000 && c.Items == 8000 }, false},
		{"override users and dims", genFlags{preset: "tiny", seed: 9, testRatio: 0.1, inCommunity: 0.5, noise: 1, users: 77, userDim: 0},
			[]string{"users", "user-dim"}, func(c gen.Config) bool {
				return c.Users == 77 && c.Items == 300 && c.UserFeatDim == 0 && c.Seed == 9 && c.TestRatio == 0.1 && c.InCommunity == 0.5
			}, false},
		{"no test set", genFlags{preset: "tiny", testRatio: 0, inCommunity: 0.8, noise: 1},
			nil, func(c gen.Config) bool { return c.TestRatio < 0 }, false},
		{"unknown preset", genFlags{preset: "medium"}, nil, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			changed := func(n string) bool { return strings.Contains(","+strings.Join(tc.changed, ",")+",", ","+n+",") }
			cfg, err := tc.f.config(changed)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err == nil && !tc.check(cfg) {
				t.Fatalf("config %+v", cfg)
			}
		})
	}
}
