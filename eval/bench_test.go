package eval

import (
	"context"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/trainerd/trainerd/graph"
	"github.com/trainerd/trainerd/internal/testfixture"
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

// BenchmarkEvaluateGowalla evaluates random embeddings on the real Gowalla
// split (TRAINERD_DATA/gowalla/{train,test}.txt; skipped when absent), so
// the degree distribution is the real one.
func BenchmarkEvaluateGowalla(b *testing.B) {
	tr := testfixture.LightGCN(b, "gowalla", "train.txt").Edges
	te := testfixture.LightGCN(b, "gowalla", "test.txt").Edges
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
