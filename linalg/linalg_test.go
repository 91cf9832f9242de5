package linalg

import (
	"bytes"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// backends is every backend this test binary can run: gonum, OpenBLAS
// through purego when a library opens, and the cgo-linked OpenBLAS under
// the build tag cblas.
func backends(t testing.TB) []*BLAS {
	bs := []*BLAS{Gonum()}
	if b := openAny(); b != nil {
		bs = append(bs, b)
	} else {
		t.Logf("no OpenBLAS library opens (%v): only gonum is checked", Libraries())
	}
	if b, ok := Linked(); ok {
		bs = append(bs, b)
	}
	return bs
}

// openAny opens the first of Libraries that opens, nil when none does.
func openAny() *BLAS {
	for _, lib := range Libraries() {
		if b, err := Open(lib); err == nil {
			return b
		}
	}
	return nil
}

// naive is the float64 reference GEMM; mag gets Σ|alpha·a·b| + |beta·c|
// per element, the scale of the rounding error a float32 GEMM may make.
func naive(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c, mag []float64, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s, sa float64
			for p := 0; p < k; p++ {
				var av, bv float64
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += av * bv
				sa += math.Abs(av * bv)
			}
			mag[i*ldc+j] = math.Abs(alpha)*sa + math.Abs(beta*c[i*ldc+j])
			c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
		}
	}
}

type gemmCase struct {
	m, n, k     int
	pad         int // extra columns in every leading dimension
	alpha, beta float64
}

func gemmCases() []gemmCase {
	var cs []gemmCase
	for _, s := range []struct{ m, n, k, pad int }{
		{1, 1, 1, 0}, {3, 4, 5, 0}, {7, 2, 9, 1}, {17, 33, 65, 3}, {64, 1, 129, 0}, {1, 300, 5, 2},
		{31, 37, 0, 0}, {130, 67, 257, 5},
	} {
		for _, ab := range [][2]float64{{1, 0}, {1.5, 0.5}, {-0.25, 1}, {0, 2}} {
			cs = append(cs, gemmCase{s.m, s.n, s.k, s.pad, ab[0], ab[1]})
		}
	}
	return cs
}

// operands builds op(A) m×k, op(B) k×n and C m×n stored with the
// transposes and padding asked for, random in [-1, 1).
func operands(r *rand.Rand, tA, tB bool, tc gemmCase) (a, b, c []float64, lda, ldb, ldc int) {
	ar, ac := tc.m, tc.k
	if tA {
		ar, ac = tc.k, tc.m
	}
	br, bc := tc.k, tc.n
	if tB {
		br, bc = tc.n, tc.k
	}
	lda, ldb, ldc = max(ac, 1)+tc.pad, max(bc, 1)+tc.pad, tc.n+tc.pad
	fill := func(rows, ld int) []float64 {
		x := make([]float64, max(rows*ld, 0))
		for i := range x {
			x[i] = r.Float64()*2 - 1
		}
		return x
	}
	return fill(ar, lda), fill(br, ldb), fill(tc.m, ldc), lda, ldb, ldc
}

func f32(x []float64) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = float32(v)
	}
	return y
}

func widen(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

// TestSgemmBackendsAgree checks every backend against a float64 reference on
// all four transposes, odd shapes, k = 0, padded leading dimensions and
// several alpha/beta pairs, within float32 rounding. Padding between rows
// must come back untouched.
func TestSgemmBackendsAgree(t *testing.T) {
	bs := backends(t)
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range gemmCases() {
		for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
			tA, tB := tr[0], tr[1]
			a64, b64, c64, lda, ldb, ldc := operands(r, tA, tB, tc)
			// Round inputs to float32 first so the reference sees what the backends see.
			a, b, c0 := f32(a64), f32(b64), f32(c64)
			want, mag := widen(c0), make([]float64, len(c0))
			naive(tA, tB, tc.m, tc.n, tc.k, tc.alpha, widen(a), lda, widen(b), ldb, tc.beta, want, mag, ldc)
			for _, be := range bs {
				name := fmt.Sprintf("%s/tA=%v,tB=%v/%+v", be.Name(), tA, tB, tc)
				c := append([]float32(nil), c0...)
				be.Sgemm(tA, tB, tc.m, tc.n, tc.k, float32(tc.alpha), a, lda, b, ldb, float32(tc.beta), c, ldc)
				for i := range c {
					if i%ldc >= tc.n {
						if c[i] != c0[i] {
							t.Fatalf("%s: padding c[%d] changed from %v to %v", name, i, c0[i], c[i])
						}
						continue
					}
					tol := float64(tc.k+2)*1.2e-7*mag[i] + 1e-7
					if d := math.Abs(float64(c[i]) - want[i]); d > tol || math.IsNaN(float64(c[i])) {
						t.Fatalf("%s: c[%d] = %v, want %v (|diff| %.3g > tol %.3g)", name, i, c[i], want[i], d, tol)
					}
				}
			}
		}
	}
}

// TestDgemmBackendsAgree is TestSgemmBackendsAgree in double precision
// (gorgonia reaches Dgemm through Implementation).
func TestDgemmBackendsAgree(t *testing.T) {
	bs := backends(t)
	r := rand.New(rand.NewPCG(3, 4))
	for _, tc := range gemmCases() {
		for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
			tA, tB := tr[0], tr[1]
			a, b, c0, lda, ldb, ldc := operands(r, tA, tB, tc)
			want, mag := append([]float64(nil), c0...), make([]float64, len(c0))
			naive(tA, tB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, want, mag, ldc)
			for _, be := range bs {
				c := append([]float64(nil), c0...)
				be.Dgemm(tA, tB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
				for i := range c {
					tol := float64(tc.k+2)*2.3e-16*mag[i] + 1e-15
					if d := math.Abs(c[i] - want[i]); d > tol || math.IsNaN(c[i]) {
						t.Fatalf("%s/tA=%v,tB=%v/%+v: c[%d] = %v, want %v", be.Name(), tA, tB, tc, i, c[i], want[i])
					}
				}
			}
		}
	}
}

// TestPackageSgemm checks the package-level entry points and the gorgonia
// adapter run on the default backend and compute the product.
func TestPackageSgemm(t *testing.T) {
	a := []float32{1, 2, 3, 4, 5, 6} // 2×3
	b := []float32{1, 0, 0, 1, 1, 1} // 3×2
	want := []float32{4, 5, 10, 11}  // a·b
	c := make([]float32, 4)
	Sgemm(false, false, 2, 2, 3, 1, a, 3, b, 2, 0, c, 2)
	for i := range c {
		if c[i] != want[i] {
			t.Fatalf("Sgemm on %s: c = %v, want %v", Backend(), c, want)
		}
	}
	d := make([]float64, 4)
	Implementation{}.Dgemm('N', 'N', 2, 2, 3, 1, widen(a), 3, widen(b), 2, 0, d, 2)
	for i := range d {
		if d[i] != float64(want[i]) {
			t.Fatalf("Implementation.Dgemm on %s: c = %v, want %v", Backend(), d, want)
		}
	}
}

func TestSgemmShapePanics(t *testing.T) {
	for _, be := range backends(t) {
		func() {
			defer func() {
				if recover() == nil {
					t.Fatalf("%s: want panic on short buffer", be.Name())
				}
			}()
			be.Sgemm(false, false, 2, 2, 2, 1, make([]float32, 3), 2, make([]float32, 4), 2, 0, make([]float32, 4), 2)
		}()
	}
}

// TestSelect checks the choice for each TRAINERD_BLAS setting and the log
// line that goes with it.
func TestSelect(t *testing.T) {
	if onlyGonum {
		for _, setting := range []string{"", "auto", "gonum", "cblas", "libopenblas.so.0"} {
			var buf bytes.Buffer
			b := Select(setting, slog.New(slog.NewTextHandler(&buf, nil)))
			if b.Name() != "gonum" || strings.Count(buf.String(), "noopenblas") != 1 {
				t.Errorf("tag noopenblas: Select(%q) = %s, logged %q; want gonum and one line naming the tag", setting, b.Name(), buf.String())
			}
		}
		return
	}
	have := openAny()
	for _, tc := range []struct {
		setting  string
		want     string // backend name; "auto" = openblas when a library opens, else gonum
		logLevel string // level of the one line logged at info or above; "" = none
		logHas   string
	}{
		{"gonum", "gonum", "INFO", "TRAINERD_BLAS=gonum"},
		{" gonum ", "gonum", "INFO", "gonum"},
		{"/nonexistent/libopenblas.so.0", "gonum", "WARN", "lib=/nonexistent/libopenblas.so.0"},
		{"libm.so.6", "gonum", "WARN", "not a BLAS library"},
		{"cblas", "cblas", "", ""},
		{"", "auto", "", ""},
		{"auto", "auto", "", ""},
		{"libopenblas.so.0", "openblas", "", ""},
	} {
		var buf bytes.Buffer
		log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
		b := Select(tc.setting, log)
		want, level, has := tc.want, tc.logLevel, tc.logHas
		_, linked := Linked()
		switch {
		case want == "cblas" && linked:
			want = "openblas-cgo"
		case want == "cblas":
			want, level, has = "gonum", "WARN", "no cgo-linked OpenBLAS"
		case want == "auto" && linked:
			want = "openblas-cgo"
		case want == "auto" && have != nil:
			want = "openblas"
		case want == "auto":
			want, level, has = "gonum", "INFO", "OpenBLAS not found"
		case want == "openblas" && have == nil:
			want, level, has = "gonum", "WARN", "did not open"
		}
		if b.Name() != want {
			t.Errorf("Select(%q) = %s, want %s", tc.setting, b.Name(), want)
		}
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		if level == "" {
			if buf.Len() != 0 {
				t.Errorf("Select(%q) logged %q, want nothing at info", tc.setting, buf.String())
			}
			continue
		}
		if len(lines) != 1 || !strings.Contains(lines[0], "level="+level) || !strings.Contains(lines[0], has) {
			t.Errorf("Select(%q) logged %q, want one %s line containing %q", tc.setting, buf.String(), level, has)
		}
	}
}

// TestDefaultHonoursEnv runs this test binary again with TRAINERD_BLAS set
// and checks the process-wide backend, chosen once through Default, follows
// it and logs why, and that OpenBLAS takes OPENBLAS_NUM_THREADS.
func TestDefaultHonoursEnv(t *testing.T) {
	if os.Getenv("LINALG_TEST_CHILD") == "1" {
		fmt.Printf("backend=%s threads=%d\n", Backend(), Default().Threads())
		return
	}
	if onlyGonum {
		t.Skip("built with the tag noopenblas: TRAINERD_BLAS is not consulted (TestSelect covers it)")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ env, want, logHas string }{
		{"gonum", "gonum threads=0", "TRAINERD_BLAS=gonum"},
		{"/nonexistent/libopenblas.so.0", "gonum threads=0", "did not open"},
	}
	if b := openAny(); b != nil {
		// OpenBLAS reads OPENBLAS_NUM_THREADS (1 below; its default is the number of CPUs) when it is opened.
		cases = append(cases, struct{ env, want, logHas string }{b.Library(), "openblas threads=1", ""})
	}
	for _, tc := range cases {
		cmd := exec.Command(exe, "-test.run=^TestDefaultHonoursEnv$", "-test.v")
		cmd.Env = append(os.Environ(), "LINALG_TEST_CHILD=1", EnvBackend+"="+tc.env, "OPENBLAS_NUM_THREADS=1")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s=%s: %v\n%s%s", EnvBackend, tc.env, err, out, stderr.String())
		}
		all := string(out) + stderr.String()
		if !strings.Contains(all, "backend="+tc.want+"\n") || (tc.logHas != "" && strings.Count(all, tc.logHas) != 1) {
			t.Errorf("%s=%s: want backend=%s and one log line with %q; got:\n%s", EnvBackend, tc.env, tc.want, tc.logHas, all)
		}
	}
}

// TestGemmNoAllocs: a GEMM call allocates nothing on OpenBLAS through
// purego (nor through cgo), so the hand-written networks' no-allocation
// tests hold on the default build.
func TestGemmNoAllocs(t *testing.T) {
	a, b, c := make([]float32, 64), make([]float32, 64), make([]float32, 64)
	d := make([]float64, 64)
	for _, be := range backends(t) {
		if be.Name() == "gonum" {
			continue
		}
		if n := testing.AllocsPerRun(100, func() { be.Sgemm(false, true, 8, 8, 8, 1, a, 8, b, 8, 0, c, 8) }); n != 0 {
			t.Errorf("%s: Sgemm allocates %v objects per call", be.Name(), n)
		}
		if n := testing.AllocsPerRun(100, func() { be.Dgemm(true, false, 8, 8, 8, 1, d, 8, d, 8, 1, d, 8) }); n != 0 {
			t.Errorf("%s: Dgemm allocates %v objects per call", be.Name(), n)
		}
	}
}

// TestSetThreads checks SetThreads reaches OpenBLAS (openblas_get_num_threads
// reads back what was set) and that gonum accepts it.
func TestSetThreads(t *testing.T) {
	for _, be := range backends(t) {
		be.SetThreads(2)
		if be.Name() != "gonum" && be.Threads() != 2 {
			t.Errorf("%s: SetThreads(2) then Threads() = %d", be.Name(), be.Threads())
		}
		be.SetThreads(0) // clamps to 1
		if be.Name() != "gonum" && be.Threads() != 1 {
			t.Errorf("%s: SetThreads(0) then Threads() = %d, want 1", be.Name(), be.Threads())
		}
	}
}
