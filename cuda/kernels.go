//go:build cuda

package cuda

import (
	"fmt"
	"math"
	"slices"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/trainerd/trainerd/modelspec"
)

// Kernels holds the functions of kernels/trainerd.ptx. Its methods enqueue
// one launch on the given stream after checking shapes against the buffer
// sizes; they must run on the device thread (inside Device.Do). Row indices
// inside index buffers are not checked on the device: the models validate
// batch ids on the host before uploading them.
type Kernels struct {
	fill, axpby                   cu.Function
	gather, scatterAdd            cu.Function
	sgemm                         cu.Function
	biasReLU, reluBwd, colSum     cu.Function
	poolFwd, poolBwdX, poolBwdW   cu.Function
	l2Fwd, l2Bwd                  cu.Function
	groupDot, groupGrad, rankLoss cu.Function
	maskScores                    cu.Function
	l2Reg, adam, spmm             cu.Function
}

func loadKernels(m cu.Module) (*Kernels, error) {
	k := &Kernels{}
	for _, f := range []struct {
		fn   *cu.Function
		name string
	}{
		{&k.fill, "fill_f32"}, {&k.axpby, "axpby_f32"},
		{&k.gather, "gather_rows"}, {&k.scatterAdd, "scatter_add_rows"},
		{&k.sgemm, "sgemm"},
		{&k.biasReLU, "bias_relu_fwd"}, {&k.reluBwd, "relu_bwd"}, {&k.colSum, "col_sum"},
		{&k.poolFwd, "pool_fwd"}, {&k.poolBwdX, "pool_bwd_x"}, {&k.poolBwdW, "pool_bwd_w"},
		{&k.l2Fwd, "l2norm_fwd"}, {&k.l2Bwd, "l2norm_bwd"},
		{&k.groupDot, "group_dot"}, {&k.groupGrad, "group_grad"}, {&k.rankLoss, "rank_loss_rows"},
		{&k.maskScores, "mask_scores"},
		{&k.l2Reg, "l2_reg_rows"}, {&k.adam, "sparse_adam"}, {&k.spmm, "csr_spmm"},
	} {
		fn, err := m.Function(f.name)
		if err != nil {
			return nil, fmt.Errorf("cuda: kernels/trainerd.ptx: function %s: %w", f.name, err)
		}
		*f.fn = fn
	}
	return k, nil
}

// Kernel arguments are passed as 8-byte slots: cu.Function.Launch copies 8
// bytes from every parameter pointer, so 4-byte values sit in the low half
// of a uint64 (little-endian), never in a 4-byte Go variable.
func pArg(p cu.DevicePtr) uint64 { return uint64(p) }
func iArg(v int) uint64          { return uint64(uint32(int32(v))) }
func lArg(v int64) uint64        { return uint64(v) }
func fArg(v float32) uint64      { return uint64(math.Float32bits(v)) }
func bArg(v bool) uint64 {
	if v {
		return 1
	}
	return 0
}

const threads = 256

// gridFor is the number of 256-thread blocks for n grid-stride items.
func gridFor(n int64) int {
	g := (n + threads - 1) / threads
	return int(min(max(g, 1), 65535*8))
}

// warpGrid is the number of 256-thread blocks for one warp per item.
func warpGrid(n int) int { return max((n*32+threads-1)/threads, 1) }

func launch(name string, fn cu.Function, gx, gy, block int, s cu.Stream, args ...uint64) error {
	ps := make([]unsafe.Pointer, len(args))
	for i := range args {
		ps[i] = unsafe.Pointer(&args[i])
	}
	if err := fn.Launch(gx, gy, 1, block, 1, 1, 0, s, ps); err != nil {
		return fmt.Errorf("cuda: launch %s (grid %d×%d, block %d): %w", name, gx, gy, block, err)
	}
	return nil
}

func need(what string, have, want int) error {
	if have < want {
		return fmt.Errorf("cuda: %s has %d elements, need %d", what, have, want)
	}
	return nil
}

func checkDims(name string, dims ...int) error {
	for _, d := range dims {
		if d < 0 || d > math.MaxInt32 {
			return fmt.Errorf("cuda: %s: dimension %d out of range", name, d)
		}
	}
	return nil
}

// Fill sets x[0:n] = v.
func (k *Kernels) Fill(s cu.Stream, x F32, n int, v float32) error {
	if err := need("fill x", x.N, n); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	return launch("fill_f32", k.fill, gridFor(int64(n)), 1, threads, s, pArg(x.Ptr), fArg(v), lArg(int64(n)))
}

// Axpby sets y = a·x + b·y over n elements (b == 0 never reads y).
func (k *Kernels) Axpby(s cu.Stream, y, x F32, n int, a, b float32) error {
	if err := need("axpby y", y.N, n); err != nil {
		return err
	}
	if err := need("axpby x", x.N, n); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	return launch("axpby_f32", k.axpby, gridFor(int64(n)), 1, threads, s, pArg(y.Ptr), pArg(x.Ptr), fArg(a), fArg(b), lArg(int64(n)))
}

// GatherRows sets out[i,:] = table[idx[i],:] for i < n (d columns).
func (k *Kernels) GatherRows(s cu.Stream, out, table F32, idx I32, n, d int) error {
	if err := checkDims("gather_rows", n, d); err != nil {
		return err
	}
	if err := need("gather out", out.N, n*d); err != nil {
		return err
	}
	if err := need("gather idx", idx.N, n); err != nil {
		return err
	}
	if d <= 0 || table.N%d != 0 {
		return fmt.Errorf("cuda: gather_rows: table of %d floats is not a multiple of d=%d", table.N, d)
	}
	if n == 0 {
		return nil
	}
	return launch("gather_rows", k.gather, gridFor(int64(n)*int64(d)), 1, threads, s,
		pArg(out.Ptr), pArg(table.Ptr), pArg(idx.Ptr), iArg(n), iArg(d))
}

// ScatterAddRows adds alpha·src[i,:] into table[idx[i],:] for i < n
// (atomically: idx may repeat; the summation order is unspecified).
func (k *Kernels) ScatterAddRows(s cu.Stream, table, src F32, idx I32, n, d int, alpha float32) error {
	if err := checkDims("scatter_add_rows", n, d); err != nil {
		return err
	}
	if err := need("scatter src", src.N, n*d); err != nil {
		return err
	}
	if err := need("scatter idx", idx.N, n); err != nil {
		return err
	}
	if d <= 0 || table.N%d != 0 {
		return fmt.Errorf("cuda: scatter_add_rows: table of %d floats is not a multiple of d=%d", table.N, d)
	}
	if n == 0 {
		return nil
	}
	return launch("scatter_add_rows", k.scatterAdd, gridFor(int64(n)*int64(d)), 1, threads, s,
		pArg(table.Ptr), pArg(src.Ptr), pArg(idx.Ptr), iArg(n), iArg(d), fArg(alpha))
}

// Sgemm computes C = alpha·op(A)·op(B) + beta·C with op(A) m×k and op(B)
// k×n, row-major with leading dimensions lda, ldb, ldc (BLAS conventions for
// row-major storage: A is m×k, or k×m when ta). beta == 0 never reads C.
func (k *Kernels) Sgemm(s cu.Stream, ta, tb bool, m, n, kk int, alpha float32, A F32, lda int, B F32, ldb int, beta float32, C F32, ldc int) error {
	if err := checkDims("sgemm", m, n, kk, lda, ldb, ldc); err != nil {
		return err
	}
	ar, ac := m, kk
	if ta {
		ar, ac = kk, m
	}
	br, bc := kk, n
	if tb {
		br, bc = n, kk
	}
	if lda < max(ac, 1) || ldb < max(bc, 1) || ldc < max(n, 1) {
		return fmt.Errorf("cuda: sgemm: leading dimensions lda=%d ldb=%d ldc=%d too small for %d×%d·%d×%d", lda, ldb, ldc, ar, ac, br, bc)
	}
	if ar > 0 && ac > 0 {
		if err := need("sgemm A", A.N, (ar-1)*lda+ac); err != nil {
			return err
		}
	}
	if br > 0 && bc > 0 {
		if err := need("sgemm B", B.N, (br-1)*ldb+bc); err != nil {
			return err
		}
	}
	if m == 0 || n == 0 {
		return nil
	}
	if err := need("sgemm C", C.N, (m-1)*ldc+n); err != nil {
		return err
	}
	gx, gy := (n+63)/64, (m+63)/64
	if gy > 65535 {
		return fmt.Errorf("cuda: sgemm: m=%d too large (max %d)", m, 65535*64)
	}
	return launch("sgemm", k.sgemm, gx, gy, 256, s, bArg(ta), bArg(tb), iArg(m), iArg(n), iArg(kk), fArg(alpha),
		pArg(A.Ptr), iArg(lda), pArg(B.Ptr), iArg(ldb), fArg(beta), pArg(C.Ptr), iArg(ldc))
}

// BiasAct sets y[r,c] = x[r,c] + b[c], then max(0,·) when relu (n rows, d
// columns); y may alias x.
func (k *Kernels) BiasAct(s cu.Stream, y, x, b F32, n, d int, relu bool) error {
	if err := checkDims("bias_relu_fwd", n, d); err != nil {
		return err
	}
	for _, c := range []struct {
		w       string
		have, n int
	}{{"bias y", y.N, n * d}, {"bias x", x.N, n * d}, {"bias b", b.N, d}} {
		if err := need(c.w, c.have, c.n); err != nil {
			return err
		}
	}
	if n*d == 0 {
		return nil
	}
	return launch("bias_relu_fwd", k.biasReLU, gridFor(int64(n*d)), 1, threads, s, pArg(y.Ptr), pArg(x.Ptr), pArg(b.Ptr), iArg(n), iArg(d), bArg(relu))
}

// ReLUBackward sets dx = dy where y > 0, else 0, over n elements (dx may
// alias dy).
func (k *Kernels) ReLUBackward(s cu.Stream, dx, dy, y F32, n int) error {
	for _, c := range []struct {
		w    string
		have int
	}{{"relu dx", dx.N}, {"relu dy", dy.N}, {"relu y", y.N}} {
		if err := need(c.w, c.have, n); err != nil {
			return err
		}
	}
	if n == 0 {
		return nil
	}
	return launch("relu_bwd", k.reluBwd, gridFor(int64(n)), 1, threads, s, pArg(dx.Ptr), pArg(dy.Ptr), pArg(y.Ptr), lArg(int64(n)))
}

// ColSum sets out[c] = beta·out[c] + Σ_r x[r,c] (the bias gradient).
func (k *Kernels) ColSum(s cu.Stream, out, x F32, n, d int, beta float32) error {
	if err := need("colsum out", out.N, d); err != nil {
		return err
	}
	if err := need("colsum x", x.N, n*d); err != nil {
		return err
	}
	if d == 0 {
		return nil
	}
	return launch("col_sum", k.colSum, (d+threads-1)/threads, 1, threads, s, pArg(out.Ptr), pArg(x.Ptr), iArg(n), iArg(d), fArg(beta))
}

// PoolForward is importance pooling: out[r,:] = Σ_{t<T} w[r·T+t]·x[idx[r·T+t],:]
// for r < n.
func (k *Kernels) PoolForward(s cu.Stream, out, x F32, idx I32, w F32, n, T, d int) error {
	if err := checkDims("pool_fwd", n, T, d, n*T); err != nil {
		return err
	}
	if err := need("pool out", out.N, n*d); err != nil {
		return err
	}
	if err := need("pool idx", idx.N, n*T); err != nil {
		return err
	}
	if err := need("pool w", w.N, n*T); err != nil {
		return err
	}
	if n*d == 0 {
		return nil
	}
	return launch("pool_fwd", k.poolFwd, gridFor(int64(n*d)), 1, threads, s, pArg(out.Ptr), pArg(x.Ptr), pArg(idx.Ptr), pArg(w.Ptr), iArg(n), iArg(T), iArg(d))
}

// PoolBackwardX adds w[e]·dout[e/T,:] into dx[idx[e],:] (atomically). dx
// must be zeroed (or hold gradient to accumulate into) by the caller.
func (k *Kernels) PoolBackwardX(s cu.Stream, dx, dout F32, idx I32, w F32, n, T, d int) error {
	if err := checkDims("pool_bwd_x", n, T, d, n*T); err != nil {
		return err
	}
	if err := need("pool dout", dout.N, n*d); err != nil {
		return err
	}
	if err := need("pool idx", idx.N, n*T); err != nil {
		return err
	}
	if err := need("pool w", w.N, n*T); err != nil {
		return err
	}
	if n*T*d == 0 {
		return nil
	}
	return launch("pool_bwd_x", k.poolBwdX, gridFor(int64(n)*int64(T)*int64(d)), 1, threads, s, pArg(dx.Ptr), pArg(dout.Ptr), pArg(idx.Ptr), pArg(w.Ptr), iArg(n), iArg(T), iArg(d))
}

// PoolBackwardW sets dw[e] = dout[e/T,:]·x[idx[e],:].
func (k *Kernels) PoolBackwardW(s cu.Stream, dw, dout, x F32, idx I32, n, T, d int) error {
	if err := checkDims("pool_bwd_w", n, T, d, n*T); err != nil {
		return err
	}
	if err := need("pool dw", dw.N, n*T); err != nil {
		return err
	}
	if err := need("pool dout", dout.N, n*d); err != nil {
		return err
	}
	if err := need("pool idx", idx.N, n*T); err != nil {
		return err
	}
	if n*T == 0 {
		return nil
	}
	return launch("pool_bwd_w", k.poolBwdW, warpGrid(n*T), 1, threads, s, pArg(dw.Ptr), pArg(dout.Ptr), pArg(x.Ptr), pArg(idx.Ptr), iArg(n), iArg(T), iArg(d))
}

// L2NormForward sets y = x/‖x‖ per row (n rows, d columns) and inv[r] =
// 1/sqrt(‖x_r‖² + 1e-12), as consumer/loss does.
func (k *Kernels) L2NormForward(s cu.Stream, y, inv, x F32, n, d int) error {
	if err := need("l2norm y", y.N, n*d); err != nil {
		return err
	}
	if err := need("l2norm x", x.N, n*d); err != nil {
		return err
	}
	if err := need("l2norm inv", inv.N, n); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	return launch("l2norm_fwd", k.l2Fwd, warpGrid(n), 1, threads, s, pArg(y.Ptr), pArg(inv.Ptr), pArg(x.Ptr), iArg(n), iArg(d))
}

// L2NormBackward maps a gradient dy with respect to y = x/‖x‖ to dx = (dy -
// y(y·dy))·inv (dx may alias dy).
func (k *Kernels) L2NormBackward(s cu.Stream, dx, dy, y, inv F32, n, d int) error {
	for _, c := range []struct {
		w       string
		have, n int
	}{{"l2norm dx", dx.N, n * d}, {"l2norm dy", dy.N, n * d}, {"l2norm y", y.N, n * d}, {"l2norm inv", inv.N, n}} {
		if err := need(c.w, c.have, c.n); err != nil {
			return err
		}
	}
	if n == 0 {
		return nil
	}
	return launch("l2norm_bwd", k.l2Bwd, warpGrid(n), 1, threads, s, pArg(dx.Ptr), pArg(dy.Ptr), pArg(y.Ptr), pArg(inv.Ptr), iArg(n), iArg(d))
}

// GroupDot sets out[j·H+h] = q[j,:]·x[j·H+h,:] for j < B, h < H.
func (k *Kernels) GroupDot(s cu.Stream, out, q, x F32, B, H, d int) error {
	if err := need("groupdot out", out.N, B*H); err != nil {
		return err
	}
	if err := need("groupdot q", q.N, B*d); err != nil {
		return err
	}
	if err := need("groupdot x", x.N, B*H*d); err != nil {
		return err
	}
	if B*H == 0 {
		return nil
	}
	return launch("group_dot", k.groupDot, warpGrid(B*H), 1, threads, s, pArg(out.Ptr), pArg(q.Ptr), pArg(x.Ptr), iArg(B), iArg(H), iArg(d))
}

// GroupGrad is GroupDot's backward: gq[j,:] += Σ_h g[j·H+h]·x[j·H+h,:] and
// gx[j·H+h,:] = g[j·H+h]·q[j,:] (+ gx when accum).
func (k *Kernels) GroupGrad(s cu.Stream, gq, gx, g, q, x F32, B, H, d int, accum bool) error {
	for _, c := range []struct {
		w       string
		have, n int
	}{{"groupgrad gq", gq.N, B * d}, {"groupgrad gx", gx.N, B * H * d}, {"groupgrad g", g.N, B * H}, {"groupgrad q", q.N, B * d}, {"groupgrad x", x.N, B * H * d}} {
		if err := need(c.w, c.have, c.n); err != nil {
			return err
		}
	}
	if B*H*d == 0 {
		return nil
	}
	return launch("group_grad", k.groupGrad, gridFor(int64(B*d)), 1, threads, s, pArg(gq.Ptr), pArg(gx.Ptr), pArg(g.Ptr), pArg(q.Ptr), pArg(x.Ptr), iArg(B), iArg(H), iArg(d), bArg(accum))
}

// LossKind selects the ranking loss of RankLossRows: a modelspec.Loss
// among modelspec.CUDALosses.
type LossKind = modelspec.Loss

// The losses of consumer/loss the kernels implement.
const (
	LossBPR     = modelspec.LossBPR
	LossMargin  = modelspec.LossMargin
	LossSoftmax = modelspec.LossSoftmax
	LossSGNS    = modelspec.LossSGNS
)

// ParseLoss maps a config name to a LossKind the kernels implement.
func ParseLoss(name string) (LossKind, error) {
	k, err := modelspec.ParseLoss(name)
	if err != nil || !slices.Contains(modelspec.CUDALosses(), k) {
		return 0, fmt.Errorf("cuda: unknown loss %q (want bpr, margin, softmax or sgns)", name)
	}
	return k, nil
}

// MaskScore is the score MaskScores gives masked columns, consumer/loss's
// sentinel: every loss maps it to a zero term and a zero gradient.
const MaskScore = -math.MaxFloat32 / 4

// MaskScores applies one CSR collision mask to a score matrix s (B rows of
// leading dimension ld ≥ n, n columns): for each row j < B it sets
// s[j·ld + c] = MaskScore for every column c in mask[ptr[j]:ptr[j+1]], and
// writes to nmasked[j] the number of distinct columns it newly masked
// (repeats count once), added to nmasked[j] when accum. ptr has B+1
// entries; mask entries must lie in [0, n) — they are not checked against
// the device contents here (the models validate masks on the host before
// uploading them; the kernel skips any outside [0, n) rather than write
// out of bounds).
func (k *Kernels) MaskScores(st cu.Stream, s F32, nmasked, ptr, mask I32, B, n, ld int, accum bool) error {
	if err := checkDims("mask_scores", B, n, ld); err != nil {
		return err
	}
	if ld < n {
		return fmt.Errorf("cuda: mask_scores: leading dimension %d < %d columns", ld, n)
	}
	if err := need("mask nmasked", nmasked.N, B); err != nil {
		return err
	}
	if err := need("mask ptr", ptr.N, B+1); err != nil {
		return err
	}
	if B > 0 && n > 0 {
		if err := need("mask scores", s.N, (B-1)*ld+n); err != nil {
			return err
		}
	}
	if B == 0 {
		return nil
	}
	return launch("mask_scores", k.maskScores, warpGrid(B), 1, threads, st, pArg(s.Ptr), pArg(nmasked.Ptr), pArg(ptr.Ptr), pArg(mask.Ptr),
		iArg(B), iArg(n), iArg(ld), bArg(accum))
}

// RankLossRows computes each example's loss into rowLoss (B doubles) and
// overwrites the scores with dLoss/dscore divided by B: sPos (B), sPool
// (B×P), sIn (B×B in-batch scores, or N == 0 for none) and sHard (B×H).
// nmasked (N == 0 for none) holds per example the number of distinct pool
// and in-batch columns MaskScores masked: they are not counted among the
// example's negatives (masked scores themselves contribute nothing).
// Same formulas as consumer/loss.
func (k *Kernels) RankLossRows(s cu.Stream, rowLoss F64, sPos, sPool, sIn, sHard F32, nmasked I32, B, P, H int, kind LossKind, margin, temperature float32) error {
	if err := need("rankloss rowloss", rowLoss.N, B); err != nil {
		return err
	}
	var nm cu.DevicePtr
	if nmasked.N > 0 {
		if err := need("rankloss nmasked", nmasked.N, B); err != nil {
			return err
		}
		nm = nmasked.Ptr
	}
	for _, c := range []struct {
		w       string
		have, n int
	}{{"rankloss spos", sPos.N, B}, {"rankloss spool", sPool.N, B * P}, {"rankloss shard", sHard.N, B * H}} {
		if err := need(c.w, c.have, c.n); err != nil {
			return err
		}
	}
	var in cu.DevicePtr
	if sIn.N > 0 {
		if err := need("rankloss sin", sIn.N, B*B); err != nil {
			return err
		}
		in = sIn.Ptr
	}
	if kind == LossSoftmax && !(temperature > 0) {
		return fmt.Errorf("cuda: softmax temperature %v must be > 0", temperature)
	}
	if B == 0 {
		return nil
	}
	return launch("rank_loss_rows", k.rankLoss, B, 1, threads, s, pArg(rowLoss.Ptr), pArg(sPos.Ptr), pArg(sPool.Ptr), pArg(in), pArg(sHard.Ptr), pArg(nm),
		iArg(B), iArg(P), iArg(H), iArg(int(kind)), fArg(margin), fArg(temperature))
}

// L2RegRows adds lam·table[rows[k],:] into grad (row k when sparse, row
// rows[k] otherwise) and writes sumsq[k] = ‖table[rows[k],:]‖².
func (k *Kernels) L2RegRows(s cu.Stream, grad F32, sumsq F64, table F32, rows I32, n, d int, lam float32, sparse bool) error {
	if err := need("l2reg rows", rows.N, n); err != nil {
		return err
	}
	if err := need("l2reg sumsq", sumsq.N, n); err != nil {
		return err
	}
	if sparse {
		if err := need("l2reg grad", grad.N, n*d); err != nil {
			return err
		}
	}
	if d <= 0 || table.N%d != 0 || (!sparse && grad.N != table.N) {
		return fmt.Errorf("cuda: l2_reg_rows: table %d / grad %d floats do not fit d=%d", table.N, grad.N, d)
	}
	if n == 0 {
		return nil
	}
	return launch("l2_reg_rows", k.l2Reg, warpGrid(n), 1, threads, s, pArg(grad.Ptr), pArg(sumsq.Ptr), pArg(table.Ptr), pArg(rows.Ptr), iArg(n), iArg(d), fArg(lam), bArg(sparse))
}

// AdamParams are Adam's constants.
type AdamParams struct {
	LR, Beta1, Beta2, Eps float32
}

// SparseAdam applies consumer/optim's Adam (per-row step counters) to the n
// listed distinct rows of param (grads holds one d-wide row per listed row,
// in order), or to every row when rows.N == 0 (then n is the row count and
// grads has param's size).
func (k *Kernels) SparseAdam(s cu.Stream, param, m, v, steps F32, rows I32, grads F32, n, d int, p AdamParams) error {
	if err := need("adam grads", grads.N, n*d); err != nil {
		return err
	}
	if m.N != param.N || v.N != param.N || d <= 0 || param.N%d != 0 || steps.N != param.N/d {
		return fmt.Errorf("cuda: sparse_adam: param %d, m %d, v %d, steps %d do not fit d=%d", param.N, m.N, v.N, steps.N, d)
	}
	var rp cu.DevicePtr
	if rows.N > 0 {
		if err := need("adam rows", rows.N, n); err != nil {
			return err
		}
		rp = rows.Ptr
	} else if n != steps.N {
		return fmt.Errorf("cuda: sparse_adam: dense update of %d rows, table has %d", n, steps.N)
	}
	if n == 0 {
		return nil
	}
	bt := min(max(32, (d+31)/32*32), 1024)
	return launch("sparse_adam", k.adam, min(n, 65535*4), 1, bt, s, pArg(param.Ptr), pArg(m.Ptr), pArg(v.Ptr), pArg(steps.Ptr), pArg(rp),
		pArg(grads.Ptr), iArg(n), iArg(d), fArg(p.LR), fArg(p.Beta1), fArg(p.Beta2), fArg(p.Eps))
}

// CSR is a sparse matrix on the device: n rows, row r's entries at
// [Ptr[r], Ptr[r+1]) of Col and Val.
type CSR struct {
	N        int
	Ptr, Col I32
	Val      F32
}

// SpMM sets out = beta·out + alpha·A·x for x with d columns (out ≠ x;
// beta == 0 never reads out).
func (k *Kernels) SpMM(s cu.Stream, out F32, A CSR, x F32, d int, alpha, beta float32) error {
	if err := need("spmm ptr", A.Ptr.N, A.N+1); err != nil {
		return err
	}
	if err := need("spmm out", out.N, A.N*d); err != nil {
		return err
	}
	if out.Ptr == x.Ptr {
		return fmt.Errorf("cuda: spmm: out aliases x")
	}
	if A.N == 0 {
		return nil
	}
	return launch("csr_spmm", k.spmm, warpGrid(A.N), 1, threads, s, pArg(out.Ptr), pArg(A.Ptr.Ptr), pArg(A.Col.Ptr), pArg(A.Val.Ptr), pArg(x.Ptr),
		iArg(A.N), iArg(d), fArg(alpha), fArg(beta))
}
