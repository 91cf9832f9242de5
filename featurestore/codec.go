package featurestore

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/klauspost/compress/zstd"

	"github.com/trainerd/trainerd/dataset"
)

// Key kinds (first key byte); see the package doc.
const (
	kindSchema      = 's'
	kindIDs         = 'n'
	kindReverse     = 'r'
	kindFeature     = 'f'
	kindInteraction = 'i'
	kindAdjacency   = 'a'
)

var (
	keyFormat = []byte("\x00format")
	keyMeta   = []byte("\x00meta")
)

const (
	codecRaw  = 0
	codecZstd = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func key2(kind byte, t byte) []byte { return []byte{kind, t} }

func key2N(kind byte, t byte, n uint32) []byte {
	k := make([]byte, 6)
	k[0], k[1] = kind, t
	binary.BigEndian.PutUint32(k[2:], n)
	return k
}

func reverseKey(t dataset.NodeType, external string) []byte {
	k := make([]byte, 2+len(external))
	k[0], k[1] = kindReverse, byte(t)
	copy(k[2:], external)
	return k
}

// sealBlock wraps raw in the block codec, compressing with enc when that
// saves space.
func sealBlock(enc *zstd.Encoder, raw []byte) []byte {
	hdr := make([]byte, 0, 1+binary.MaxVarintLen64+4)
	sum := crc32.Checksum(raw, castagnoli)
	body := raw
	codec := byte(codecRaw)
	if enc != nil && len(raw) > 64 {
		if c := enc.EncodeAll(raw, nil); len(c) < len(raw) {
			body, codec = c, codecZstd
		}
	}
	hdr = append(hdr, codec)
	hdr = binary.AppendUvarint(hdr, uint64(len(raw)))
	hdr = binary.LittleEndian.AppendUint32(hdr, sum)
	out := make([]byte, 0, len(hdr)+len(body))
	return append(append(out, hdr...), body...)
}

// openBlock decodes a block value; key names the block in errors.
func openBlock(dec *zstd.Decoder, key []byte, v []byte) ([]byte, error) {
	if len(v) < 1 {
		return nil, fmt.Errorf("%w: block %q: empty value", ErrCorrupt, key)
	}
	codec := v[0]
	n, w := binary.Uvarint(v[1:])
	if w <= 0 || len(v) < 1+w+4 || n > 1<<31 {
		return nil, fmt.Errorf("%w: block %q: bad header", ErrCorrupt, key)
	}
	sum := binary.LittleEndian.Uint32(v[1+w:])
	body := v[1+w+4:]
	var raw []byte
	switch codec {
	case codecRaw:
		raw = append([]byte(nil), body...)
	case codecZstd:
		var err error
		raw, err = dec.DecodeAll(body, make([]byte, 0, n))
		if err != nil {
			return nil, fmt.Errorf("%w: block %q: zstd: %v", ErrCorrupt, key, err)
		}
	default:
		return nil, fmt.Errorf("%w: block %q: unknown codec %d", ErrCorrupt, key, codec)
	}
	if uint64(len(raw)) != n || crc32.Checksum(raw, castagnoli) != sum {
		return nil, fmt.Errorf("%w: block %q: length or checksum mismatch", ErrCorrupt, key)
	}
	return raw, nil
}

// reader walks a decoded block, remembering the first error.
type reader struct {
	b   []byte
	err error
	key []byte
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: block %q: truncated %s", ErrCorrupt, r.key, what)
	}
}

func (r *reader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, w := binary.Uvarint(r.b)
	if w <= 0 {
		r.fail(what)
		return 0
	}
	r.b = r.b[w:]
	return v
}

func (r *reader) varint(what string) int64 {
	if r.err != nil {
		return 0
	}
	v, w := binary.Varint(r.b)
	if w <= 0 {
		r.fail(what)
		return 0
	}
	r.b = r.b[w:]
	return v
}

func (r *reader) bytes(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b) < n {
		r.fail(what)
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

// encodeIDs packs external ids as uvarint length + bytes.
func encodeIDs(ids []string) []byte {
	n := 0
	for _, s := range ids {
		n += len(s) + 2
	}
	b := make([]byte, 0, n)
	for _, s := range ids {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

func decodeIDs(key, raw []byte, n int, dst []string) ([]string, error) {
	r := reader{b: raw, key: key}
	for i := 0; i < n; i++ {
		l := r.uvarint("id length")
		s := r.bytes(int(l), "id")
		if r.err != nil {
			return nil, r.err
		}
		dst = append(dst, string(s))
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: block %q: %d trailing bytes", ErrCorrupt, key, len(r.b))
	}
	return dst, nil
}

// encodeInteractions writes es column by column (see the package doc).
func encodeInteractions(es []dataset.Interaction) []byte {
	b := make([]byte, 0, len(es)*4+16)
	b = binary.AppendUvarint(b, uint64(len(es)))
	prev := int64(0)
	for _, e := range es {
		b = binary.AppendVarint(b, int64(e.User)-prev)
		prev = int64(e.User)
	}
	prev = 0
	for _, e := range es {
		b = binary.AppendVarint(b, int64(e.Item)-prev)
		prev = int64(e.Item)
	}
	allOne := true
	for _, e := range es {
		if e.Weight != 1 {
			allOne = false
			break
		}
	}
	if allOne {
		b = append(b, 1)
	} else {
		b = append(b, 0)
		for _, e := range es {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(e.Weight))
		}
	}
	prev = 0
	for _, e := range es {
		b = binary.AppendVarint(b, e.Time-prev)
		prev = e.Time
	}
	return b
}

func decodeInteractions(key, raw []byte, nu, ni uint32, dst []dataset.Interaction) ([]dataset.Interaction, error) {
	r := reader{b: raw, key: key}
	n := int(r.uvarint("count"))
	if r.err != nil || n > len(raw) {
		return nil, fmt.Errorf("%w: block %q: bad interaction count", ErrCorrupt, key)
	}
	base := len(dst)
	dst = append(dst, make([]dataset.Interaction, n)...)
	es := dst[base:]
	prev := int64(0)
	for i := range es {
		prev += r.varint("user")
		if prev < 0 || prev >= int64(nu) {
			return nil, fmt.Errorf("%w: block %q: interaction %d user %d out of range", ErrCorrupt, key, i, prev)
		}
		es[i].User = uint32(prev)
	}
	prev = 0
	for i := range es {
		prev += r.varint("item")
		if prev < 0 || prev >= int64(ni) {
			return nil, fmt.Errorf("%w: block %q: interaction %d item %d out of range", ErrCorrupt, key, i, prev)
		}
		es[i].Item = uint32(prev)
	}
	flag := r.bytes(1, "weight flag")
	if r.err != nil {
		return nil, r.err
	}
	if flag[0] == 1 {
		for i := range es {
			es[i].Weight = 1
		}
	} else {
		w := r.bytes(4*n, "weights")
		if r.err != nil {
			return nil, r.err
		}
		for i := range es {
			es[i].Weight = math.Float32frombits(binary.LittleEndian.Uint32(w[4*i:]))
		}
	}
	prev = 0
	for i := range es {
		prev += r.varint("time")
		es[i].Time = prev
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: block %q: %d trailing bytes", ErrCorrupt, key, len(r.b))
	}
	return dst, nil
}

// encodeAdjacency packs rows [lo,hi) of a CSR (degrees, then delta rows).
func encodeAdjacency(ptr, adj []uint32, lo, hi int) []byte {
	b := make([]byte, 0, (hi-lo)*2+int(ptr[hi]-ptr[lo])*2)
	for r := lo; r < hi; r++ {
		b = binary.AppendUvarint(b, uint64(ptr[r+1]-ptr[r]))
	}
	for r := lo; r < hi; r++ {
		prev := uint32(0)
		for j, v := range adj[ptr[r]:ptr[r+1]] {
			if j == 0 {
				b = binary.AppendUvarint(b, uint64(v))
			} else {
				b = binary.AppendUvarint(b, uint64(v-prev))
			}
			prev = v
		}
	}
	return b
}

// decodeAdjacency fills ptr[lo+1..hi] (ptr[lo] must be set) and appends the
// rows to adj. Neighbours must be < limit and strictly ascending.
func decodeAdjacency(key, raw []byte, lo, hi int, limit uint32, ptr []uint32, adj []uint32) ([]uint32, error) {
	r := reader{b: raw, key: key}
	for i := lo; i < hi; i++ {
		d := r.uvarint("degree")
		ptr[i+1] = ptr[i] + uint32(d)
	}
	if r.err != nil {
		return nil, r.err
	}
	for i := lo; i < hi; i++ {
		deg := ptr[i+1] - ptr[i]
		prev := uint64(0)
		for j := uint32(0); j < deg; j++ {
			d := r.uvarint("neighbour")
			if j > 0 && d == 0 {
				return nil, fmt.Errorf("%w: block %q: row %d not strictly ascending", ErrCorrupt, key, i)
			}
			prev += d
			if prev >= uint64(limit) {
				return nil, fmt.Errorf("%w: block %q: row %d neighbour %d out of range", ErrCorrupt, key, i, prev)
			}
			adj = append(adj, uint32(prev))
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: block %q: %d trailing bytes", ErrCorrupt, key, len(r.b))
	}
	return adj, nil
}

// encodeFloats returns v as little-endian float32 bytes.
func encodeFloats(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

// decodeFloats fills dst from little-endian float32 bytes; len(b) must be 4*len(dst).
func decodeFloats(dst []float32, b []byte) {
	if len(dst) == 0 {
		return
	}
	_ = b[4*len(dst)-1]
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
}
