package config

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite configs/reference.yaml from WriteReference")

// TestReferenceYAML checks that the checked-in configs/reference.yaml is
// what WriteReference generates from Default() and the documentation table
// (`go generate ./config/` rewrites it), and that it loads back to exactly
// Default().
func TestReferenceYAML(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteReference(&buf); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", filepath.FromSlash(ReferencePath))
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	have, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, buf.Bytes()) {
		hl, gl := strings.Split(string(have), "\n"), strings.Split(string(buf.Bytes()), "\n")
		for i := range max(len(hl), len(gl)) {
			var h, g string
			if i < len(hl) {
				h = hl[i]
			}
			if i < len(gl) {
				g = gl[i]
			}
			if h != g {
				t.Fatalf("%s is not current (run `go generate ./config/`); first difference at line %d:\n have %q\n want %q", ReferencePath, i+1, h, g)
			}
		}
	}
	generated := filepath.Join(t.TempDir(), "reference.yaml")
	if err := os.WriteFile(generated, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(generated, nil)
	if err != nil {
		t.Fatal(err)
	}
	if def := Default(); !reflect.DeepEqual(*c, def) {
		t.Errorf("the generated reference loads to\n%+v\nnot Default()\n%+v", *c, Default())
	}
}

// TestWriteReferenceRefusesUndocumented checks both directions of the
// documentation table against the keys.
func TestWriteReferenceRefusesUndocumented(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(map[string]refDoc)
		wanted string
	}{
		{"missing", func(d map[string]refDoc) { delete(d, "model.lr") }, "key model.lr has no documentation"},
		{"stale", func(d map[string]refDoc) { d["model.learning_rate"] = refDoc{doc: []string{"x"}} }, "documentation for model.learning_rate, which is not a key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs := referenceDocs()
			tc.edit(docs)
			err := writeReference(new(bytes.Buffer), docs)
			if err == nil || !strings.Contains(err.Error(), tc.wanted) {
				t.Fatalf("error %v, want %q", err, tc.wanted)
			}
		})
	}
}
