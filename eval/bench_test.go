package eval

import (
	"bufio"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trainerd/trainerd/graph"
)

// Gowalla's shape as LightGCN ships it.
const (
	gowallaUsers = 29858
	gowallaItems = 40981
	gowallaTrain = 810128
	gowallaTest  = 217242
	gowallaDim   = 64
)

// gowallaSized returns random embeddings and random train/test graphs of
// Gowalla's size (users drawn uniformly per edge, so nearly every user has
// test items, as in Gowalla).
func gowallaSized(b *testing.B) (users, items []float32, train, test *graph.Bipartite) {
	r := rand.New(rand.NewPCG(1, 2))
	users = make([]float32, gowallaUsers*gowallaDim)
	items = make([]float32, gowallaItems*gowallaDim)
	for i := range users {
		users[i] = float32(r.NormFloat64()) * 0.1
	}
	for i := range items {
		items[i] = float32(r.NormFloat64()) * 0.1
	}
	edges := func(n int) []graph.Edge {
		es := make([]graph.Edge, n)
		for i := range es {
			es[i] = graph.Edge{User: uint32(r.IntN(gowallaUsers)), Item: uint32(r.IntN(gowallaItems))}
		}
		return es
	}
	var err error
	if train, err = graph.Build(gowallaUsers, gowallaItems, edges(gowallaTrain)); err != nil {
		b.Fatal(err)
	}
	if test, err = graph.Build(gowallaUsers, gowallaItems, edges(gowallaTest)); err != nil {
		b.Fatal(err)
	}
	return users, items, train, test
}

// BenchmarkEvaluateGowallaSize times one full LightGCN evaluation (K=20) of
// random Gowalla-shaped embeddings and reports seconds per evaluation.
func BenchmarkEvaluateGowallaSize(b *testing.B) {
	users, items, train, test := gowallaSized(b)
	ctx := context.Background()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuSeconds()
	for i := 0; i < b.N; i++ {
		m, err := Evaluate(ctx, users, items, gowallaDim, train, test, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if m.Users() < gowallaUsers/2 {
			b.Fatalf("only %d test users", m.Users())
		}
	}
	b.ReportMetric(time.Since(start).Seconds()/float64(b.N), "s/eval")
	b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/eval")
}

// cpuSeconds is the process's user+system CPU time: on a shared machine
// it is steadier than wall time (wall ≈ cpu/cores when the cores are free).
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// dataDir resolves TRAINERD_DATA, defaulting to ../shared/data next to the
// directory holding go.mod.
func dataDir(tb testing.TB) string {
	if d := os.Getenv("TRAINERD_DATA"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "data")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}

// readLightGCN reads a LightGCN split file ("user item item ..." per line,
// 0-based dense ids) into edges.
func readLightGCN(tb testing.TB, path string) []graph.Edge {
	f, err := os.Open(path)
	if err != nil {
		tb.Skipf("Gowalla data not available: %v", err)
	}
	defer f.Close()
	var es []graph.Edge
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 1<<24)
	for line := 1; sc.Scan(); line++ {
		fs := strings.Fields(sc.Text())
		for i, s := range fs {
			v, err := strconv.ParseUint(s, 10, 32)
			if err != nil {
				tb.Fatalf("%s:%d: %v", path, line, err)
			}
			if i > 0 {
				u, _ := strconv.ParseUint(fs[0], 10, 32)
				es = append(es, graph.Edge{User: uint32(u), Item: uint32(v)})
			}
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return es
}

// BenchmarkEvaluateGowalla evaluates random embeddings on the real Gowalla
// split (TRAINERD_DATA/gowalla/{train,test}.txt; skipped when absent), so
// the degree distribution is the real one.
func BenchmarkEvaluateGowalla(b *testing.B) {
	dir := filepath.Join(dataDir(b), "gowalla")
	tr := readLightGCN(b, filepath.Join(dir, "train.txt"))
	te := readLightGCN(b, filepath.Join(dir, "test.txt"))
	train, err := graph.Build(gowallaUsers, gowallaItems, tr)
	if err != nil {
		b.Fatal(err)
	}
	test, err := graph.Build(gowallaUsers, gowallaItems, te)
	if err != nil {
		b.Fatal(err)
	}
	users, items, _, _ := gowallaSized(b)
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuSeconds()
	for i := 0; i < b.N; i++ {
		m, err := Evaluate(context.Background(), users, items, gowallaDim, train, test, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if m.Users() != gowallaUsers {
			b.Fatalf("%d test users, want %d", m.Users(), gowallaUsers)
		}
	}
	b.ReportMetric(time.Since(start).Seconds()/float64(b.N), "s/eval")
	b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/eval")
}
