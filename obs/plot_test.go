package obs

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteCurves(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "compare")
	series := []Series{
		{Name: "runs/alpha", Epochs: []int{1, 2, 3}, Y: []float64{0.1, 0.3, 0.2}, Mark: 2},
		{Name: "runs/beta", Epochs: []int{1, 2, 3}, Y: []float64{0.15, math.NaN(), 0.25}, Mark: 3},
		{Name: "runs/empty"},
	}
	paths, err := WriteCurves(base, "validation recall@20", "recall@20", series)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 2 || paths[0] != base+".png" || paths[1] != base+".svg" {
		t.Fatalf("paths %v", paths)
	}
	png, err := os.ReadFile(paths[0])
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("png: %v", err)
	}
	svg, err := os.ReadFile(paths[1])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg", "runs/alpha", "runs/beta", "validation recall@20"} {
		if !bytes.Contains(svg, []byte(want)) {
			t.Errorf("svg lacks %q", want)
		}
	}
	if bytes.Contains(svg, []byte("runs/empty")) {
		t.Error("a series without points is in the legend")
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, ".*.tmp")); len(tmp) != 0 {
		t.Fatalf("temp files left: %v", tmp)
	}
	if _, err := WriteCurves(filepath.Join(dir, "missing", "x"), "t", "y", series); err == nil {
		t.Fatal("writing into a missing directory succeeded")
	}
}
