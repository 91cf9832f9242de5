//go:build !purego

package cpufeat

import "golang.org/x/sys/cpu"

// has reads the features golang.org/x/sys/cpu detected at start-up.
func has(f Feature) bool {
	switch f {
	case AVX:
		return cpu.X86.HasAVX
	case AVX2:
		return cpu.X86.HasAVX2
	case AVX512F:
		return cpu.X86.HasAVX512F
	case AVX512DQ:
		return cpu.X86.HasAVX512DQ
	}
	return false
}
