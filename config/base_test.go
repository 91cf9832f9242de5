package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBaseOverlay: a chain of bases (paths relative to the naming file)
// merges mappings key by key and replaces lists whole; the result equals
// the same config written out flat.
func TestBaseOverlay(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"a.yaml": "model:\n  name: mf\n  dim: 64\n  lr: 0.01\nproducer:\n  layers: 0\ntrain:\n  epochs: 5\n  eval_k: 10\n" +
			"curriculum:\n  margin:\n    kind: steps\n    values: [[0, 0.01], [3, 0.005]]\n",
		"b.yaml":     "base: a.yaml\nmodel:\n  lr: 0.02\ncurriculum:\n  margin:\n    values: [[0, 0.02]]\n",
		"sub/c.yaml": "base: ../b.yaml\ntrain:\n  epochs: 7\n",
		"flat.yaml": "model:\n  name: mf\n  dim: 64\n  lr: 0.02\nproducer:\n  layers: 0\ntrain:\n  epochs: 7\n  eval_k: 10\n" +
			"curriculum:\n  margin:\n    kind: steps\n    values: [[0, 0.02]]\n",
	})
	got, err := Load(filepath.Join(dir, "sub", "c.yaml"), []string{"model.dim=32"})
	if err != nil {
		t.Fatal(err)
	}
	want, err := Load(filepath.Join(dir, "flat.yaml"), []string{"model.dim=32"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("c.yaml over b.yaml over a.yaml:\n%+v\nwant\n%+v", *got, *want)
	}
}

func TestBaseErrors(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"x.yaml":       "base: y.yaml\n",
		"y.yaml":       "base: x.yaml\n",
		"missing.yaml": "base: nowhere.yaml\nmodel:\n  lr: 0.1\n",
		"list.yaml":    "base: [a.yaml]\n",
		"bad.yaml":     "model:\n  lrr: 0.1\n",
		"child.yaml":   "base: bad.yaml\n",
	})
	tests := []struct {
		file string
		key  string
		kind error
		msg  string
	}{
		{"x.yaml", "base", ErrInvalid, "cycle of bases"},
		{"missing.yaml", "base", ErrInvalid, "nowhere.yaml"},
		{"list.yaml", "base", ErrType, "want the path of a config file"},
		{"child.yaml", "model.lrr", ErrUnknownKey, "unknown key"},
	}
	for _, tc := range tests {
		_, err := Load(filepath.Join(dir, tc.file), nil)
		var ke *KeyError
		if !errors.As(err, &ke) || ke.Key != tc.key || !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: err = %v, want %s (%v) …%s", tc.file, err, tc.key, tc.kind, tc.msg)
		}
	}
}

// TestShippedVariants: the shipped configs that name a base load.
func TestShippedVariants(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "configs", "*.yaml"))
	n := 0
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		if !strings.Contains("\n"+string(raw), "\nbase:") {
			continue
		}
		n++
		if _, err := Load(f, nil); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	t.Logf("%d shipped configs name a base", n)
}
