package featurestore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/trainerd/trainerd/dataset"
)

// Ancestor is one version a store grew from by Append: its fingerprint and
// its node counts. Dense ids below those counts mean the same nodes, with
// the same features, in every descendant.
type Ancestor struct {
	Fingerprint string `json:"fingerprint"`
	Users       int    `json:"users"`
	Items       int    `json:"items"`
}

// Lineage returns the versions the store grew from by Append, oldest
// first (nil for a data set committed whole).
func (s *Store) Lineage() []Ancestor { return slices.Clone(s.meta.Lineage) }

// DescendsFrom reports whether the store is the version with fingerprint
// fp or grew from it by Append, and returns that version's record (for the
// store itself, its own fingerprint and counts).
func (s *Store) DescendsFrom(fp string) (Ancestor, bool) {
	if fp == "" {
		return Ancestor{}, false
	}
	if fp == s.meta.Fingerprint {
		return Ancestor{Fingerprint: fp, Users: s.meta.Users, Items: s.meta.Items}, true
	}
	for _, a := range s.meta.Lineage {
		if a.Fingerprint == fp {
			return a, true
		}
	}
	return Ancestor{}, false
}

// Dataset reads the whole committed data set back: names, id maps,
// features and both splits.
func (s *Store) Dataset() (*dataset.Dataset, error) {
	ds := &dataset.Dataset{Name: s.meta.Name}
	var err error
	if ds.UserIDs, err = s.IDs(dataset.User); err != nil {
		return nil, err
	}
	if ds.ItemIDs, err = s.IDs(dataset.Item); err != nil {
		return nil, err
	}
	for t, dst := range [2]**dataset.Features{&ds.UserFeatures, &ds.ItemFeatures} {
		nt := dataset.NodeType(t)
		if s.Schema(nt).Dim() == 0 {
			continue
		}
		data, err := s.FeatureMatrix(nt)
		if err != nil {
			return nil, err
		}
		*dst = &dataset.Features{Schema: slices.Clone(s.Schema(nt)), Data: data}
	}
	if ds.Train, err = s.Interactions("train"); err != nil {
		return nil, err
	}
	if ds.Test, err = s.Interactions("test"); err != nil {
		return nil, err
	}
	return ds, nil
}

// ErrNothingToAppend is returned by Append and Merge when the addition
// holds no new node and no interaction.
var ErrNothingToAppend = errors.New("nothing to append: no new user, no new item and no interaction")

// Merge returns parent grown by add: parent's nodes keep their dense ids,
// external ids, and feature rows; the nodes of add whose external id parent
// lacks get the next dense ids, in add's order, with add's feature rows;
// add's train and test interactions are appended to parent's (their ids
// mapped through the external ids). Where parent has features of a type,
// add must have them too with an equal schema (the same columns, dims,
// derivations and labels), and where parent has none, add must have none.
// Neither input is modified.
func Merge(parent, add *dataset.Dataset) (*dataset.Dataset, error) {
	if parent == nil || add == nil {
		return nil, errors.New("featurestore: merge: nil data set")
	}
	out := &dataset.Dataset{Name: parent.Name}
	var maps [2][]uint32
	var news [2][]uint32 // add's dense ids of the new nodes, in order
	for t, side := range [2]struct{ old, add []string }{{parent.UserIDs, add.UserIDs}, {parent.ItemIDs, add.ItemIDs}} {
		index := make(map[string]uint32, len(side.old))
		for i, id := range side.old {
			index[id] = uint32(i)
		}
		ids := slices.Clip(slices.Clone(side.old))
		m := make([]uint32, len(side.add))
		for i, id := range side.add {
			d, ok := index[id]
			if !ok {
				d = uint32(len(ids))
				ids = append(ids, id)
				index[id] = d
				news[t] = append(news[t], uint32(i))
			}
			m[i] = d
		}
		maps[t] = m
		if t == 0 {
			out.UserIDs = ids
		} else {
			out.ItemIDs = ids
		}
	}
	for t, f := range [2]struct {
		old, add *dataset.Features
		dst      **dataset.Features
	}{{parent.UserFeatures, add.UserFeatures, &out.UserFeatures}, {parent.ItemFeatures, add.ItemFeatures, &out.ItemFeatures}} {
		nt := dataset.NodeType(t)
		switch {
		case f.old == nil && f.add == nil:
			continue
		case f.old == nil:
			return nil, fmt.Errorf("featurestore: merge: the store has no %s features but the addition has (%d columns)", nt, len(f.add.Schema))
		case f.add == nil && len(news[t]) > 0:
			return nil, fmt.Errorf("featurestore: merge: the store has %s features (dim %d) but the %d new %ss have none", nt, f.old.Schema.Dim(), len(news[t]), nt)
		case f.add != nil:
			if err := sameSchema(f.old.Schema, f.add.Schema); err != nil {
				return nil, fmt.Errorf("featurestore: merge: %s features: %w", nt, err)
			}
		}
		data := slices.Clip(slices.Clone(f.old.Data))
		for _, i := range news[t] {
			data = append(data, f.add.Row(i)...)
		}
		*f.dst = &dataset.Features{Schema: slices.Clone(f.old.Schema), Data: data}
	}
	remap := func(old, es []dataset.Interaction) []dataset.Interaction {
		out := slices.Clip(slices.Clone(old))
		for _, e := range es {
			e.User, e.Item = maps[0][e.User], maps[1][e.Item]
			out = append(out, e)
		}
		return out
	}
	for _, es := range [][]dataset.Interaction{add.Train, add.Test} {
		for i, e := range es {
			if int(e.User) >= len(maps[0]) || int(e.Item) >= len(maps[1]) {
				return nil, fmt.Errorf("featurestore: merge: interaction %d (%d,%d) out of the addition's range", i, e.User, e.Item)
			}
		}
	}
	out.Train = remap(parent.Train, add.Train)
	out.Test = remap(parent.Test, add.Test)
	if len(news[0])+len(news[1])+len(add.Train)+len(add.Test) == 0 {
		return nil, fmt.Errorf("featurestore: merge: %w", ErrNothingToAppend)
	}
	return out, nil
}

// sameSchema reports how b differs from a, or nil.
func sameSchema(a, b dataset.Schema) error {
	if len(a) != len(b) {
		return fmt.Errorf("the store has %d columns, the addition %d", len(a), len(b))
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Name != y.Name || x.Dim != y.Dim || x.Derivation != y.Derivation || !slices.Equal(x.Labels, y.Labels) {
			return fmt.Errorf("column %d: the store has %q (dim %d, %s, labels %v), the addition %q (dim %d, %s, labels %v)",
				i, x.Name, x.Dim, x.Derivation, x.Labels, y.Name, y.Dim, y.Derivation, y.Labels)
		}
	}
	return nil
}

// Append grows the store in dir by add (see Merge) and commits the result
// as a new version, exactly as Commit does (atomic switch-over; on any
// error the store is left as it was). The new version records the current
// one, and the current one's own lineage, as its ancestors, so that a run
// trained on the old version can embed the new nodes (see DescendsFrom).
// It fails when another commit switched the store in the meantime.
func Append(ctx context.Context, dir string, add *dataset.Dataset) (*Summary, error) {
	s, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("featurestore: append: %w", err)
	}
	parent, err := s.Dataset()
	version, meta := s.version, s.meta
	s.Close()
	if err != nil {
		return nil, fmt.Errorf("featurestore: append to %s: read version %s: %w", dir, version, err)
	}
	ds, err := Merge(parent, add)
	if err != nil {
		return nil, fmt.Errorf("featurestore: append to %s: %w", filepath.Clean(dir), err)
	}
	lineage := append(slices.Clone(meta.Lineage), Ancestor{Fingerprint: meta.Fingerprint, Users: meta.Users, Items: meta.Items})
	return commitChild(ctx, dir, ds, commitEnv{free: statfsFree}, &childOf{version: version, lineage: lineage})
}
