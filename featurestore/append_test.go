package featurestore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/trainerd/trainerd/dataset"
)

// addition builds a data set with two of parent's users (by external id),
// new users and items, features of parent's schemas and edges between old
// and new nodes.
func addition(parent *dataset.Dataset) *dataset.Dataset {
	add := testDataset(99, 4, 3, 10, 2, parent.UserFeatures.Schema.Dim(), parent.ItemFeatures.Schema.Dim(), true)
	add.UserIDs[0], add.UserIDs[1] = parent.UserIDs[5], parent.UserIDs[0] // two known users
	add.UserIDs[2], add.UserIDs[3] = "new-user-a", "new-user-b"
	add.ItemIDs = []string{"new-item-x", parent.ItemIDs[2], "new-item-y"}
	return add
}

func TestAppend(t *testing.T) {
	ctx := context.Background()
	parent := testDataset(1, 30, 40, 200, 50, 3, 5, true)
	dir := t.TempDir()
	if _, err := Commit(ctx, dir, parent); err != nil {
		t.Fatal(err)
	}
	s0, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	fp0 := s0.Fingerprint()
	s0.Close()

	add := addition(parent)
	addCopy := *add
	addCopy.Train = slices.Clone(add.Train)
	sum, err := Append(ctx, dir, add)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(add.Train, addCopy.Train) {
		t.Error("Append modified its input")
	}
	if sum.Users != 32 || sum.Items != 42 || sum.TrainEdges != 210 || sum.TestEdges != 52 {
		t.Errorf("summary %d users %d items %d+%d edges, want 32, 42, 210+52", sum.Users, sum.Items, sum.TrainEdges, sum.TestEdges)
	}
	s, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Dataset()
	if err != nil {
		t.Fatal(err)
	}
	// Old ids, features and edges unchanged, in place.
	if !slices.Equal(got.UserIDs[:30], parent.UserIDs) || !slices.Equal(got.ItemIDs[:40], parent.ItemIDs) {
		t.Fatal("old external ids moved")
	}
	if !slices.Equal(got.UserIDs[30:], []string{"new-user-a", "new-user-b"}) || !slices.Equal(got.ItemIDs[40:], []string{"new-item-x", "new-item-y"}) {
		t.Fatalf("new ids %v %v", got.UserIDs[30:], got.ItemIDs[40:])
	}
	if !slices.Equal(got.UserFeatures.Data[:30*3], parent.UserFeatures.Data) || !slices.Equal(got.ItemFeatures.Data[:40*5], parent.ItemFeatures.Data) {
		t.Fatal("old feature rows changed")
	}
	if !slices.Equal(got.UserFeatures.Row(31), add.UserFeatures.Row(3)) || !slices.Equal(got.ItemFeatures.Row(41), add.ItemFeatures.Row(2)) {
		t.Error("new feature rows are not the addition's")
	}
	if !slices.Equal(got.Train[:200], parent.Train) {
		t.Error("old train edges changed")
	}
	umap := map[uint32]uint32{0: 5, 1: 0, 2: 30, 3: 31}
	imap := map[uint32]uint32{0: 40, 1: 2, 2: 41}
	for k, e := range add.Train {
		g := got.Train[200+k]
		if g.User != umap[e.User] || g.Item != imap[e.Item] || g.Weight != e.Weight || g.Time != e.Time {
			t.Fatalf("appended edge %d is %+v, want %+v mapped", k, g, e)
		}
	}
	// Lineage.
	want := []Ancestor{{Fingerprint: fp0, Users: 30, Items: 40}}
	if !reflect.DeepEqual(s.Lineage(), want) {
		t.Errorf("lineage %+v, want %+v", s.Lineage(), want)
	}
	if a, ok := s.DescendsFrom(fp0); !ok || a.Users != 30 {
		t.Errorf("DescendsFrom(parent) = %+v, %v", a, ok)
	}
	if _, ok := s.DescendsFrom(s.Fingerprint()); !ok {
		t.Error("a store does not descend from itself")
	}
	if _, ok := s.DescendsFrom("0123"); ok {
		t.Error("descends from an unknown fingerprint")
	}
	// A grandchild keeps the whole lineage.
	more := &dataset.Dataset{Name: "x", UserIDs: []string{"new-user-a"}, ItemIDs: []string{parent.ItemIDs[0]},
		Train:        []dataset.Interaction{{User: 0, Item: 0, Weight: 1}},
		UserFeatures: &dataset.Features{Schema: parent.UserFeatures.Schema, Data: make([]float32, 3)},
		ItemFeatures: &dataset.Features{Schema: parent.ItemFeatures.Schema, Data: make([]float32, 5)}}
	if _, err := Append(ctx, dir, more); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if l := s2.Lineage(); len(l) != 2 || l[0].Fingerprint != fp0 || l[1].Fingerprint != s.Fingerprint() || l[1].Users != 32 {
		t.Errorf("grandchild lineage %+v", l)
	}
	if st := s2.Stats(); st.Users != 32 || st.TrainEdges != 211 || st.Name != parent.Name {
		t.Errorf("grandchild stats %+v", st)
	}
}

func TestAppendErrors(t *testing.T) {
	ctx := context.Background()
	parent := testDataset(2, 10, 12, 60, 10, 3, 4, false)
	dir := t.TempDir()
	if _, err := Commit(ctx, dir, parent); err != nil {
		t.Fatal(err)
	}
	current := func() string {
		raw, err := os.ReadFile(filepath.Join(dir, currentFile))
		if err != nil {
			t.Fatal(err)
		}
		return string(raw)
	}
	before := current()
	for _, tc := range []struct {
		name string
		edit func(a *dataset.Dataset)
		want string
	}{
		{"schema label", func(a *dataset.Dataset) {
			a.ItemFeatures.Schema = slices.Clone(a.ItemFeatures.Schema)
			a.ItemFeatures.Schema[0].Name = "other"
		}, `column 0`},
		{"schema dims", func(a *dataset.Dataset) {
			a.UserFeatures = &dataset.Features{Schema: dataset.Schema{{Name: "a", Dim: 3, Derivation: "generated"}}, Data: make([]float32, 3*len(a.UserIDs))}
		}, "columns"},
		{"new users without features", func(a *dataset.Dataset) { a.UserFeatures = nil }, "have none"},
		{"nothing", func(a *dataset.Dataset) {
			a.UserIDs, a.ItemIDs = parent.UserIDs[:1], parent.ItemIDs[:1]
			a.UserFeatures.Data, a.ItemFeatures.Data = a.UserFeatures.Data[:3], a.ItemFeatures.Data[:4]
			a.Train, a.Test = nil, nil
		}, "nothing to append"},
		{"edge out of range", func(a *dataset.Dataset) { a.Train[0].Item = 99 }, "out of the addition's range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			add := testDataset(5, 3, 2, 5, 0, 3, 4, false)
			for i := range add.UserIDs {
				add.UserIDs[i] = "add-" + add.UserIDs[i]
			}
			tc.edit(add)
			_, err := Append(ctx, dir, add)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Append: %v; want an error containing %q", err, tc.want)
			}
			if tc.name == "nothing" && !errors.Is(err, ErrNothingToAppend) {
				t.Errorf("%v does not wrap ErrNothingToAppend", err)
			}
			if current() != before {
				t.Error("a failed Append switched the store")
			}
		})
	}
	t.Run("store without features", func(t *testing.T) {
		d := t.TempDir()
		if _, err := Commit(ctx, d, testDataset(3, 5, 5, 20, 0, 0, 0, false)); err != nil {
			t.Fatal(err)
		}
		if _, err := Append(ctx, d, testDataset(4, 2, 2, 3, 0, 2, 0, false)); err == nil || !strings.Contains(err.Error(), "no user features") {
			t.Fatalf("Append with features to a store without: %v", err)
		}
	})
	t.Run("stale parent", func(t *testing.T) {
		_, err := commitChild(ctx, dir, testDataset(6, 3, 3, 5, 0, 3, 4, false), commitEnv{free: statfsFree}, &childOf{version: "v-0-00000000"})
		if err == nil || !strings.Contains(err.Error(), "changed") {
			t.Fatalf("commit over a stale parent: %v", err)
		}
		if current() != before {
			t.Error("a refused child commit switched the store")
		}
	})
}
