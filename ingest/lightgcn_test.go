package ingest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/trainerd/trainerd/internal/testfixture"
)

func TestGowallaCounts(t *testing.T) {
	dir := testfixture.Need(t, "gowalla")
	var prog Progress
	ds, err := ParseLightGCN(context.Background(), LightGCNOptions{
		Train: filepath.Join(dir, "train.txt"), Test: filepath.Join(dir, "test.txt"), Progress: &prog,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ds.NumUsers(), 29858; got != want {
		t.Errorf("users = %d, want %d", got, want)
	}
	if got, want := ds.NumItems(), 40981; got != want {
		t.Errorf("items = %d, want %d", got, want)
	}
	if got, want := len(ds.Train), 810128; got != want {
		t.Errorf("train = %d, want %d", got, want)
	}
	if got, want := len(ds.Test), 217242; got != want {
		t.Errorf("test = %d, want %d", got, want)
	}
	if ds.Name != "gowalla" {
		t.Errorf("name = %q", ds.Name)
	}
	if err := ds.Validate(); err != nil {
		t.Error(err)
	}
	// Gowalla is dense already: dense id i must be external id i.
	for i, id := range ds.ItemIDs {
		if want := itoa(i); id != want {
			t.Fatalf("item dense %d has external id %q, want %q", i, id, want)
		}
	}
	var size int64
	for _, f := range []string{"train.txt", "test.txt"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		size += st.Size()
	}
	if got := prog.Bytes.Load(); got != size {
		t.Errorf("progress bytes = %d, want file size %d", got, size)
	}
}

func itoa(i int) string { return fmt.Sprint(i) }
