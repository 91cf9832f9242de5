package infer

import (
	"math"

	"github.com/trainerd/trainerd/graph"
)

// Values of Options.ColdNeighbors.
const (
	// ColdNeighborsNone embeds a node without train edges from its features
	// alone: its neighbourhood is empty (the default).
	ColdNeighborsNone = "none"
	// ColdNeighborsSimilar gives a node without train edges the sampled
	// neighbourhood of its proxy, the node of the same type with train edges
	// whose feature row is most similar to its own (see coldProxies).
	ColdNeighborsSimilar = "similar"
)

// coldProxies maps every node of one type without train edges (degree 0)
// to its proxy: the node with train edges whose feature row has the
// highest cosine similarity with its own, ties going to the higher degree,
// then the lower id. feat is row-major n×dim; ids are local to the type.
// Nodes with an all-zero feature row get no proxy, and nothing does when
// no node has edges. The search is exhaustive: O(cold · warm · dim).
func coldProxies(feat []float32, dim, n int, degree func(i uint32) int) map[uint32]uint32 {
	norm := make([]float64, n)
	var warm, cold []uint32
	for i := 0; i < n; i++ {
		var s float64
		for _, v := range feat[i*dim : (i+1)*dim] {
			s += float64(v) * float64(v)
		}
		norm[i] = math.Sqrt(s)
		if degree(uint32(i)) > 0 {
			if norm[i] > 0 {
				warm = append(warm, uint32(i))
			}
		} else if norm[i] > 0 {
			cold = append(cold, uint32(i))
		}
	}
	out := make(map[uint32]uint32, len(cold))
	if len(warm) == 0 {
		return out
	}
	for _, c := range cold {
		rc := feat[int(c)*dim : int(c+1)*dim]
		best, bestSim, bestDeg := uint32(0), math.Inf(-1), -1
		for _, w := range warm {
			rw := feat[int(w)*dim : int(w+1)*dim]
			var dot float64
			for j, v := range rc {
				dot += float64(v) * float64(rw[j])
			}
			sim := dot / (norm[c] * norm[w])
			d := degree(w)
			if sim > bestSim || (sim == bestSim && d > bestDeg) {
				best, bestSim, bestDeg = w, sim, d
			}
		}
		out[c] = best
	}
	return out
}

// globalProxies returns coldProxies for users and items of g, in global
// node ids (users first, then items); a type without features has none.
func globalProxies(g *graph.Bipartite, userFeat []float32, userDim int, itemFeat []float32, itemDim int) map[uint32]uint32 {
	out := map[uint32]uint32{}
	if userDim > 0 {
		for c, w := range coldProxies(userFeat, userDim, g.NumUsers, g.UserDegree) {
			out[c] = w
		}
	}
	if itemDim > 0 {
		nu := uint32(g.NumUsers)
		for c, w := range coldProxies(itemFeat, itemDim, g.NumItems, g.ItemDegree) {
			out[nu+c] = nu + w
		}
	}
	return out
}
