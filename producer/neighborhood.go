package producer

import (
	"math"

	"github.com/trainerd/trainerd/dataset"
)

// Neighborhood writes the T neighbor slots of global node v (global ids and
// importance weights summing to 1; unused slots point at v with weight 0)
// into ids and wts, both of length T (Config().Neighbors.T), and returns the
// number of valid slots. It samples exactly as training batches of that
// epoch do with neighbors.cache (randomness from (seed, epoch, v)), so a
// model's Embed convolves over the same kind of neighborhoods training saw.
// Safe for concurrent use.
func (s *Sampler) Neighborhood(epoch int, v uint32, ids []uint32, wts []float32) int {
	sc := s.getScratch()
	defer s.putScratch(sc)
	if s.cache != nil {
		s.cache.acquire(epoch)
		defer s.cache.release()
	}
	s.neighborhood(sc, epoch, -1, v, ids, wts)
	n := 0
	for _, w := range wts {
		if w != 0 {
			n++
		}
	}
	return n
}

// neighborhood writes the T neighbor slots (global ids, weights) of global
// node v into ids and wts, from the epoch cache when enabled.
func (s *Sampler) neighborhood(sc *scratch, epoch, index int, v uint32, ids []uint32, wts []float32) {
	if c := s.cache; c != nil {
		if c.getNbrs(epoch, v, ids, wts, sc.packed) {
			return
		}
		s.computeNeighborhood(sc, epoch, -1, v, ids, wts)
		c.putNbrs(epoch, v, ids, wts, sc.packed)
		return
	}
	s.computeNeighborhood(sc, epoch, index, v, ids, wts)
}

// computeNeighborhood samples v's neighborhood with randomness from
// (seed, epoch, index, v); index is -1 for epoch-cached neighborhoods.
func (s *Sampler) computeNeighborhood(sc *scratch, epoch, index int, v uint32, ids []uint32, wts []float32) {
	r := newRNG(streamKey(s.cfg.Seed, tagNeighbors, uint64(epoch), uint64(int64(index)), uint64(v)))
	side, local := s.split(v)
	cfg := &s.cfg
	if cfg.Neighbors.Mode != "pixie" {
		var nbrs []uint32
		if side == dataset.User {
			nbrs = s.g.ItemsOf(local)
		} else {
			nbrs = s.g.UsersOf(local)
		}
		sampleDirect(nbrs, v, cfg.Neighbors.Mode, cfg.Neighbors.Pad, ids, wts, &r)
		if side == dataset.User { // neighbors are items: make them global
			for t := range ids {
				if wts[t] != 0 {
					ids[t] += uint32(s.nu)
				}
			}
		}
		return
	}
	w := sc.w
	opposite := cfg.Walk.Count == "opposite"
	w.pixie(side, local, opposite, s.alphaT, cfg.Walk.Steps, cfg.Walk.MinVisits, cfg.Walk.StopNodes, &r)
	excl := local
	if opposite {
		excl = math.MaxUint32
	}
	n := w.topT(excl, sc.nbrIDs, sc.nbrCnt)
	sum := uint32(0)
	for t := 0; t < n; t++ {
		sum += sc.nbrCnt[t]
	}
	for t := range ids {
		if t < n {
			ids[t] = s.global(w.side, sc.nbrIDs[t])
			wts[t] = float32(sc.nbrCnt[t]) / float32(sum)
		} else {
			ids[t], wts[t] = v, 0
		}
	}
	w.reset()
}
