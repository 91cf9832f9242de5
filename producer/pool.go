package producer

import "github.com/trainerd/trainerd/batch"

// pool draws the shared negative pool: size distinct nodes of the negative
// domain (items, or all nodes for walk pairs) that have train edges,
// uniform or ∝ degree^power.
// For item_item and walks no pool node is a Query[j] or Pos[j] of the batch.
// For user_item every item stays eligible and the Batch masks, for each
// query alone, the pool items it engaged (NegMask, see masks). When fewer
// than size candidates remain the pool holds all of them.
//
// A user_item pool used to exclude every train item of every query user,
// and later every positive of the batch. With big batches the positives
// alone are the catalogue's popular head (over 10k of Gowalla's 41k items at
// B=8192), so popular items were never negatives, the model never learnt to
// rank them against each other, and LightGCN with sampled softmax stalled.
func (s *Sampler) pool(sc *scratch, epoch, index, size int, dst *batch.Batch) error {
	mark, gen := sc.mark, sc.gen
	if s.kind != UserItem {
		for j, q := range dst.Query {
			mark[q] = gen
			mark[dst.Pos[j]] = gen
		}
	}
	neg := dst.Neg[:0]
	r := newRNG(streamKey(s.cfg.Seed, tagPool, uint64(epoch), uint64(index), 0))
	tries := 16*size + 256
	for len(neg) < size && tries > 0 {
		tries--
		var x uint32
		switch {
		case s.negAlias != nil:
			x = s.negAlias.sample(&r)
		case s.negDom != nil:
			x = s.negDom[r.intn(uint32(len(s.negDom)))]
		default:
			x = r.intn(uint32(s.negN))
		}
		v := s.negBase + x
		if mark[v] == gen {
			continue
		}
		mark[v] = gen
		neg = append(neg, v)
	}
	if len(neg) < size { // crowded domain: scan from a random offset
		n := s.negN
		if s.negDom != nil {
			n = len(s.negDom)
		}
		start := r.intn(uint32(n))
		for k := 0; k < n && len(neg) < size; k++ {
			x := uint32((int(start) + k) % n)
			if s.negDom != nil {
				x = s.negDom[x]
			}
			v := s.negBase + x
			if mark[v] != gen {
				mark[v] = gen
				neg = append(neg, v)
			}
		}
	}
	dst.Neg = neg
	for k, v := range neg {
		sc.slot[v], sc.slotGn[v] = int32(k), gen
	}
	return nil
}

// masks fills NegMask/NegMaskPtr and InMask/InMaskPtr (see batch.Batch) in
// O(B + Σ_j deg(Query[j]) + mask size): pool items carry their slot
// (sc.slot, set by pool) and each positive the list of examples that have
// it (sc.head/sc.next, built here), so one pass over each query's train
// items finds every collision.
func (s *Sampler) masks(sc *scratch, dst *batch.Batch) {
	gen := sc.gen
	B := len(dst.Query)
	next := resize(sc.next, B)
	sc.next = next
	for k := B - 1; k >= 0; k-- { // lists in increasing example order
		v := dst.Pos[k]
		next[k] = -1
		if sc.headGn[v] == gen {
			next[k] = sc.head[v]
		}
		sc.head[v], sc.headGn[v] = int32(k), gen
	}
	negMask, negPtr := dst.NegMask[:0], append(dst.NegMaskPtr[:0], 0)
	inMask, inPtr := dst.InMask[:0], append(dst.InMaskPtr[:0], 0)
	inBatch := func(j int, v uint32) {
		if sc.headGn[v] != gen {
			return
		}
		for k := sc.head[v]; k >= 0; k = next[k] {
			if int(k) != j {
				inMask = append(inMask, k)
			}
		}
	}
	nu := uint32(s.nu)
	for j, q := range dst.Query {
		if s.kind == UserItem {
			for _, it := range s.g.ItemsOf(q) {
				v := nu + it
				if sc.slotGn[v] == gen {
					negMask = append(negMask, sc.slot[v])
				}
				inBatch(j, v)
			}
		} else {
			p := dst.Pos[j]
			a, b := q, p
			if b < a {
				a, b = b, a
			}
			inBatch(j, a)
			if b != a {
				inBatch(j, b)
			}
		}
		negPtr = append(negPtr, int32(len(negMask)))
		inPtr = append(inPtr, int32(len(inMask)))
	}
	dst.NegMask, dst.NegMaskPtr = negMask, negPtr
	dst.InMask, dst.InMaskPtr = inMask, inPtr
}
