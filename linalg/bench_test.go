package linalg

import (
	"slices"
	"testing"
	"time"
)

// gemmShape is one GEMM trainerd runs: op(A) m×k times op(B) k×n.
type gemmShape struct {
	name    string
	tA, tB  bool
	m, n, k int
}

// shippedShapes are the GEMMs of the shipped configs: score blocks of the
// sampled-softmax loss (block rows × dim against pool + in-batch items),
// its two gradient products, PinSage's convolution layers, and a serve query
// (one matrix-vector product over every item).
func shippedShapes() []gemmShape {
	return []gemmShape{
		{"scores_512x64.64x2548", false, true, 512, 2548, 64},
		{"scores_2048x64.64x2548", false, true, 2048, 2548, 64},
		{"dense_512x256.256x256", false, false, 512, 256, 256},
		{"dense_10240x256.256x256", false, false, 10240, 256, 256},
		{"lightgcn_scores_256x64.64x10240", false, true, 256, 10240, 64},
		{"lightgcn_gradq_256x10240.10240x64", false, false, 256, 64, 10240},
		{"lightgcn_gradx_T10240x256.256x64", true, false, 10240, 64, 256},
		{"pinsage_scores_256x64.64x1012", false, true, 256, 1012, 64},
		{"pinsage_Q_5632x64.64x128", false, false, 5632, 128, 64},
		{"pinsage_W_5632x192.192x64", false, false, 5632, 64, 192},
		{"serve_40981x64.64x1", false, false, 40981, 1, 64},
		{"tiny_8x8.8x8", false, false, 8, 8, 8},
	}
}

// BenchmarkGEMM runs every shipped shape on gonum and on OpenBLAS. When the
// binary has both OpenBLAS paths (build tag cblas), the "purego-vs-cgo"
// sub-benchmark calls them alternately, call by call, and reports each
// one's median and fastest call and the median of the per-pair ratios: on a
// shared machine, load that comes and goes then falls on both sides alike.
// OpenBLAS runs one thread per call, as trainerd sets it; gonum splits large
// products over GOMAXPROCS goroutines. linalg/bench-gemm.sh runs it.
func BenchmarkGEMM(b *testing.B) {
	var pure, linked, gon *BLAS
	for _, be := range backends(b) {
		be.SetThreads(1)
		switch be.Name() {
		case "openblas":
			pure = be
		case "openblas-cgo":
			linked = be
		default:
			gon = be
		}
	}
	for _, s := range shippedShapes() {
		ar, ac := s.m, s.k
		if s.tA {
			ar, ac = s.k, s.m
		}
		br, bc := s.k, s.n
		if s.tB {
			br, bc = s.n, s.k
		}
		x, y, z := make([]float32, ar*ac), make([]float32, br*bc), make([]float32, s.m*s.n)
		for i := range x {
			x[i] = float32(i%7)*0.25 - 0.5
		}
		for i := range y {
			y[i] = float32(i%5)*0.25 - 0.5
		}
		call := func(be *BLAS) { be.Sgemm(s.tA, s.tB, s.m, s.n, s.k, 1, x, ac, y, bc, 0, z, s.n) }
		flops := float64(2 * s.m * s.n * s.k)
		b.Run(s.name+"/gonum", func(b *testing.B) {
			for b.Loop() {
				call(gon)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		if pure == nil || linked == nil {
			for _, be := range []*BLAS{pure, linked} {
				if be == nil {
					continue
				}
				b.Run(s.name+"/"+be.Name(), func(b *testing.B) {
					for b.Loop() {
						call(be)
					}
					b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
			continue
		}
		b.Run(s.name+"/purego-vs-cgo", func(b *testing.B) {
			var tp, tc, ratio []float64
			timed := func(be *BLAS) float64 {
				t0 := time.Now()
				call(be)
				return float64(time.Since(t0).Nanoseconds())
			}
			i := 0
			for b.Loop() {
				var p, c float64
				if i%2 == 0 { // alternate which goes first
					p, c = timed(pure), timed(linked)
				} else {
					c, p = timed(linked), timed(pure)
				}
				i++
				tp, tc, ratio = append(tp, p), append(tc, c), append(ratio, p/c)
			}
			b.ReportMetric(median(tp)/1e6, "purego-ms")
			b.ReportMetric(median(tc)/1e6, "cgo-ms")
			b.ReportMetric(slices.Min(tp)/1e6, "purego-min-ms")
			b.ReportMetric(slices.Min(tc)/1e6, "cgo-min-ms")
			b.ReportMetric(median(ratio), "purego/cgo")
		})
	}
}

func median(x []float64) float64 {
	y := slices.Clone(x)
	slices.Sort(y)
	if n := len(y); n%2 == 1 {
		return y[n/2]
	} else {
		return (y[n/2-1] + y[n/2]) / 2
	}
}
