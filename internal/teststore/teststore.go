// Package teststore commits generated data sets into temporary feature
// stores for tests: the one piece of set-up the trainer, infer and daemon
// tests share.
package teststore

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/trainerd/trainerd/featurestore"
	"github.com/trainerd/trainerd/gen"
)

// Generate commits the data set cfg generates into a store under
// t.TempDir() and returns its directory; any failure fails t.
func Generate(t testing.TB, cfg gen.Config) string {
	t.Helper()
	ds, err := gen.Generate(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "store")
	if _, err := featurestore.Commit(context.Background(), dir, ds); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Preset is Generate of the named gen preset.
func Preset(t testing.TB, name string) string {
	t.Helper()
	cfg, err := gen.Preset(name)
	if err != nil {
		t.Fatal(err)
	}
	return Generate(t, cfg)
}
