package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/trainerd/trainerd/config"
)

// TestConfigPrintDiff: for every shipped config, `config print --diff` is
// shorter than the full print and loads back to the same config.
func TestConfigPrintDiff(t *testing.T) {
	files, err := filepath.Glob("../../configs/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no configs: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			full, err := runCmd(t, newConfigCmd(), "print", "--config", f)
			if err != nil {
				t.Fatal(err)
			}
			diff, err := runCmd(t, newConfigCmd(), "print", "--diff", "--config", f)
			if err != nil {
				t.Fatal(err)
			}
			if len(strings.Split(diff, "\n")) >= len(strings.Split(full, "\n")) {
				t.Fatalf("--diff is not shorter than the full print:\n%s", diff)
			}
			want, err := config.Load(f, nil)
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(t.TempDir(), "diff.yaml")
			if err := os.WriteFile(p, []byte(diff), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := config.Load(p, nil)
			if err != nil {
				t.Fatalf("--diff output does not load: %v\n%s", err, diff)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("--diff output loads to another config:\n%s", diff)
			}
			if !strings.Contains(diff, config.Hash(want)) {
				t.Fatalf("--diff output lacks the hash:\n%s", diff)
			}
		})
	}
}
