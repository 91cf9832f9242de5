package ingest

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/trainerd/trainerd/dataset"
)

// SplitKind names a train/test split strategy.
type SplitKind string

const (
	// SplitGiven means the source names its own test file; nothing is split.
	SplitGiven SplitKind = "given"
	// SplitRandom holds out a TestRatio share of each user's interactions,
	// chosen at random from Seed.
	SplitRandom SplitKind = "random"
	// SplitLast holds out each user's LastN latest interactions by time.
	SplitLast SplitKind = "last"
	// SplitColdItems holds out a ColdRatio share of the items, chosen at
	// random from Seed, with every interaction that touches them: no train
	// interaction touches a cold item, so a model meets them only through
	// their features (the cold-start protocol).
	SplitColdItems SplitKind = "cold-items"
	// SplitNone keeps every interaction in train: for additions to a
	// trained store (ingest --append), whose edges are the new nodes'
	// neighbourhoods rather than a test set.
	SplitNone SplitKind = "none"
)

// Split says how to derive a test set when the source has none.
type Split struct {
	// Kind is given, random or last. The zero value is invalid where a split
	// is needed; use DefaultSplit.
	Kind SplitKind
	// TestRatio is the share of each user's interactions held out by
	// SplitRandom, in (0, 1).
	TestRatio float64
	// Seed makes SplitRandom deterministic: the same input, ratio and seed
	// always give the same split.
	Seed uint64
	// LastN is the number of latest interactions per user SplitLast holds
	// out, at least 1.
	LastN int
	// ColdRatio is the share of items SplitColdItems holds out, in (0, 1).
	ColdRatio float64
}

// DefaultSplit is a per-user random 80/20 holdout with seed 1, the default
// for movielens and csv sources without a test file.
func DefaultSplit() Split {
	return Split{Kind: SplitRandom, TestRatio: 0.2, Seed: 1, LastN: 1, ColdRatio: 0.2}
}

// validate checks the split is usable when no test file is given.
func (s Split) validate(haveTest bool) error {
	switch s.Kind {
	case SplitGiven, "":
		if !haveTest {
			return errors.New("split \"given\" needs a test file; give one or use split random or last")
		}
	case SplitRandom:
		if !(s.TestRatio > 0 && s.TestRatio < 1) {
			return fmt.Errorf("test ratio %v must be in (0, 1)", s.TestRatio)
		}
	case SplitLast:
		if s.LastN < 1 {
			return fmt.Errorf("last-n %d must be at least 1", s.LastN)
		}
	case SplitNone:
	case SplitColdItems:
		if !(s.ColdRatio > 0 && s.ColdRatio < 1) {
			return fmt.Errorf("cold ratio %v must be in (0, 1)", s.ColdRatio)
		}
	default:
		return fmt.Errorf("unknown split %q (want given, random, last, cold-items or none)", s.Kind)
	}
	return nil
}

// ApplySplit divides es (dense user ids below numUsers) into train and test
// per user, keeping the input order within each part.
//
// SplitRandom holds out round(TestRatio·n) of a user's n interactions,
// chosen by a PCG generator seeded with (Seed, dense user id), so the split
// does not depend on edge order across users. SplitLast holds out the LastN
// interactions with the latest Time (ties broken by input order). Both
// always leave a user at least one train interaction, so a user with a single
// interaction has no test interaction. SplitLast fails when no interaction
// has a non-zero Time. SplitColdItems is described at ColdItems; it may
// leave a user whose every interaction touches a cold item without train
// interactions. SplitNone returns every interaction as train.
func ApplySplit(es []dataset.Interaction, numUsers int, s Split) (train, test []dataset.Interaction, err error) {
	if err := s.validate(false); err != nil {
		return nil, nil, err
	}
	switch s.Kind {
	case SplitColdItems:
		return coldItemSplit(es, s)
	case SplitNone:
		return slices.Clone(es), nil, nil
	}
	// Group edge indices by user (counting sort, stable).
	start := make([]int, numUsers+1)
	for _, e := range es {
		if int(e.User) >= numUsers {
			return nil, nil, fmt.Errorf("user %d out of range (%d users)", e.User, numUsers)
		}
		start[e.User+1]++
	}
	for u := 0; u < numUsers; u++ {
		start[u+1] += start[u]
	}
	byUser := make([]int32, len(es))
	fill := slices.Clone(start[:numUsers])
	for i, e := range es {
		byUser[fill[e.User]] = int32(i)
		fill[e.User]++
	}
	if s.Kind == SplitLast {
		timed := false
		for _, e := range es {
			if e.Time != 0 {
				timed = true
				break
			}
		}
		if !timed {
			return nil, nil, errors.New("split last needs timestamps, and this source has none")
		}
	}
	isTest := make([]bool, len(es))
	for u := 0; u < numUsers; u++ {
		idx := byUser[start[u]:start[u+1]]
		n := len(idx)
		if n < 2 {
			continue
		}
		switch s.Kind {
		case SplitRandom:
			k := min(int(math.Round(s.TestRatio*float64(n))), n-1)
			rng := rand.New(rand.NewPCG(s.Seed, uint64(u)))
			// Partial Fisher–Yates: the first k positions become test.
			for i := 0; i < k; i++ {
				j := i + rng.IntN(n-i)
				idx[i], idx[j] = idx[j], idx[i]
				isTest[idx[i]] = true
			}
		case SplitLast:
			k := min(s.LastN, n-1)
			slices.SortStableFunc(idx, func(a, b int32) int {
				ta, tb := es[a].Time, es[b].Time
				switch {
				case ta < tb:
					return -1
				case ta > tb:
					return 1
				}
				return int(a - b)
			})
			for _, i := range idx[n-k:] {
				isTest[i] = true
			}
		}
	}
	nt := 0
	for _, t := range isTest {
		if t {
			nt++
		}
	}
	train = make([]dataset.Interaction, 0, len(es)-nt)
	test = make([]dataset.Interaction, 0, nt)
	for i, e := range es {
		if isTest[i] {
			test = append(test, e)
		} else {
			train = append(train, e)
		}
	}
	return train, test, nil
}

// ColdItems returns the cold items SplitColdItems holds out of es, sorted:
// round(ColdRatio·n) of the n distinct items that es mentions (at least
// one, and at most n-1), chosen by a Fisher–Yates shuffle of the sorted
// item ids under a PCG generator seeded with (Seed, n). The choice depends
// on the set of items only, not on the edge order.
func ColdItems(es []dataset.Interaction, s Split) ([]uint32, error) {
	if !(s.ColdRatio > 0 && s.ColdRatio < 1) {
		return nil, fmt.Errorf("cold ratio %v must be in (0, 1)", s.ColdRatio)
	}
	items := make([]uint32, len(es))
	for i, e := range es {
		items[i] = e.Item
	}
	slices.Sort(items)
	items = slices.Compact(items)
	n := len(items)
	if n < 2 {
		return nil, fmt.Errorf("split cold-items needs at least 2 items with interactions, have %d", n)
	}
	k := min(max(int(math.Round(s.ColdRatio*float64(n))), 1), n-1)
	rng := rand.New(rand.NewPCG(s.Seed, uint64(n)))
	for i := 0; i < k; i++ {
		j := i + rng.IntN(n-i)
		items[i], items[j] = items[j], items[i]
	}
	cold := slices.Clone(items[:k])
	slices.Sort(cold)
	return cold, nil
}

// coldItemSplit sends every interaction of a cold item to test and the
// rest to train, keeping the input order within each part.
func coldItemSplit(es []dataset.Interaction, s Split) (train, test []dataset.Interaction, err error) {
	cold, err := ColdItems(es, s)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range es {
		if _, ok := slices.BinarySearch(cold, e.Item); ok {
			test = append(test, e)
		} else {
			train = append(train, e)
		}
	}
	return train, test, nil
}
