package trainer

import (
	"fmt"
	"math"
	"slices"

	"github.com/trainerd/trainerd/graph"
)

// Holdout splits the train graph into the graph training sees (rest) and a
// validation split (val) of the same shape. For each user it holds out a
// fraction of the train items that are not also test items of that user:
// fraction × the user's train degree, rounded down or up at random with the
// fractional part as the probability of rounding up (so the held-out share
// is the fraction in expectation even for users with few edges), never more
// than the candidates and never the user's last train edge. Which items go is
// decided by a hash of (seed, user, item), so the split is a pure function of
// the graphs, the fraction and the seed: the same on every resume, for any
// number of threads. Test edges are never read except to exclude them.
func Holdout(train, test *graph.Bipartite, fraction float64, seed uint64) (rest, val *graph.Bipartite, err error) {
	if !(fraction >= 0 && fraction < 1) {
		return nil, nil, fmt.Errorf("trainer: validation fraction %v outside [0,1)", fraction)
	}
	if test != nil && (test.NumUsers != train.NumUsers || test.NumItems != train.NumItems) {
		return nil, nil, fmt.Errorf("trainer: holdout: test graph is %d×%d, train %d×%d", test.NumUsers, test.NumItems, train.NumUsers, train.NumItems)
	}
	keep := make([]graph.Edge, 0, train.NumEdges())
	var held []graph.Edge
	type cand struct {
		item uint32
		h    uint64
	}
	var cands []cand
	for u := range uint32(train.NumUsers) {
		items := train.ItemsOf(u)
		deg := len(items)
		want := fraction * float64(deg)
		n := int(math.Floor(want))
		if unitFloat(mix(seed^0x9e3779b97f4a7c15, uint64(u), math.MaxUint64)) < want-float64(n) {
			n++
		}
		n = min(n, deg-1)
		cands = cands[:0]
		if n > 0 {
			for _, it := range items {
				if test != nil && test.HasEdge(u, it) {
					continue
				}
				cands = append(cands, cand{it, mix(seed, uint64(u), uint64(it))})
			}
			n = min(n, len(cands))
			slices.SortFunc(cands, func(a, b cand) int {
				if a.h != b.h {
					if a.h < b.h {
						return -1
					}
					return 1
				}
				return int(a.item) - int(b.item)
			})
		}
		out := map[uint32]bool{}
		for _, c := range cands[:max(n, 0)] {
			out[c.item] = true
			held = append(held, graph.Edge{User: u, Item: c.item})
		}
		for _, it := range items {
			if !out[it] {
				keep = append(keep, graph.Edge{User: u, Item: it})
			}
		}
	}
	if rest, err = graph.Build(train.NumUsers, train.NumItems, keep); err != nil {
		return nil, nil, fmt.Errorf("trainer: holdout: %w", err)
	}
	if val, err = graph.Build(train.NumUsers, train.NumItems, held); err != nil {
		return nil, nil, fmt.Errorf("trainer: holdout: %w", err)
	}
	return rest, val, nil
}

// mix hashes (seed, a, b) to 64 bits (splitmix64's finaliser, chained).
func mix(seed, a, b uint64) uint64 {
	x := seed
	for _, v := range []uint64{a, b} {
		x ^= v + 0x9e3779b97f4a7c15 + (x << 6) + (x >> 2)
		x ^= x >> 30
		x *= 0xbf58476d1ce4e5b9
		x ^= x >> 27
		x *= 0x94d049bb133111eb
		x ^= x >> 31
	}
	return x
}

// unitFloat maps h to [0,1).
func unitFloat(h uint64) float64 { return float64(h>>11) / (1 << 53) }
