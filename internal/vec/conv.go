package vec

import "github.com/trainerd/trainerd/internal/cpufeat"

// HasConvAVX2 reports whether the conv network's AVX2 kernels
// (ReluGradColSumAVX2, AddBiasAVX2, NormRowsAVX2, NormBackAVX2) may run on
// this CPU: they need AVX2 (with the operating system's support for the YMM
// state).
func HasConvAVX2() bool { return cpufeat.Has(cpufeat.AVX2) }

// HasGather128AVX512 reports whether Gather128AVX512 may run on this CPU:
// it needs AVX-512F (with the operating system's support for the ZMM state).
func HasGather128AVX512() bool { return cpufeat.Has(cpufeat.AVX512F) }

// HasReluMaskAVX512 reports whether the ReLU mask kernels (ReluMaskAVX512,
// ReluGradColSumMaskAVX512) may run on this CPU: they need AVX-512F and
// AVX-512DQ (with the operating system's support for the ZMM and mask
// state).
func HasReluMaskAVX512() bool { return cpufeat.Has(cpufeat.AVX512F, cpufeat.AVX512DQ) }

// HasGatherIDRows64 reports whether GatherIDRows64 may run on this CPU: it
// needs AVX (with the operating system's support for the YMM state).
func HasGatherIDRows64() bool { return cpufeat.Has(cpufeat.AVX) }
