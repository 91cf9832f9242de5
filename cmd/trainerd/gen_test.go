package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
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

// cliChildEnv carries the arguments of TestCLIChild, separated by \x1f.
const cliChildEnv = "TRAINERD_TEST_CLI_ARGS"

// TestCLIChild is the child process of runChild: it runs one trainerd
// command line as main does (error on stderr, exit 1).
func TestCLIChild(t *testing.T) {
	args := os.Getenv(cliChildEnv)
	if args == "" {
		t.Skip("child process of the tests that run trainerd in a subprocess")
	}
	root := newRootCmd()
	root.SetArgs(strings.Split(args, "\x1f"))
	if err := root.ExecuteContext(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "trainerd:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// runChild runs trainerd args in a child process (this test binary), so
// that a crash (SIGBUS, a Badger assertion that exits) is observed, not
// suffered. It returns the exit code and stderr; a run that did not end
// with one clean "trainerd: ..." error line or success fails the test.
func runChild(t *testing.T, args ...string) (code int, stderr string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCLIChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), cliChildEnv+"="+strings.Join(args, "\x1f"))
	var errb bytes.Buffer
	cmd.Stderr = &errb
	err := cmd.Run()
	stderr = errb.String()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stderr
	case errors.As(err, &ee) && ee.ExitCode() == 1:
		if !strings.HasPrefix(stderr, "trainerd: ") || strings.Count(stderr, "\n") != 1 {
			t.Fatalf("trainerd %s: exit 1 without one clean error line:\n%.3000s", strings.Join(args, " "), stderr)
		}
		return 1, stderr
	}
	t.Fatalf("trainerd %s crashed (%v):\n%.3000s", strings.Join(args, " "), err, stderr)
	return 0, ""
}

// stagingLeft lists the staging entries (directories, reservations) a
// failed commit left in store.
func stagingLeft(t *testing.T, store string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(store, "staging-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestGenFullFilesystem is issue 14 C3: gen onto a 2 MiB tmpfs holding a
// tiny store died of SIGBUS in Badger's mmap writes and left a staging
// directory that kept the disk full. It must fail with ENOSPC naming the
// store, leave nothing behind and keep the tiny store. Needs root (mount).
func TestGenFullFilesystem(t *testing.T) {
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=2m"); err != nil {
		t.Skipf("cannot mount a tmpfs (%v); this test needs root", err)
	}
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
	store := filepath.Join(mnt, "st")
	free := func() int64 {
		var st syscall.Statfs_t
		if err := syscall.Statfs(mnt, &st); err != nil {
			t.Fatal(err)
		}
		return int64(st.Bavail) * st.Bsize
	}
	if code, stderr := runChild(t, "gen", "--store", store, "--preset", "tiny", "--log-level", "warn"); code != 0 {
		t.Fatalf("gen tiny: %s", stderr)
	}
	before, fp := storeState(t, store)
	freeBefore := free()
	code, stderr := runChild(t, "gen", "--store", store, "--preset", "small", "--log-level", "warn")
	if code == 0 {
		t.Fatal("gen small fit in 2 MiB")
	}
	if want := "trainerd: gen: featurestore: commit " + store + ": no space left on device"; !strings.HasPrefix(stderr, want) {
		t.Errorf("error %q, want prefix %q", stderr, want)
	}
	if left := stagingLeft(t, store); len(left) != 0 {
		t.Errorf("staging left behind: %v", left)
	}
	if got := free(); got != freeBefore {
		t.Errorf("%d bytes free after the failed gen, %d before", got, freeBefore)
	}
	after, fp2 := storeState(t, store)
	if fp2 != fp || after != before {
		t.Errorf("store changed by the failed gen:\n before %+v %s\n after  %+v %s", before, fp, after, fp2)
	}
}
