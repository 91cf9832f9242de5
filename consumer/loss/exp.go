package loss

import "math"

// Fast float32 elementary functions for the per-score work of a step (a
// softmax step with B=2048 and P=2048 evaluates about 8.4M exponentials).
// They are small enough to be inlined into the unrolled kernels.

const (
	log2e = 1.44269504088896341
	// ln 2 = ln2hi + ln2lo; ln2hi has 9 significant bits, so k·ln2hi is
	// exact for |k| < 2^15 and the reduction loses nothing.
	ln2hi = 0.693359375
	ln2lo = -2.12194440e-4
	// roundMagic is 1.5·2^23: t + roundMagic rounds t to the nearest integer
	// k (|t| < 2^22), whose value then sits in the low mantissa bits.
	roundMagic = 12582912
	// Degree-5 polynomial 1 + r(e1 + r(e2 + r(e3 + r(e4 + r·e5)))) fitted
	// to e^r on [-ln2/2, ln2/2] for minimax relative error (9.2e-8 in exact
	// arithmetic; about 2e-7 after float32 rounding). p(0) = 1 exactly.
	e1 = 0.999999702
	e2 = 0.499991506
	e3 = 0.166676357
	e4 = 0.0418979302
	e5 = 0.00829031505
	// expMin: below it e^x is under float32's smallest normal, returned as 0.
	expMin = -87
)

// expf returns e^x for x ≤ 88 (larger x overflows; NaN is not handled),
// with relative error < 3e-7, and 0 below -87 (also for -Inf).
func expf(x float32) float32 {
	if x < expMin {
		return 0
	}
	return expRaw(x)
}

// expRaw is expf for x in [-87, 88] (outside it the result is garbage), small
// enough for the inliner, so hot loops clamp x themselves and call it:
// range reduction x = k·ln2 + r with k = round(x·log2 e) by the magic-number
// trick (no math.Floor, no int conversion, no branch), a degree-5 polynomial
// in r, and 2^k added into the exponent bits.
func expRaw(x float32) float32 {
	f := x*log2e + roundMagic
	kf := f - roundMagic
	r := x - kf*ln2hi - kf*ln2lo
	p := 1 + r*(e1+r*(e2+r*(e3+r*(e4+r*e5))))
	// f's bits are 0x4B400000 + k, and 0x4B400000<<23 wraps to 0.
	return math.Float32frombits(math.Float32bits(p) + math.Float32bits(f)<<23)
}

// absf is |x|.
func absf(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

// softplusSigmoid returns softplus(y) = log(1+e^y) and sigmoid(y) =
// 1/(1+e^-y) without branches on the sign of y: with e = e^-|y|,
// softplus(y) = max(y,0) + log1p(e) and sigmoid(y) = 1/(1+e) for y ≥ 0,
// e/(1+e) otherwise (chosen by a bit mask). log1p(e), e ∈ [0,1], is
// 2·atanh(u) with u = e/(2+e) ≤ 1/3, by its odd series to u^11 (absolute
// error < 1e-7). A very negative y (the masked-score sentinel) gives
// exactly (0, 0).
func softplusSigmoid(y float32) (float32, float32) {
	a := absf(y)
	e := expf(-a)
	d := 1 / (1 + e)
	u := e / (2 + e)
	u2 := u * u
	lp := 2 * u * (1 + u2*(1.0/3+u2*(1.0/5+u2*(1.0/7+u2*(1.0/9+u2*(1.0/11))))))
	neg := uint32(int32(math.Float32bits(y)) >> 31) // all ones when y < 0
	sig := math.Float32frombits(math.Float32bits(d)&^neg | math.Float32bits(e*d)&neg)
	return (a+y)*0.5 + lp, sig
}
