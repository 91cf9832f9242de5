//go:build !cuda

package sage

import (
	"context"
	"fmt"

	"github.com/trainerd/trainerd/consumer/embedcore"
	"github.com/trainerd/trainerd/model"
)

// EmbedNodes returns the output vectors of the given global node ids
// (users 0..NumUsers-1, then items), row-major len(nodes)×dim, row r for
// nodes[r], and dim. It computes what Embed computes for those rows only,
// chunk by chunk over the same neighbourhoods (SetNeighbors, else the
// graph's), so sharded inference need not embed every node.
//
// A row depends on its node, the parameters and the neighbourhoods, and in
// its last bits on the GEMM row blocking of its chunk: for a run of
// consecutive ids starting at a multiple of EmbedChunk (Embed's own
// chunks) the rows equal Embed's bit for bit; for any other id set they
// agree to float32 rounding.
func (m *convModel) EmbedNodes(ctx context.Context, nodes []uint32) ([]float32, int, error) {
	n := uint32(m.info.NumUsers + m.info.NumItems)
	d := m.cfg.Dim
	for r, id := range nodes {
		if id >= n {
			return nil, 0, fmt.Errorf("%s: embed nodes: node %d (row %d) is out of range: the model has %d users + %d items",
				m.name, id, r, m.info.NumUsers, m.info.NumItems)
		}
	}
	dst := make([]float32, len(nodes)*d)
	fn := m.nbrFn
	if fn == nil {
		fn = model.GraphNeighbors(m.info.Graph, m.info.NumUsers)
	}
	for lo := 0; lo < len(nodes); lo += embedChunk {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		hi := min(lo+embedChunk, len(nodes))
		layers, idx, w := model.Hops(nodes[lo:hi], m.k, m.embedT, fn)
		var feat []float32
		if m.useFeat {
			feat = model.NodeFeatures(m.info, layers[m.k])
		}
		if m.net != nil {
			z := m.embedNet(layers, idx, w, feat)
			copy(dst[lo*d:hi*d], z[:(hi-lo)*d])
			continue
		}
		sizes := make([]int, m.k+1)
		for k := range sizes {
			sizes[k] = bucket(len(layers[k]))
		}
		mc, err := m.machineFor(sizes, m.embedT, false)
		if err != nil {
			return nil, 0, err
		}
		m.fill(mc, layers, idx, w, feat)
		mc.vm.Reset()
		if err := mc.vm.RunAll(); err != nil {
			return nil, 0, fmt.Errorf("%s: embed nodes %d..%d of %d: %w", m.name, lo, hi, len(nodes), err)
		}
		z := mc.out.Value().Data().([]float32)
		copy(dst[lo*d:hi*d], z[:(hi-lo)*d])
	}
	if m.cfg.Normalize {
		embedcore.NormalizeRows(dst, d)
	}
	return dst, d, nil
}

// EmbedChunk is the number of nodes Embed convolves at once (its chunks
// start at multiples of it); see EmbedNodes.
func (m *convModel) EmbedChunk() int { return embedChunk }
