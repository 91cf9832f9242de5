// Package cpufeat is the one place that decides which SIMD instruction
// sets trainerd's assembly kernels may use. golang.org/x/sys/cpu detects
// the CPU's features (and the operating system's support for their
// register state) once at start-up. internal/vec, the one package with
// assembly, asks Has for each kernel's availability; its callers run a
// kernel only when it may run and otherwise run their Go loop, which gives
// the same bits.
package cpufeat

// Feature is an instruction-set extension a kernel needs.
type Feature uint8

// The features the kernels use. Each includes the operating system's
// support for the wider register state (YMM for AVX and AVX2, ZMM and the
// mask registers for AVX-512).
const (
	// AVX is 256-bit float arithmetic.
	AVX Feature = iota + 1
	// AVX2 is 256-bit integer arithmetic and gathers.
	AVX2
	// AVX512F is the AVX-512 foundation: 512-bit registers.
	AVX512F
	// AVX512DQ is AVX-512's doubleword/quadword instructions (mask moves
	// such as KMOVW's wider forms and VPMOVD2M).
	AVX512DQ
)

// String names the feature as the CPU manuals do.
func (f Feature) String() string {
	switch f {
	case AVX:
		return "AVX"
	case AVX2:
		return "AVX2"
	case AVX512F:
		return "AVX-512F"
	case AVX512DQ:
		return "AVX-512DQ"
	}
	return "unknown feature"
}

// Has reports whether the kernels needing every one of fs may run here: on
// amd64 whether the CPU and operating system support them, elsewhere (or
// with the purego build tag, which leaves the assembly out) never.
func Has(fs ...Feature) bool {
	for _, f := range fs {
		if !has(f) {
			return false
		}
	}
	return true
}
