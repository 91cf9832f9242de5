package consumer

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trainerd/trainerd/graph"
	"github.com/trainerd/trainerd/internal/testfixture"
	"github.com/trainerd/trainerd/linalg"
	"github.com/trainerd/trainerd/model"
)

// blockedEval computes full-ranking recall@k and ndcg@k with blocked GEMMs
// (users in blocks of 1024) and a per-user top-k scan, train items excluded.
func blockedEval(e *model.Embeddings, train, test [][]uint32, k int) (recall, ndcg float64) {
	d := e.Dim
	nI := len(e.Items) / d
	nU := len(e.Users) / d
	const blk = 1024
	scores := make([]float32, blk*nI)
	threads := runtime.GOMAXPROCS(0)
	rec := make([]float64, nU)
	nd := make([]float64, nU)
	for u0 := 0; u0 < nU; u0 += blk {
		u1 := min(u0+blk, nU)
		linalg.Sgemm(false, true, u1-u0, nI, d, 1, e.Users[u0*d:u1*d], d, e.Items, d, 0, scores, nI)
		var wg sync.WaitGroup
		for w := 0; w < threads; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				topI := make([]int, 0, k)
				for u := u0 + w; u < u1; u += threads {
					if u >= len(test) || len(test[u]) == 0 {
						continue
					}
					row := scores[(u-u0)*nI : (u-u0+1)*nI]
					if u < len(train) {
						for _, it := range train[u] {
							row[it] = float32(math.Inf(-1))
						}
					}
					topI = topI[:0]
					for i, s := range row { // insertion into a sorted top-k
						if len(topI) == k && s <= row[topI[k-1]] {
							continue
						}
						p := len(topI)
						if p < k {
							topI = append(topI, i)
						} else {
							p = k - 1
						}
						for p > 0 && row[topI[p-1]] < s {
							topI[p] = topI[p-1]
							p--
						}
						topI[p] = i
					}
					inTest := map[uint32]bool{}
					for _, it := range test[u] {
						inTest[it] = true
					}
					hits, dcg, idcg := 0, 0.0, 0.0
					for r, i := range topI {
						if inTest[uint32(i)] {
							hits++
							dcg += 1 / math.Log2(float64(r+2))
						}
					}
					for r := 0; r < min(k, len(test[u])); r++ {
						idcg += 1 / math.Log2(float64(r+2))
					}
					rec[u] = float64(hits) / float64(len(test[u]))
					nd[u] = dcg / idcg
				}
			}()
		}
		wg.Wait()
	}
	users := 0
	for u := range rec {
		if u < len(test) && len(test[u]) > 0 {
			users++
			recall += rec[u]
			ndcg += nd[u]
		}
	}
	return recall / float64(users), ndcg / float64(users)
}

// envConfig reads TRAINERD_GOWALLA="model=mf,loss=softmax,..." into a
// Config and the run's sizes.
func envConfig(t *testing.T) (cfg model.Config, batch, pool, epochs, evalEvery int, budget time.Duration) {
	cfg = model.Config{Model: "mf", Loss: "bpr", LR: 0.001, Seed: 1}
	batch, pool, epochs, evalEvery, budget = 2048, 2048, 1000, 1, 30*time.Minute
	for _, kv := range strings.Split(os.Getenv("TRAINERD_GOWALLA"), ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		f, _ := strconv.ParseFloat(v, 64)
		switch k {
		case "model":
			cfg.Model = v
		case "loss":
			cfg.Loss = v
		case "lr":
			cfg.LR = f
		case "l2":
			cfg.L2 = f
		case "temp":
			cfg.Temperature = f
		case "margin":
			cfg.Margin = f
		case "dim":
			cfg.Dim = int(f)
		case "layers":
			cfg.Layers = int(f)
		case "cosine":
			cfg.Normalize = v == "1"
		case "inbatch":
			cfg.InBatch = v == "1"
		case "opt":
			cfg.Optimizer = v
		case "std":
			cfg.InitStd = f
		case "batch":
			batch = int(f)
		case "pool":
			pool = int(f)
		case "epochs":
			epochs = int(f)
		case "eval":
			evalEvery = int(f)
		case "minutes":
			budget = time.Duration(f * float64(time.Minute))
		default:
			t.Fatalf("TRAINERD_GOWALLA: unknown key %q", k)
		}
	}
	return
}

// TestGowallaLong trains one model on real Gowalla (standard split) epoch by
// epoch and logs loss, recall@20, ndcg@20, examples/s and seconds per epoch.
// Gated by TRAINERD_LONG=1; the model comes from TRAINERD_GOWALLA, e.g.
//
//	TRAINERD_LONG=1 TRAINERD_GOWALLA=model=mf,loss=softmax,cosine=1,inbatch=1,temp=0.1,lr=0.001,batch=4096,pool=4096 \
//	  OPENBLAS_CORETYPE=Haswell go test -run GowallaLong -v -timeout 2h ./consumer/
func TestGowallaLong(t *testing.T) {
	if os.Getenv("TRAINERD_LONG") != "1" {
		t.Skip("set TRAINERD_LONG=1 to run the Gowalla experiment")
	}
	trainSplit := testfixture.LightGCN(t, "gowalla", "train.txt")
	testSplit := testfixture.LightGCN(t, "gowalla", "test.txt")
	U := max(trainSplit.Users, testSplit.Users)
	I := max(trainSplit.Items, testSplit.Items)
	edges := trainSplit.Edges
	train, test := trainSplit.ByUser(U), testSplit.ByUser(U)
	g, err := graph.Build(U, I, edges)
	if err != nil {
		t.Fatal(err)
	}
	cfg, batch, pool, epochs, evalEvery, budget := envConfig(t)
	t.Logf("gowalla: %d users, %d items, %d train edges; backend %s; GOMAXPROCS %d; cfg %+v batch %d pool %d",
		U, I, g.NumEdges(), linalg.Backend(), runtime.GOMAXPROCS(0), cfg, batch, pool)
	m, err := New(cfg, model.Info{NumUsers: U, NumItems: I, Graph: g})
	if err != nil {
		t.Fatal(err)
	}
	s := &testfixture.Sampler{U: U, I: I, Edges: edges, B: batch, P: pool, Rng: rand.New(rand.NewPCG(cfg.Seed, 11))}
	ctx := context.Background()
	start := time.Now()
	var trainTime time.Duration
	for ep := 0; ep < epochs && time.Since(start) < budget; ep++ {
		bs := s.Epoch(ep)
		t0 := time.Now()
		var sum float64
		n := 0
		for _, b := range bs {
			st, err := m.Step(ctx, b)
			if err != nil {
				t.Fatal(err)
			}
			sum += st.Loss * float64(st.Examples)
			n += st.Examples
		}
		dt := time.Since(t0)
		trainTime += dt
		line := fmt.Sprintf("epoch %3d loss %.4f  %.0f ex/s  %.1f s/epoch  wall %.0f s (train %.0f s)",
			ep+1, sum/float64(n), float64(n)/dt.Seconds(), dt.Seconds(), time.Since(start).Seconds(), trainTime.Seconds())
		if (ep+1)%evalEvery == 0 {
			t1 := time.Now()
			e, err := m.Embed(ctx)
			if err != nil {
				t.Fatal(err)
			}
			r, nd := blockedEval(e, train, test, 20)
			line += fmt.Sprintf("  recall@20 %.4f ndcg@20 %.4f (eval %.1f s)", r, nd, time.Since(t1).Seconds())
		}
		t.Log(line)
	}
}
