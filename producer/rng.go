package producer

import "math/bits"

// Randomness is counter-based: every stream is seeded by hashing the
// coordinates it belongs to (seed, epoch, batch or example, node, purpose),
// so no result depends on which goroutine computed it or in which order.

// Purpose tags keep the streams of different uses apart.
const (
	tagNeighbors uint64 = iota + 1
	tagPPR
	tagPool
	tagHard
	tagExample
	tagWalkPair
	tagPerm
	tagDrop
)

// mix is the splitmix64 finalizer, a bijective 64-bit hash.
func mix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// streamKey hashes the coordinates of one random stream.
func streamKey(seed, tag, a, b, c uint64) uint64 {
	h := mix(seed ^ 0x9e3779b97f4a7c15)
	h = mix(h ^ tag)
	h = mix(h + a*0x9e3779b97f4a7c15)
	h = mix(h ^ b)
	return mix(h + c*0xd1b54a32d192ed03)
}

// rng is wyrand: one add and one 64×64→128 multiply per number.
type rng struct{ s uint64 }

func newRNG(key uint64) rng { return rng{s: key} }

// next returns 64 random bits.
func (r *rng) next() uint64 {
	r.s += 0xa0761d6478bd642f
	hi, lo := bits.Mul64(r.s, r.s^0xe7037ed1a0b428db)
	return hi ^ lo
}

// intn returns a number in [0,n) (Lemire's multiply-shift on 32 bits; the
// bias, below n/2^32, is negligible for graph degrees).
func (r *rng) intn(n uint32) uint32 {
	return uint32((r.next() & 0xffffffff) * uint64(n) >> 32)
}

// float64 returns a number in [0,1).
func (r *rng) float64() float64 { return float64(r.next()>>11) / (1 << 53) }

// permutation is a keyed bijection of [0,n): a 4-round Feistel network on
// the smallest even-bit power of two ≥ n, with cycle walking. It shuffles an
// epoch without storing the shuffle, so any batch can be built directly.
type permutation struct {
	n    uint64
	half uint   // bits per Feistel half
	mask uint64 // (1<<half)-1
	keys [4]uint64
}

func newPermutation(n uint64, key uint64) permutation {
	p := permutation{n: n}
	b := uint(bits.Len64(n - 1))
	if n <= 1 {
		b = 0
	}
	if b%2 == 1 {
		b++
	}
	if b < 2 {
		b = 2
	}
	p.half = b / 2
	p.mask = 1<<p.half - 1
	for i := range p.keys {
		p.keys[i] = mix(key + uint64(i+1)*0x9e3779b97f4a7c15)
	}
	return p
}

// at returns the image of x (x < n).
func (p *permutation) at(x uint64) uint64 {
	if p.n <= 1 {
		return x
	}
	for {
		l, r := x>>p.half, x&p.mask
		for _, k := range p.keys {
			l, r = r, l^(mix(r^k)&p.mask)
		}
		x = l<<p.half | r
		if x < p.n {
			return x
		}
	}
}
