package checkpoints

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestPinSurvivesPruning pins a checkpoint outside the directory, saves
// past keep_last so the original is pruned, and reads the pinned copy back
// with its selection state.
func TestPinSurvivesPruning(t *testing.T) {
	run := t.TempDir()
	dir := Dir(run)
	w := NewWriter(dir, 2)
	ck := sample(1)
	ck.Best = Selection{Metric: "recall@20", Epoch: 1, Step: 1, Value: 0.25, Stale: 0}
	src, err := w.Save(ck)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(run, "best", "checkpoint.trd")
	if err := Pin(src, dst); err != nil {
		t.Fatal(err)
	}
	for step := 2; step <= 5; step++ {
		if _, err := w.Save(sample(step)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(src); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s survived keep_last 2 (err %v)", src, err)
	}
	got, err := Read(dst)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Best, ck.Best) || got.Step != 1 {
		t.Fatalf("pinned checkpoint: step %d best %+v, want step 1 best %+v", got.Step, got.Best, ck.Best)
	}
	if ParamsSHA256(got.Tensors) != ParamsSHA256(ck.Tensors) {
		t.Fatal("pinned tensors differ")
	}
	// Re-pinning replaces it atomically.
	latest, _, err := Latest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := Pin(latest.Path, dst); err != nil {
		t.Fatal(err)
	}
	if got, _ := Read(dst); got == nil || got.Step != 5 {
		t.Fatalf("re-pinned: %+v", got)
	}
	if ents, _ := os.ReadDir(filepath.Dir(dst)); len(ents) != 1 {
		t.Fatalf("pin left %d entries in %s, want 1", len(ents), filepath.Dir(dst))
	}
}

func TestPinRefusesCorrupt(t *testing.T) {
	dir := t.TempDir()
	src, err := Save(dir, sample(3), 0)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(src)
	b[len(b)/2] ^= 1
	if err := os.WriteFile(src, b, 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "pinned.trd")
	if err := Pin(src, dst); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("pin of a corrupt file: err %v, want ErrCorrupt", err)
	}
	if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a corrupt checkpoint was pinned")
	}
}
