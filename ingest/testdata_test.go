package ingest

import (
	"os"
	"path/filepath"
	"testing"
)

// dataDir returns the shared data directory: $TRAINERD_DATA, or shared/data
// next to the directory holding go.mod.
func dataDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("TRAINERD_DATA"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "data")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return filepath.Join("..", "..", "shared", "data")
		}
		dir = parent
	}
}

// needData returns dataDir/sub, skipping the test when it is absent.
func needData(t testing.TB, sub string) string {
	t.Helper()
	p := filepath.Join(dataDir(t), sub)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("data %s absent (set TRAINERD_DATA): %v", p, err)
	}
	return p
}

// writeFile writes content to dir/name and returns the path.
func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
