package model

import "github.com/trainerd/trainerd/graph"

// NeighborFunc fills nbr and w (both of length T) with the neighbourhood of
// global node id node — PinSage's top-T importance neighbours with weights
// summing to 1, or GraphSAGE's uniform sample — and returns the number of
// valid slots (the rest are ignored). Embed calls it from one goroutine.
type NeighborFunc func(node uint32, nbr []uint32, w []float32) int

// NeighborSetter is implemented by the convolutional models (PinSage,
// GraphSAGE). The daemon wires the producer's neighbourhoods into it so that
// Embed convolves over the same kind of neighbourhoods training saw. Without
// it Embed uses the training graph's direct neighbours (up to T, evenly
// spaced over the adjacency list, uniform weights).
type NeighborSetter interface {
	// SetNeighbors makes Embed use fn with t slots per node.
	SetNeighbors(fn NeighborFunc, t int)
}

// GraphNeighbors is Embed's fallback NeighborFunc over the training graph g
// (users 0..numUsers-1, then items): up to T direct neighbours, evenly
// spaced over the adjacency list, with uniform weights. A nil g gives no
// neighbours.
func GraphNeighbors(g *graph.Bipartite, numUsers int) NeighborFunc {
	U := uint32(numUsers)
	return func(node uint32, nbr []uint32, w []float32) int {
		if g == nil {
			return 0
		}
		var adj []uint32
		off := uint32(0)
		if node < U {
			adj, off = g.ItemsOf(node), U
		} else {
			adj = g.UsersOf(node - U)
		}
		t := len(nbr)
		n := min(len(adj), t)
		for s := 0; s < n; s++ {
			nbr[s] = adj[s*len(adj)/n] + off
			w[s] = 1 / float32(n)
		}
		return n
	}
}

// Hops builds the K-hop computation graph of targets with fn and t slots
// per node, in the producer's layout (batch.Batch): Layers[k+1] starts with
// Layers[k]; unused slots point at the node itself with weight 0. The CPU
// and GPU convolutional models embed through it, and the GPU model's
// reference cases are built with it.
func Hops(targets []uint32, k, t int, fn NeighborFunc) (layers [][]uint32, nbrIdx [][]int32, nbrW [][]float32) {
	layers = make([][]uint32, k+1)
	layers[0] = append([]uint32(nil), targets...)
	nbrIdx = make([][]int32, k)
	nbrW = make([][]float32, k)
	nb := make([]uint32, t)
	w := make([]float32, t)
	for h := 0; h < k; h++ {
		cur := layers[h]
		next := append(make([]uint32, 0, len(cur)*2), cur...)
		pos := make(map[uint32]int32, len(cur)*2)
		for i, id := range cur {
			pos[id] = int32(i)
		}
		idx := make([]int32, len(cur)*t)
		wt := make([]float32, len(cur)*t)
		for i, id := range cur {
			n := fn(id, nb, w)
			for s := 0; s < t; s++ {
				j := i*t + s
				if s >= n || w[s] <= 0 {
					idx[j] = int32(i)
					continue
				}
				p, ok := pos[nb[s]]
				if !ok {
					p = int32(len(next))
					pos[nb[s]] = p
					next = append(next, nb[s])
				}
				idx[j], wt[j] = p, w[s]
			}
		}
		layers[h+1], nbrIdx[h], nbrW[h] = next, idx, wt
	}
	return layers, nbrIdx, nbrW
}

// Targets returns the distinct ids of lists in order of first appearance
// (a batch's Layers[0], as the producer lays it out) and, for each list,
// its indices into them (QueryIdx, PosIdx, ...).
func Targets(lists ...[]uint32) (targets []uint32, idx [][]int32) {
	pos := map[uint32]int32{}
	idx = make([][]int32, len(lists))
	for i, ids := range lists {
		out := make([]int32, len(ids))
		for k, id := range ids {
			q, ok := pos[id]
			if !ok {
				q = int32(len(targets))
				pos[id] = q
				targets = append(targets, id)
			}
			out[k] = q
		}
		idx[i] = out
	}
	return targets, idx
}

// NodeFeatures assembles the feature rows of global node ids nodes from
// info, as the producer does: len(nodes) rows of UserFeatDim+ItemFeatDim
// values, user columns then item columns, zeros on the other side.
func NodeFeatures(info Info, nodes []uint32) []float32 {
	du, di := info.UserFeatDim, info.ItemFeatDim
	fd := du + di
	f := make([]float32, len(nodes)*fd)
	U := uint32(info.NumUsers)
	for r, id := range nodes {
		row := f[r*fd : (r+1)*fd]
		if id < U {
			if du > 0 && info.UserFeatures != nil {
				copy(row[:du], info.UserFeatures[int(id)*du:int(id+1)*du])
			}
		} else if di > 0 && info.ItemFeatures != nil {
			i := int(id - U)
			copy(row[du:], info.ItemFeatures[i*di:(i+1)*di])
		}
	}
	return f
}
