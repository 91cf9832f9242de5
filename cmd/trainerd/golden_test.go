package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// Golden files: testdata/*.golden hold the exact output of commands whose
// text users and scripts read. `go test ./cmd/trainerd/ -run Golden
// -update` rewrites them from the current output; review the diff.

// checkGolden compares got with testdata/name (rewriting it first under
// -update) and fails with both texts when they differ.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join(testdataDir(t), name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (rerun with -update if the change is intended):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// cleanEnv unsets the TRAINERD_ variables that name config keys or
// defaults (TRAINERD_HTTP_ADDR, TRAINERD_MODEL_DIM, ...), so that golden
// output does not depend on the caller's environment.
func cleanEnv(t *testing.T) {
	t.Helper()
	keep := map[string]bool{"TRAINERD_DATA": true, "TRAINERD_LONG": true, "TRAINERD_BLAS": true}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "TRAINERD_") && !keep[k] {
			t.Setenv(k, "") // restored after the test
			os.Unsetenv(k)
		}
	}
}

// TestGoldenHelp checks --help of trainerd and of every command below it
// (testdata/help/trainerd-CMD-SUB.golden).
func TestGoldenHelp(t *testing.T) {
	cleanEnv(t)
	var paths [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		paths = append(paths, path)
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				walk(sub, append(append([]string(nil), path...), sub.Name()))
			}
		}
	}
	walk(newRootCmd(), nil)
	if len(paths) < len(subcommands())+1 {
		t.Fatalf("walked %d commands, want at least %d", len(paths), len(subcommands())+1)
	}
	for _, p := range paths {
		name := strings.Join(append([]string{"trainerd"}, p...), "-")
		t.Run(name, func(t *testing.T) {
			out, err := runCLI(t, append(p, "--help")...)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join("help", name+".golden"), out)
		})
	}
}

// TestGoldenConfigPrint checks `config print` of shipped configs (one a
// base: overlay) and `curriculum show`.
func TestGoldenConfigPrint(t *testing.T) {
	cleanEnv(t)
	for _, tc := range []struct {
		golden string
		args   []string
	}{
		{"config-print-quickstart.golden", []string{"config", "print", "--config", "../../configs/quickstart.yaml"}},
		{"config-print-gowalla-pinsage.golden", []string{"config", "print", "--config", "../../configs/gowalla-pinsage.yaml"}},
		{"config-print-gowalla-mf-ccl-128.golden", []string{"config", "print", "--config", "../../configs/gowalla-mf-ccl-128.yaml"}},
		{"curriculum-show-gowalla-pinsage.golden", []string{"curriculum", "show", "--config", "../../configs/gowalla-pinsage.yaml", "--epochs", "8"}},
		{"curriculum-show-ablation.golden", []string{"curriculum", "show", "--config", "../../configs/curriculum-ablation.yaml"}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			out, err := runCLI(t, tc.args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			checkGolden(t, tc.golden, out)
		})
	}
}

// storeVarying matches the stats fields that differ from one commit of the
// same data to the next: the version directory, the commit time and the
// bytes on disk (Badger's layout).
var storeVarying = regexp.MustCompile(`(?m)^(  "(?:version|created_at|bytes_on_disk)": )("[^"]*"|\d+)(,?)$`)

// TestGoldenStats checks `stats --json` of a `gen --preset tiny` store,
// the fields that vary between commits replaced by placeholders. The
// fingerprint stays: it hashes the data, so it changes only when gen does.
func TestGoldenStats(t *testing.T) {
	cleanEnv(t)
	store := filepath.Join(t.TempDir(), "store")
	if out, err := runCLI(t, "gen", "--store", store, "--preset", "tiny", "--seed", "3", "--log-level", "warn", "--progress", "off"); err != nil {
		t.Fatalf("gen: %v\n%s", err, out)
	}
	out, err := runCLI(t, "stats", "--store", store, "--json")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(storeVarying.FindAllString(out, -1)); n != 3 {
		t.Fatalf("stats --json: %d of the 3 varying fields found:\n%s", n, out)
	}
	checkGolden(t, "stats-tiny.golden", storeVarying.ReplaceAllString(out, `${1}"<varies>"${3}`))
}

// TestGoldenIngestErrors runs ingest on a table of bad inputs and checks
// the exact error of each (testdata/ingest-errors.golden). Files are named
// relative to a temp working directory, as a user would give them, so the
// text holds no absolute path.
func TestGoldenIngestErrors(t *testing.T) {
	cleanEnv(t)
	t.Chdir(t.TempDir())
	files := map[string]string{
		"train.txt":    "0 1 2 3\n1 2 4\n2 0\n",
		"test.txt":     "0 4\n1 0\n",
		"bad-item.txt": "0 1\n1 2\n2 x\n",
		"bad-user.txt": "0 1\n-1 2\n",
		"empty.txt":    "",
		"edges.csv":    "user,item\nu1,i1\nu2,i2\n",
		"short.csv":    "user,item\nu1,i1\nu2\n",
		"nan.csv":      "user,price\nu1,2\nu2,NaN\n",
		"ml/u.data":    "196\t242\t3\t881250949\n186\t302\tx\t891717742\n",
	}
	for name, content := range files {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	csv := []string{"--format", "csv", "--user-col", "user", "--item-col", "item", "--edges"}
	cases := []struct {
		name string
		args []string
	}{
		{"no format", nil},
		{"unknown format", []string{"--format", "parquet"}},
		{"lightgcn without train", []string{"--format", "lightgcn"}},
		{"missing file", []string{"--format", "lightgcn", "--train", "nope.txt", "--test", "test.txt"}},
		{"bad item id", []string{"--format", "lightgcn", "--train", "bad-item.txt", "--test", "test.txt"}},
		{"negative user id", []string{"--format", "lightgcn", "--train", "bad-user.txt", "--test", "test.txt"}},
		{"empty train", []string{"--format", "lightgcn", "--train", "empty.txt", "--test", "test.txt"}},
		{"unknown split", []string{"--format", "lightgcn", "--train", "train.txt", "--split", "sideways"}},
		{"test ratio out of range", []string{"--format", "lightgcn", "--train", "train.txt", "--split", "random", "--test-ratio", "1.5"}},
		{"csv unknown column", []string{"--format", "csv", "--user-col", "user", "--item-col", "nope", "--edges", "edges.csv"}},
		{"csv short record", append(csv, "short.csv")},
		{"csv NaN feature", append(csv, "edges.csv", "--user-features", "nan.csv")},
		{"csv bad delimiter", append(csv, "edges.csv", "--delimiter", "ab")},
		{"movielens bad rating", []string{"--format", "movielens", "--dir", "ml"}},
	}
	var b strings.Builder
	for _, tc := range cases {
		args := append([]string{"ingest", "--store", "store"}, tc.args...)
		out, err := runCLI(t, append(args, "--log-level", "error", "--progress", "off")...)
		if err == nil {
			t.Errorf("%s: ingest succeeded:\n%s", tc.name, out)
			continue
		}
		b.WriteString("# " + tc.name + "\n$ trainerd " + strings.Join(args, " ") + "\n" + err.Error() + "\n\n")
	}
	if _, err := os.Stat("store"); err == nil {
		if left := stagingLeft(t, "store"); len(left) != 0 {
			t.Errorf("failed ingests left staging behind: %v", left)
		}
	}
	checkGolden(t, "ingest-errors.golden", b.String())
}
