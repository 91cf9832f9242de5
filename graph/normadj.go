package graph

import (
	"errors"
	"fmt"
	"math"
)

// NormAdj is the symmetric normalised adjacency D^-½ A D^-½ of the
// bipartite graph over global node ids (users 0..U-1, then items), in CSR
// form: row r lists Col[Ptr[r]:Ptr[r+1]] with weights Val, 1/sqrt(d_u d_i)
// computed in float64 and rounded. Users' rows list their items and items'
// rows their users, each in adjacency order. LightGCN's propagation on CPU
// (consumer) and GPU (cuda) both use it.
type NormAdj struct {
	Ptr, Col []int32
	Val      []float32
}

// NormalizedAdjacency builds g's NormAdj. It fails for a nil graph or one
// whose 2·edges overflow int32 offsets.
func NormalizedAdjacency(g *Bipartite) (*NormAdj, error) {
	if g == nil {
		return nil, errors.New("model needs the training graph (Info.Graph is nil)")
	}
	U, I := g.NumUsers, g.NumItems
	e := g.NumEdges()
	if 2*e >= math.MaxInt32 {
		return nil, fmt.Errorf("graph: %d edges too many for int32 offsets", e)
	}
	a := &NormAdj{Ptr: make([]int32, U+I+1), Col: make([]int32, 0, 2*e), Val: make([]float32, 0, 2*e)}
	inv := func(d int) float64 {
		if d == 0 {
			return 0
		}
		return 1 / math.Sqrt(float64(d))
	}
	for u := 0; u < U; u++ {
		du := inv(g.UserDegree(uint32(u)))
		for _, it := range g.ItemsOf(uint32(u)) {
			a.Col = append(a.Col, int32(U+int(it)))
			a.Val = append(a.Val, float32(du*inv(g.ItemDegree(it))))
		}
		a.Ptr[u+1] = int32(len(a.Col))
	}
	for i := 0; i < I; i++ {
		di := inv(g.ItemDegree(uint32(i)))
		for _, u := range g.UsersOf(uint32(i)) {
			a.Col = append(a.Col, int32(u))
			a.Val = append(a.Val, float32(di*inv(g.UserDegree(u))))
		}
		a.Ptr[U+i+1] = int32(len(a.Col))
	}
	return a, nil
}
