package producer

import (
	"github.com/trainerd/trainerd/batch"
	"math"
)

// examples fills Query and Pos with the batch's slice of the epoch's
// shuffled example sequence.
func (s *Sampler) examples(sc *scratch, epoch, index int, dst *batch.Batch) {
	B := s.cfg.BatchSize
	lo := index * B
	hi := min(lo+B, s.numExamples)
	perm := newPermutation(uint64(s.numExamples), streamKey(s.cfg.Seed, tagPerm, uint64(epoch), 0, 0))
	dst.Query, dst.Pos = dst.Query[:0], dst.Pos[:0]
	g := s.g
	for x := lo; x < hi; x++ {
		id := perm.at(uint64(x))
		var q, pp uint32
		switch s.kind {
		case UserItem:
			e := uint32(id)
			u := s.userOfEdge(e)
			q, pp = u, uint32(s.nu)+g.UserAdj[e]
		case ItemItem:
			e := s.anchors[id]
			u := s.userOfEdge(e)
			items := g.ItemsOf(u)
			at := e - g.UserPtr[u]
			i := items[at]
			r := newRNG(streamKey(s.cfg.Seed, tagExample, uint64(epoch), id, 0))
			j := uint32(math.MaxUint32)
			if s.cfg.Examples.ItemItem == "walk" {
				j = s.coVisited(i, &r)
			}
			if j == math.MaxUint32 {
				k := r.intn(uint32(len(items) - 1))
				if k >= at {
					k++
				}
				j = items[k]
			}
			q, pp = uint32(s.nu)+i, uint32(s.nu)+j
		case WalkPair:
			np := uint64(len(s.walkPairs))
			w, k := id/np, s.walkPairs[id%np]
			q, pp = s.walkNode(sc, epoch, w, k)
		}
		dst.Query = append(dst.Query, q)
		dst.Pos = append(dst.Pos, pp)
	}
}

// userOfEdge finds the user whose CSR row holds position e.
func (s *Sampler) userOfEdge(e uint32) uint32 {
	ptr := s.g.UserPtr
	lo, hi := 0, s.nu // invariant: ptr[lo] ≤ e < ptr[hi]
	for hi-lo > 1 {
		m := int(uint(lo+hi) >> 1)
		if ptr[m] <= e {
			lo = m
		} else {
			hi = m
		}
	}
	return uint32(lo)
}

// coVisited walks item→user→item (restarting with probability α) from
// item i until it lands on another item; MaxUint32 if 64 steps do not.
func (s *Sampler) coVisited(i uint32, r *rng) uint32 {
	g := s.g
	cur := i
	for step := 0; step < 64; step++ {
		us := g.UsersOf(cur)
		u := us[r.intn(uint32(len(us)))]
		its := g.ItemsOf(u)
		cur = its[r.intn(uint32(len(its)))]
		if cur != i {
			return cur
		}
		if uint32(r.next()) < s.alphaT {
			cur = i
		}
	}
	return math.MaxUint32
}

// walkNode regenerates DeepWalk walk w of epoch (seeded by (seed, epoch,
// w)) far enough to return its nodes at positions k[0] and k[1].
func (s *Sampler) walkNode(sc *scratch, epoch int, w uint64, k [2]uint8) (uint32, uint32) {
	r := newRNG(streamKey(s.cfg.Seed, tagWalkPair, uint64(epoch), w, 0))
	n := int(max(k[0], k[1])) + 1
	walk := sc.walk[:n]
	v := s.starts[w%uint64(len(s.starts))]
	nu := uint32(s.nu)
	for t := 0; t < n; t++ {
		walk[t] = v
		if v < nu {
			its := s.g.ItemsOf(v)
			v = nu + its[r.intn(uint32(len(its)))]
		} else {
			us := s.g.UsersOf(v - nu)
			v = us[r.intn(uint32(len(us)))]
		}
	}
	return walk[k[0]], walk[k[1]]
}
