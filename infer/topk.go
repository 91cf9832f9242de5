package infer

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"runtime"

	"github.com/trainerd/trainerd/eval"
	"github.com/trainerd/trainerd/export"
	"github.com/trainerd/trainerd/graph"
	"github.com/trainerd/trainerd/internal/parallel"
	"github.com/trainerd/trainerd/linalg"
)

// topKBlock is the number of users scored per GEMM (eval.DefaultBlockSize).
const topKBlock = eval.DefaultBlockSize

// MaxTopK bounds K (a top-K row is K int32 ids plus K float32 scores).
const MaxTopK = 10000

// TopK returns each user's k best items: users is a row-major
// (len(users)/dim)×dim block whose row r is local user first+r, items
// every item's row. Scores are inner products computed in blocks of
// eval.DefaultBlockSize users with one linalg.Sgemm each; the user's train
// items in mask (nil: none) are removed (eval.Mask), and eval.TopK picks
// the k best in the evaluator's order (score descending, ties by lower
// item id). ids[r*k+j] is row r's j-th item, -1 (score -Inf) once fewer
// than k items remain. A row does not depend on the worker count; its
// scores' last bits can depend on its position in the GEMM block and on
// OpenBLAS's thread count, so run with the same shard count and
// OPENBLAS_NUM_THREADS (trainerd sets 1) to reproduce a file byte for byte.
func TopK(ctx context.Context, users, items []float32, dim, k, first int, mask *graph.Bipartite) (ids []int32, scores []float32, err error) {
	if dim <= 0 || len(users)%dim != 0 || len(items)%dim != 0 {
		return nil, nil, fmt.Errorf("infer: top-k: %d user and %d item values do not divide into dim %d", len(users), len(items), dim)
	}
	if k < 1 || k > MaxTopK {
		return nil, nil, fmt.Errorf("infer: top-k: k %d must be between 1 and %d", k, MaxTopK)
	}
	nu, ni := len(users)/dim, len(items)/dim
	if mask != nil && (first+nu > mask.NumUsers || ni != mask.NumItems) {
		return nil, nil, fmt.Errorf("infer: top-k: users %d..%d and %d items do not fit the train graph's %d users × %d items",
			first, first+nu, ni, mask.NumUsers, mask.NumItems)
	}
	ids = make([]int32, nu*k)
	scores = make([]float32, nu*k)
	nb := (nu + topKBlock - 1) / topKBlock
	parallel.Chunks(nb, runtime.GOMAXPROCS(0), 2, func(lo, hi int) {
		sc := make([]float32, topKBlock*ni)
		top := make([]eval.Scored, 0, k)
		for b := lo; b < hi && ctx.Err() == nil; b++ {
			r0, r1 := b*topKBlock, min((b+1)*topKBlock, nu)
			linalg.Sgemm(false, true, r1-r0, ni, dim, 1, users[r0*dim:r1*dim], dim, items, dim, 0, sc, ni)
			for r := r0; r < r1; r++ {
				row := sc[(r-r0)*ni : (r-r0+1)*ni]
				if mask != nil {
					eval.Mask(row, mask.ItemsOf(uint32(first+r)))
				}
				top = eval.TopK(top, row, k)
				for j := 0; j < k; j++ {
					if j < len(top) {
						ids[r*k+j], scores[r*k+j] = int32(top[j].Item), top[j].Score
					} else {
						ids[r*k+j], scores[r*k+j] = -1, float32(math.Inf(-1))
					}
				}
			}
		}
	})
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("infer: top-k: %w", err)
	}
	return ids, scores, nil
}

// TopKShard writes the top-k files of shard s in out and adds them to its
// manifest. Every shard must be written already (all items are
// candidates); train masks each user's train items (nil: none).
func TopKShard(ctx context.Context, out string, s Shard, k int, train *graph.Bipartite) (*ShardManifest, error) {
	shards, err := scanShards(out)
	if err != nil {
		return nil, err
	}
	if err := checkComplete(out, shards); err != nil {
		return nil, fmt.Errorf("top-k scores against every shard's items: %w", err)
	}
	if shards[0].Shard.Count != s.Count {
		return nil, fmt.Errorf("infer: %s holds %d shards, not %d", out, shards[0].Shard.Count, s.Count)
	}
	dim := shards[0].Dim
	var items []float32
	for _, sm := range shards {
		v, err := readMatrix(filepath.Join(out, sm.Items.NPY), sm.Items.Rows, dim)
		if err != nil {
			return nil, err
		}
		items = append(items, v...)
	}
	sm := shards[s.Index]
	users, err := readMatrix(filepath.Join(out, sm.Users.NPY), sm.Users.Rows, dim)
	if err != nil {
		return nil, err
	}
	ids, scores, err := TopK(ctx, users, items, dim, k, sm.Users.First, train)
	if err != nil {
		return nil, err
	}
	sm.TopK = &TopKPart{K: k, Items: "topk-" + s.suffix() + ".npy", Scores: "topk-scores-" + s.suffix() + ".npy"}
	rows := sm.Users.Rows
	err = writeShard(out, &sm, []shardFile{
		{sm.TopK.Items, func(w io.Writer) error { return writeInt32NPY(w, ids, rows, k) }},
		{sm.TopK.Scores, func(w io.Writer) error { return export.WriteNPY(w, scores, rows, k) }},
	})
	if err != nil {
		return nil, err
	}
	return &sm, nil
}

// TopKShard is TopKShard with the model's store's train graph as mask.
func (m *Model) TopKShard(ctx context.Context, out string, s Shard, k int) (*ShardManifest, error) {
	return TopKShard(ctx, out, s, k, m.train)
}

// writeInt32NPY writes a rows×cols int32 matrix as .npy ('<i4', C order).
// The header is export's float32 header with the dtype swapped (same
// length, so the padding stays right).
func writeInt32NPY(w io.Writer, data []int32, rows, cols int) error {
	h := bytes.Replace(export.NPYHeader(rows, cols), []byte("'<f4'"), []byte("'<i4'"), 1)
	if _, err := w.Write(h); err != nil {
		return err
	}
	buf := make([]byte, 0, 4*len(data))
	for _, v := range data {
		buf = binary.LittleEndian.AppendUint32(buf, uint32(v))
	}
	_, err := w.Write(buf)
	return err
}
