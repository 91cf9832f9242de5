package producer

import "math"

// alias is Vose's alias table: O(1) draws from a fixed discrete
// distribution, used for the ∝ degree^0.75 negative pool.
type alias struct {
	prob  []uint32 // acceptance threshold of slot i, scaled to 2^32
	alias []uint32
}

// newAlias builds the table for weights w (not all zero, none negative).
func newAlias(w []float64) *alias {
	n := len(w)
	a := &alias{prob: make([]uint32, n), alias: make([]uint32, n)}
	sum := 0.0
	for _, x := range w {
		sum += x
	}
	p := make([]float64, n)
	small := make([]uint32, 0, n)
	large := make([]uint32, 0, n)
	for i, x := range w {
		p[i] = x * float64(n) / sum
		if p[i] < 1 {
			small = append(small, uint32(i))
		} else {
			large = append(large, uint32(i))
		}
	}
	for len(small) > 0 && len(large) > 0 {
		s, l := small[len(small)-1], large[len(large)-1]
		small = small[:len(small)-1]
		a.prob[s] = scaleProb(p[s])
		a.alias[s] = l
		p[l] -= 1 - p[s]
		if p[l] < 1 {
			large = large[:len(large)-1]
			small = append(small, l)
		}
	}
	for _, i := range large {
		a.prob[i], a.alias[i] = math.MaxUint32, i
	}
	for _, i := range small { // numerical leftovers
		a.prob[i], a.alias[i] = math.MaxUint32, i
	}
	return a
}

func scaleProb(p float64) uint32 {
	if p >= 1 {
		return math.MaxUint32
	}
	return uint32(p * (1 << 32))
}

// sample draws one index.
func (a *alias) sample(r *rng) uint32 {
	x := r.next()
	i := uint32((x & 0xffffffff) * uint64(len(a.prob)) >> 32)
	if uint32(x>>32) < a.prob[i] {
		return i
	}
	return a.alias[i]
}
