// Package dataset holds the in-memory form of one interaction data set: the
// external-id maps, train and test interactions and typed node features.
//
// Parsers (package ingest) and the synthetic generator (package gen) produce a
// Dataset; package featurestore validates it and commits it to Badger in one
// switch-over. Nothing here does I/O.
package dataset

import (
	"fmt"
)

// NodeType says which side of the bipartite graph a node is on.
type NodeType uint8

const (
	// User is the query side (users, or boards in pin–board graphs).
	User NodeType = 0
	// Item is the candidate side (items, pins).
	Item NodeType = 1
)

// String returns "user" or "item".
func (t NodeType) String() string {
	switch t {
	case User:
		return "user"
	case Item:
		return "item"
	}
	return fmt.Sprintf("NodeType(%d)", uint8(t))
}

// Interaction is one user–item edge with dense ids. Weight is 1 and Time is 0
// when the source gave none.
type Interaction struct {
	User   uint32
	Item   uint32
	Weight float32
	Time   int64
}

// Column describes one named block of feature columns.
type Column struct {
	// Name of the source column ("genre", "age", ...).
	Name string `json:"name"`
	// Dim is the number of float32 values the column occupies.
	Dim int `json:"dim"`
	// Derivation says how the values were derived from the source:
	// "numeric", "onehot", "multihot", "generated", ...
	Derivation string `json:"derivation"`
	// Labels names the individual values of one-hot and multi-hot columns,
	// in order; empty for numeric columns.
	Labels []string `json:"labels,omitempty"`
}

// Schema is the ordered list of columns of one node type's feature vector.
type Schema []Column

// Dim is the total feature dimension, the sum of the column dims.
func (s Schema) Dim() int {
	d := 0
	for _, c := range s {
		d += c.Dim
	}
	return d
}

// Features is a dense row-major matrix of float32 features, one row per
// dense node id, with its schema. A nil Features means the type has none.
type Features struct {
	Schema Schema
	// Data has len(nodes)*Schema.Dim() values; row i belongs to dense id i.
	Data []float32
}

// Row returns the feature row of dense id i (a view, not a copy).
func (f *Features) Row(i uint32) []float32 {
	d := f.Schema.Dim()
	return f.Data[int(i)*d : int(i)*d+d]
}

// Dataset is one complete data set ready to be committed to a store.
type Dataset struct {
	// Name is a short label ("gowalla", "ml-100k", "gen-small").
	Name string
	// UserIDs and ItemIDs map dense id → external id (the source's token).
	UserIDs []string
	ItemIDs []string
	// Train and Test interactions, dense ids.
	Train []Interaction
	Test  []Interaction
	// UserFeatures and ItemFeatures are nil when the source has none.
	UserFeatures *Features
	ItemFeatures *Features
}

// NumUsers is len(UserIDs).
func (d *Dataset) NumUsers() int { return len(d.UserIDs) }

// NumItems is len(ItemIDs).
func (d *Dataset) NumItems() int { return len(d.ItemIDs) }

// Validate checks internal consistency: ids in range, feature matrices of the
// right size, no duplicate external ids.
func (d *Dataset) Validate() error {
	nu, ni := uint32(len(d.UserIDs)), uint32(len(d.ItemIDs))
	if nu == 0 || ni == 0 {
		return fmt.Errorf("dataset %q: no users or no items (%d users, %d items)", d.Name, nu, ni)
	}
	for _, part := range []struct {
		name string
		es   []Interaction
	}{{"train", d.Train}, {"test", d.Test}} {
		for i, e := range part.es {
			if e.User >= nu || e.Item >= ni {
				return fmt.Errorf("dataset %q: %s interaction %d (%d,%d) out of range", d.Name, part.name, i, e.User, e.Item)
			}
		}
	}
	if len(d.Train) == 0 {
		return fmt.Errorf("dataset %q: no train interactions", d.Name)
	}
	for _, f := range []struct {
		name string
		f    *Features
		n    int
	}{{"user", d.UserFeatures, int(nu)}, {"item", d.ItemFeatures, int(ni)}} {
		if f.f == nil {
			continue
		}
		if want := f.n * f.f.Schema.Dim(); len(f.f.Data) != want {
			return fmt.Errorf("dataset %q: %s features have %d values, want %d (%d nodes × dim %d)", d.Name, f.name, len(f.f.Data), want, f.n, f.f.Schema.Dim())
		}
	}
	for _, ids := range []struct {
		name string
		ids  []string
	}{{"user", d.UserIDs}, {"item", d.ItemIDs}} {
		seen := make(map[string]struct{}, len(ids.ids))
		for _, id := range ids.ids {
			if _, dup := seen[id]; dup {
				return fmt.Errorf("dataset %q: duplicate %s id %q", d.Name, ids.name, id)
			}
			seen[id] = struct{}{}
		}
	}
	return nil
}
