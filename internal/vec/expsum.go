package vec

import "github.com/trainerd/trainerd/internal/cpufeat"

// HasExpSumAVX2 reports whether ExpSumAVX2 may run on this CPU: it needs
// AVX2 (with the operating system's support for the YMM state).
func HasExpSumAVX2() bool { return cpufeat.Has(cpufeat.AVX2) }
