package vec

import "github.com/trainerd/trainerd/internal/cpufeat"

// AdamConsts are one row's Adam update constants, laid out (six float32s in
// this order) as AdamRowAVX reads them.
type AdamConsts struct {
	// B1 is the first moment's decay β1 and OneMinusB1 is 1−β1.
	B1, OneMinusB1 float32
	// B2 is the second moment's decay β2 and OneMinusB2 is 1−β2.
	B2, OneMinusB2 float32
	// Step is the learning rate with the bias corrections folded in.
	Step float32
	// Eps is ε with the second moment's bias correction folded in.
	Eps float32
}

// HasAdamAVX reports whether AdamRowAVX may run on this CPU: it needs AVX
// (with the operating system's support for the YMM state).
func HasAdamAVX() bool { return cpufeat.Has(cpufeat.AVX) }
