package eval

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/trainerd/trainerd/graph"
)

// ColdItems returns the items without a train interaction, ascending: the
// items a cold-start split (ingest --split cold-items) held out, and any
// item added to a store after training. An item with neither train nor
// test interactions is cold too; it is a candidate that is never relevant.
func ColdItems(train *graph.Bipartite) []uint32 {
	var out []uint32
	for i := 0; i < train.NumItems; i++ {
		if train.ItemDegree(uint32(i)) == 0 {
			out = append(out, uint32(i))
		}
	}
	return out
}

// EvaluateItems runs Evaluate with the ranking restricted to the candidate
// items cands (ascending, distinct, each below train.NumItems): each user's
// scores cover the candidates only, train items outside them play no part,
// and test items outside them are dropped, so a user is averaged over when
// at least one of its test items is a candidate. Ties still go to the lower
// item id (candidates keep their order). With cands every item it equals
// Evaluate.
func EvaluateItems(ctx context.Context, users, items []float32, dim int, train, test *graph.Bipartite, cands []uint32, opts Options) (Metrics, error) {
	if train == nil || test == nil {
		return nil, errors.New("eval: nil train or test graph")
	}
	if err := checkShapes(users, items, dim, train.NumUsers, train.NumItems); err != nil {
		return nil, err
	}
	if test.NumUsers != train.NumUsers || test.NumItems != train.NumItems {
		return nil, fmt.Errorf("eval: test graph is %d×%d but train graph is %d×%d", test.NumUsers, test.NumItems, train.NumUsers, train.NumItems)
	}
	if len(cands) == 0 {
		return nil, errors.New("eval: no candidate items")
	}
	// pos[i] is 1 + i's index among the candidates, 0 when i is not one.
	pos := make([]uint32, train.NumItems)
	for r, i := range cands {
		if int(i) >= train.NumItems {
			return nil, fmt.Errorf("eval: candidate item %d out of range (%d items)", i, train.NumItems)
		}
		if r > 0 && i <= cands[r-1] {
			return nil, fmt.Errorf("eval: candidate items not ascending and distinct at position %d (%d after %d)", r, i, cands[r-1])
		}
		pos[i] = uint32(r + 1)
	}
	sub := make([]float32, len(cands)*dim)
	for r, i := range cands {
		copy(sub[r*dim:(r+1)*dim], items[int(i)*dim:int(i+1)*dim])
	}
	restrict := func(g *graph.Bipartite) (*graph.Bipartite, error) {
		var es []graph.Edge
		for u := 0; u < g.NumUsers; u++ {
			for _, i := range g.ItemsOf(uint32(u)) {
				if p := pos[i]; p > 0 {
					es = append(es, graph.Edge{User: uint32(u), Item: p - 1})
				}
			}
		}
		return graph.Build(g.NumUsers, len(cands), es)
	}
	subTrain, err := restrict(train)
	if err != nil {
		return nil, fmt.Errorf("eval: train graph over the candidates: %w", err)
	}
	subTest, err := restrict(test)
	if err != nil {
		return nil, fmt.Errorf("eval: test graph over the candidates: %w", err)
	}
	return Evaluate(ctx, users, sub, dim, subTrain, subTest, opts)
}

// ContentEmbeddings builds the content-only baseline from item features
// (row-major NumItems×featDim): an item's vector is its feature row scaled
// to unit length, a user's the mean of its train items' feature rows
// scaled to unit length, so inner products are cosine similarities. A zero
// row (an item without features, a user without train items) stays zero
// and scores 0 against everything.
func ContentEmbeddings(train *graph.Bipartite, itemFeat []float32, featDim int) (users, items []float32, err error) {
	if featDim <= 0 {
		return nil, nil, errors.New("eval: content baseline needs item features, and the store has none")
	}
	if len(itemFeat) != train.NumItems*featDim {
		return nil, nil, fmt.Errorf("eval: item features have %d values, want %d items × dim %d", len(itemFeat), train.NumItems, featDim)
	}
	items = slices.Clone(itemFeat)
	for i := 0; i < train.NumItems; i++ {
		unit(items[i*featDim : (i+1)*featDim])
	}
	users = make([]float32, train.NumUsers*featDim)
	acc := make([]float64, featDim)
	for u := 0; u < train.NumUsers; u++ {
		clear(acc)
		its := train.ItemsOf(uint32(u))
		for _, i := range its {
			for j, v := range itemFeat[int(i)*featDim : int(i+1)*featDim] {
				acc[j] += float64(v)
			}
		}
		row := users[u*featDim : (u+1)*featDim]
		if len(its) > 0 {
			for j := range row {
				row[j] = float32(acc[j] / float64(len(its)))
			}
		}
		unit(row)
	}
	return users, items, nil
}

// unit scales v to unit L2 norm in place; a zero vector stays zero.
func unit(v []float32) {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s == 0 {
		return
	}
	inv := 1 / math.Sqrt(s)
	for i, x := range v {
		v[i] = float32(float64(x) * inv)
	}
}
