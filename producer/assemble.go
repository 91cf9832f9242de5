package producer

import (
	"fmt"

	"github.com/trainerd/trainerd/batch"
	"github.com/trainerd/trainerd/dataset"
)

// assemble builds Layers, NbrIdx/NbrW, the index arrays and Feat.
func (s *Sampler) assemble(sc *scratch, epoch, index int, dst *batch.Batch) error {
	K := s.cfg.Layers
	T := s.cfg.Neighbors.T
	dim := s.FeatDim()
	dst.T = T
	if K == 0 && dim == 0 {
		dst.Layers, dst.NbrIdx, dst.NbrW = nil, nil, nil
		dst.QueryIdx, dst.PosIdx, dst.NegIdx, dst.HardIdx = dst.QueryIdx[:0], dst.PosIdx[:0], dst.NegIdx[:0], dst.HardIdx[:0]
		dst.Feat, dst.FeatDim = nil, 0
		return nil
	}
	// Backing arrays: the deepest layer and deepest NbrIdx/NbrW own them.
	var all []uint32
	if n := len(dst.Layers); n > 0 {
		all = dst.Layers[n-1][:0]
	}
	var nbr []int32
	var nw []float32
	if n := len(dst.NbrIdx); n > 0 {
		nbr, nw = dst.NbrIdx[n-1][:0], dst.NbrW[n-1][:0]
	}
	pos, pg, gen := sc.pos, sc.posGen, sc.gen
	add := func(v uint32) int32 {
		if pg[v] == gen {
			return pos[v]
		}
		pg[v] = gen
		p := int32(len(all))
		pos[v] = p
		all = append(all, v)
		return p
	}
	idx := func(src []uint32, out []int32) []int32 {
		out = out[:0]
		for _, v := range src {
			out = append(out, add(v))
		}
		return out
	}
	dst.QueryIdx = idx(dst.Query, dst.QueryIdx)
	dst.PosIdx = idx(dst.Pos, dst.PosIdx)
	dst.NegIdx = idx(dst.Neg, dst.NegIdx)
	dst.HardIdx = idx(dst.Hard, dst.HardIdx)

	ends := make([]int, 0, 9) // small, stays on the stack
	ends = append(ends, len(all))
	ids, wts := sc.nbrIDs, sc.nbrW
	// drop is the threshold on 53 random bits below which an item's
	// neighborhood is emptied (neighbors.drop_items); 0 drops none.
	drop := uint64(s.cfg.Neighbors.DropItems * (1 << 53))
	for k := 0; k < K; k++ {
		from, to := 0, ends[k]
		if k > 0 {
			from = ends[k-1]
		}
		for n := from; n < to; n++ {
			v := all[n]
			if drop > 0 && v >= uint32(s.nu) && mix(streamKey(s.cfg.Seed, tagDrop, uint64(epoch), uint64(int64(index)), uint64(v)))>>11 < drop {
				for t := range ids {
					ids[t], wts[t] = v, 0
				}
			} else {
				s.neighborhood(sc, epoch, index, v, ids, wts)
			}
			for t := 0; t < T; t++ {
				nbr = append(nbr, add(ids[t]))
				nw = append(nw, wts[t])
			}
		}
		ends = append(ends, len(all))
	}
	dst.Layers = resize(dst.Layers, K+1)
	for k := 0; k <= K; k++ {
		dst.Layers[k] = all[:ends[k]:ends[k]]
	}
	dst.Layers[K] = all
	dst.NbrIdx = resize(dst.NbrIdx, K)
	dst.NbrW = resize(dst.NbrW, K)
	for k := 0; k < K; k++ {
		e := ends[k] * T
		dst.NbrIdx[k], dst.NbrW[k] = nbr[:e:e], nw[:e:e]
	}
	if K > 0 {
		dst.NbrIdx[K-1], dst.NbrW[K-1] = nbr, nw
	}
	return s.features(sc, all, dst)
}

// resize returns a slice of length n, reusing xs's backing when possible.
func resize[T any](xs []T, n int) []T {
	if cap(xs) >= n {
		return xs[:n]
	}
	return make([]T, n)
}

// features reads the rows of nodes with one FetchFeatures call per node
// type and scatters them into dst.Feat (user columns, then item columns).
func (s *Sampler) features(sc *scratch, nodes []uint32, dst *batch.Batch) error {
	dim := s.FeatDim()
	dst.FeatDim = dim
	if dim == 0 {
		dst.Feat = nil
		return nil
	}
	sc.uids, sc.urows, sc.iids, sc.irows = sc.uids[:0], sc.urows[:0], sc.iids[:0], sc.irows[:0]
	for r, v := range nodes {
		if int(v) < s.nu {
			sc.uids, sc.urows = append(sc.uids, v), append(sc.urows, int32(r))
		} else {
			sc.iids, sc.irows = append(sc.iids, v-uint32(s.nu)), append(sc.irows, int32(r))
		}
	}
	feat := resize(dst.Feat, len(nodes)*dim)
	// A row holds [user features | item features]; zero the half that its
	// node type does not fill.
	if s.itemDim > 0 {
		for _, r := range sc.urows {
			clear(feat[int(r)*dim+s.userDim : int(r+1)*dim])
		}
	}
	if s.userDim > 0 {
		for _, r := range sc.irows {
			clear(feat[int(r)*dim : int(r)*dim+s.userDim])
		}
	}
	rfs, direct := s.fs.(RowFeatureSource)
	for _, part := range []struct {
		t    dataset.NodeType
		ids  []uint32
		rows []int32
		d    int
		off  int
	}{{dataset.User, sc.uids, sc.urows, s.userDim, 0}, {dataset.Item, sc.iids, sc.irows, s.itemDim, s.userDim}} {
		if part.d == 0 || len(part.ids) == 0 {
			continue
		}
		if direct {
			if err := rfs.FetchFeatureRows(part.t, part.ids, feat, part.rows, dim, part.off); err != nil {
				return fmt.Errorf("producer: batch (epoch %d, index %d): fetch %d %s features: %w", dst.Epoch, dst.Index, len(part.ids), part.t, err)
			}
			continue
		}
		buf := resize(sc.fbuf, len(part.ids)*part.d)
		sc.fbuf = buf
		if err := s.fs.FetchFeatures(part.t, part.ids, buf); err != nil {
			return fmt.Errorf("producer: batch (epoch %d, index %d): fetch %d %s features: %w", dst.Epoch, dst.Index, len(part.ids), part.t, err)
		}
		for k, r := range part.rows {
			copy(feat[int(r)*dim+part.off:int(r)*dim+part.off+part.d], buf[k*part.d:(k+1)*part.d])
		}
	}
	dst.Feat = feat
	return nil
}
