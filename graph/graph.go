// Package graph holds the compact in-memory bipartite interaction graph the
// producers walk: compressed sparse rows (CSR) in both directions.
//
// Users are dense ids 0..NumUsers-1 and items 0..NumItems-1, each side in its
// own id space. Neighbor lists are sorted ascending and stored contiguously in
// one []uint32 per direction, so a walk step is two array reads. Offsets are
// uint32: a graph holds at most 2^32-1 edges per direction.
//
// A Bipartite is immutable after construction and safe for concurrent reads.
package graph

import (
	"fmt"
	"slices"
)

// Edge is one user–item pair with dense ids.
type Edge struct {
	User uint32
	Item uint32
}

// Bipartite is a user–item graph in CSR form, both directions.
type Bipartite struct {
	NumUsers int
	NumItems int
	// UserPtr has NumUsers+1 offsets into UserAdj; the items of user u are
	// UserAdj[UserPtr[u]:UserPtr[u+1]], sorted ascending, without duplicates.
	UserPtr []uint32
	UserAdj []uint32
	// ItemPtr has NumItems+1 offsets into ItemAdj; the users of item i are
	// ItemAdj[ItemPtr[i]:ItemPtr[i+1]], sorted ascending, without duplicates.
	ItemPtr []uint32
	ItemAdj []uint32
}

// Build makes a Bipartite from edges. Duplicate edges are merged. It returns
// an error when an id is out of range.
func Build(numUsers, numItems int, edges []Edge) (*Bipartite, error) {
	if numUsers < 0 || numItems < 0 {
		return nil, fmt.Errorf("graph: negative node count (%d users, %d items)", numUsers, numItems)
	}
	if uint64(len(edges)) >= 1<<32 {
		return nil, fmt.Errorf("graph: %d edges exceed the uint32 offset limit", len(edges))
	}
	for i, e := range edges {
		if int(e.User) >= numUsers || int(e.Item) >= numItems {
			return nil, fmt.Errorf("graph: edge %d (%d,%d) out of range (%d users, %d items)", i, e.User, e.Item, numUsers, numItems)
		}
	}
	g := &Bipartite{NumUsers: numUsers, NumItems: numItems}
	g.UserPtr, g.UserAdj = csr(numUsers, edges, func(e Edge) (uint32, uint32) { return e.User, e.Item })
	g.ItemPtr, g.ItemAdj = csr(numItems, edges, func(e Edge) (uint32, uint32) { return e.Item, e.User })
	return g, nil
}

// csr counts, prefix-sums, fills, then sorts and de-duplicates each row.
func csr(n int, edges []Edge, key func(Edge) (uint32, uint32)) ([]uint32, []uint32) {
	ptr := make([]uint32, n+1)
	AdviseHugePages(ptr)
	for _, e := range edges {
		r, _ := key(e)
		ptr[r+1]++
	}
	for i := 0; i < n; i++ {
		ptr[i+1] += ptr[i]
	}
	adj := make([]uint32, len(edges))
	AdviseHugePages(adj)
	fill := make([]uint32, n)
	copy(fill, ptr[:n])
	for _, e := range edges {
		r, c := key(e)
		adj[fill[r]] = c
		fill[r]++
	}
	// Sort and compact rows in place; rows only shrink, so write behind read.
	out := uint32(0)
	start := uint32(0)
	for r := 0; r < n; r++ {
		end := ptr[r+1]
		row := adj[start:end]
		slices.Sort(row)
		row = slices.Compact(row)
		ptr[r] = out
		out += uint32(copy(adj[out:], row))
		start = end
	}
	ptr[n] = out
	return ptr, adj[:out:out]
}

// NumEdges is the number of distinct user–item edges.
func (g *Bipartite) NumEdges() int { return len(g.UserAdj) }

// ItemsOf returns the items of user u (shared, do not modify).
func (g *Bipartite) ItemsOf(u uint32) []uint32 { return g.UserAdj[g.UserPtr[u]:g.UserPtr[u+1]] }

// UsersOf returns the users of item i (shared, do not modify).
func (g *Bipartite) UsersOf(i uint32) []uint32 { return g.ItemAdj[g.ItemPtr[i]:g.ItemPtr[i+1]] }

// UserDegree is the number of items of user u.
func (g *Bipartite) UserDegree(u uint32) int { return int(g.UserPtr[u+1] - g.UserPtr[u]) }

// ItemDegree is the number of users of item i.
func (g *Bipartite) ItemDegree(i uint32) int { return int(g.ItemPtr[i+1] - g.ItemPtr[i]) }

// HasEdge reports whether user u interacted with item i (binary search).
func (g *Bipartite) HasEdge(u, i uint32) bool {
	_, ok := slices.BinarySearch(g.ItemsOf(u), i)
	return ok
}
