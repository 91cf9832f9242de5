package ingest

import (
	"slices"
	"strconv"

	"github.com/trainerd/trainerd/dataset"
)

// denseLimit bounds the direct-lookup table of numIDs: external ids below it
// are looked up in a slice, larger ones in a map.
const denseLimit = 1 << 22

// numIDs maps integer external ids to provisional dense ids in order of first
// appearance; finish renumbers them in ascending external order.
type numIDs struct {
	direct []uint32 // external id → provisional id + 1; 0 = absent
	sparse map[uint32]uint32
	ext    []uint32 // provisional id → external id
}

// id returns the provisional dense id of external id v, adding it if new.
func (m *numIDs) id(v uint32) uint32 {
	if v < denseLimit {
		if int(v) >= len(m.direct) {
			n := max(2*len(m.direct), int(v)+1, 1024)
			m.direct = slices.Grow(m.direct, min(n, denseLimit)-len(m.direct))[:min(n, denseLimit)]
		}
		if d := m.direct[v]; d != 0 {
			return d - 1
		}
		d := uint32(len(m.ext))
		m.direct[v] = d + 1
		m.ext = append(m.ext, v)
		return d
	}
	if d, ok := m.sparse[v]; ok {
		return d
	}
	if m.sparse == nil {
		m.sparse = make(map[uint32]uint32)
	}
	d := uint32(len(m.ext))
	m.sparse[v] = d
	m.ext = append(m.ext, v)
	return d
}

// lookup returns the provisional id of v and whether it exists.
func (m *numIDs) lookup(v uint32) (uint32, bool) {
	if v < denseLimit {
		if int(v) < len(m.direct) && m.direct[v] != 0 {
			return m.direct[v] - 1, true
		}
		return 0, false
	}
	d, ok := m.sparse[v]
	return d, ok
}

// len is the number of distinct ids seen.
func (m *numIDs) len() int { return len(m.ext) }

// finish sorts the ids by external value and returns remap (provisional →
// final dense id) and the external ids as strings in final order.
func (m *numIDs) finish() (remap []uint32, ext []string) {
	order := make([]uint32, len(m.ext)) // final → provisional
	for i := range order {
		order[i] = uint32(i)
	}
	slices.SortFunc(order, func(a, b uint32) int {
		va, vb := m.ext[a], m.ext[b]
		switch {
		case va < vb:
			return -1
		case va > vb:
			return 1
		}
		return 0
	})
	remap = make([]uint32, len(m.ext))
	ext = make([]string, len(m.ext))
	for final, prov := range order {
		remap[prov] = uint32(final)
		ext[final] = strconv.FormatUint(uint64(m.ext[prov]), 10)
	}
	return remap, ext
}

// renumber rewrites the user and item ids of es through the remap tables.
func renumber(es []dataset.Interaction, users, items []uint32) {
	for i := range es {
		es[i].User = users[es[i].User]
		es[i].Item = items[es[i].Item]
	}
}

// strIDs maps opaque string external ids to dense ids in order of first
// appearance.
type strIDs struct {
	idx map[string]uint32
	ext []string
}

func newStrIDs() *strIDs { return &strIDs{idx: make(map[string]uint32)} }

// id returns the dense id of s, adding it if new.
func (m *strIDs) id(s string) uint32 {
	if d, ok := m.idx[s]; ok {
		return d
	}
	d := uint32(len(m.ext))
	m.idx[s] = d
	m.ext = append(m.ext, s)
	return d
}

// lookup returns the dense id of s and whether it exists.
func (m *strIDs) lookup(s string) (uint32, bool) {
	d, ok := m.idx[s]
	return d, ok
}
