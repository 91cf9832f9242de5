//go:build !cuda

package sage

import (
	"fmt"
	"math"
	"unsafe"

	"gonum.org/v1/gonum/blas"

	"github.com/trainerd/trainerd/consumer/embedcore"
	"github.com/trainerd/trainerd/internal/parallel"
	"github.com/trainerd/trainerd/internal/vec"
	"github.com/trainerd/trainerd/linalg"
)

// The hand-written CONVOLVE path: PinSage's layers (importance, mean and max
// pooling) and GraphSAGE's mean and pool layers as plain forward and
// backward passes over buffers that live as long as the model, with every
// matrix product on linalg's GEMM. It computes what the gorgonia graph of
// package nn computes (the same parameters, ReLU as x·[x ≥ 0] with its
// gradient passing at 0, the same L2 normalisation) without building a
// graph, without padding to bucketed shapes and without allocating once its
// buffers have grown to a step's sizes. The network is generic in the float
// type only so that its gradients can be checked in float64 against finite
// differences; training runs it in float32.

type float interface{ float32 | float64 }

// layerArch describes one convolution layer: the input width in, the
// message width hid (the width of Q·h; 0 without a message map), the
// output width out, and which parts the layer has.
type layerArch struct {
	in, hid, out int
	// msg: messages are ReLU(h·Q + q) (PinSage, GraphSAGE pool); without
	// it the layer pools the input rows themselves (GraphSAGE mean).
	msg bool
	// maxPool pools by the slot-wise maximum over valid slots (the first
	// maximal slot takes the gradient); otherwise by the weighted sum.
	maxPool bool
	// uniform weighs the valid slots 1/valid instead of by importance.
	uniform bool
	// act applies ReLU to h_self‖pool·W + b; norm then divides each row by
	// sqrt(‖row‖² + 1e-12).
	act, norm bool
	// parameter names: Q and its bias (with msg), W and its bias.
	q, qb, w, wb string
}

// netArch is a whole convolutional network: an optional feature projection
// in front, the layers (layers[0] consumes Layers[K]), and PinSage's final
// dense pair G2·ReLU(G1·z + g1) when dense is set.
type netArch struct {
	dim     int // input width of the first layer (model.dim)
	featDim int // > 0: h = [x +] f·P + p with parameters proj/W, proj/b
	useID   bool
	layers  []layerArch
	dense   bool
	hidden  int // G1's width
	outDim  int // G2's width
	// skip adds each target's network input (its row of the first layer's
	// input, dim wide) to its output: z = G2·ReLU(G1·h_K + g1) + h_0.
	// Needs dense and outDim == dim.
	skip bool
}

// pinSageArch is PinSage's network for aggregator agg.
func pinSageArch(k, dim, hidden int, agg string) []layerArch {
	var ls []layerArch
	d := dim
	for l := 1; l <= k; l++ {
		pre := fmt.Sprintf("conv%d/", l)
		ls = append(ls, layerArch{in: d, hid: hidden, out: hidden, msg: true, maxPool: agg == "max", uniform: agg == "mean",
			act: true, norm: true, q: pre + "Q", qb: pre + "Q/b", w: pre + "W", wb: pre + "W/b"})
		d = hidden
	}
	return ls
}

// hopCSR is one hop of a batch in compressed form: the valid slots of
// each of the N targets (ptr, col into the M rows of the layer below, w the
// aggregation weight), and for weighted pooling the transpose (for every
// row of the layer below, the slots that read it, in slot order), which
// turns the backward scatter into a gather.
type hopCSR[F float] struct {
	n, m      int
	ptr       []int32
	col       []int32
	w         []F
	tptr      []int32
	tcol      []int32 // target of each incoming slot
	tw        []F
	transpose bool
}

// set fills the hop from the producer's layout: n targets with t slots
// each (idx into m rows, weight > 0 marks a valid slot).
func (h *hopCSR[F]) set(n, m, t int, idx []int32, w []float32, uniform, transpose bool) {
	h.n, h.m, h.transpose = n, m, transpose
	h.ptr = embedcore.Grow(h.ptr, n+1)
	h.col = h.col[:0]
	h.w = h.w[:0]
	h.ptr[0] = 0
	for u := 0; u < n; u++ {
		valid := 0
		for s := 0; s < t; s++ {
			if w[u*t+s] > 0 {
				valid++
			}
		}
		for s := 0; s < t; s++ {
			j := u*t + s
			if !(w[j] > 0) {
				continue
			}
			wt := F(w[j])
			if uniform {
				wt = F(1 / float32(valid))
			}
			h.col = append(h.col, idx[j])
			h.w = append(h.w, wt)
		}
		h.ptr[u+1] = int32(len(h.col))
	}
	if !transpose {
		return
	}
	nnz := len(h.col)
	h.tptr = embedcore.Grow(h.tptr, m+1)
	clear(h.tptr)
	for _, c := range h.col {
		h.tptr[c+1]++
	}
	for r := 0; r < m; r++ {
		h.tptr[r+1] += h.tptr[r]
	}
	h.tcol = embedcore.Grow(h.tcol, nnz)
	h.tw = embedcore.Grow(h.tw, nnz)
	// fill in slot order: rows' incoming lists come out ordered by target
	// then slot, the order gorgonia's serial scatter added them in.
	next := h.tptr[:m] // reuse as cursors, restored below
	for u := 0; u < n; u++ {
		for j := h.ptr[u]; j < h.ptr[u+1]; j++ {
			c := h.col[j]
			p := next[c]
			h.tcol[p], h.tw[p] = int32(u), h.w[j]
			next[c]++
		}
	}
	// next[r] now holds the end of row r, i.e. the start of row r+1
	copy(h.tptr[1:], h.tptr[:m])
	h.tptr[0] = 0
}

// rowBlock is the number of rows one task of a layer handles: the
// block's messages (rowBlock×hid) stay in the core's L2 cache between the
// GEMM that writes them and the ReLU, pooling and gradient work that read
// them. Blocks depend only on the row count, never on the thread count,
// so the weight gradients (summed per block, then over blocks in order)
// have the same bits however many threads run.
const rowBlock = 256

// reduceRows is the number of parameter rows one reduction task sums.
const reduceRows = 16

func blocks(n int) int { return (n + rowBlock - 1) / rowBlock }

// gradGroup is the number of consecutive row blocks whose weight-gradient
// terms one task sums into one partial (in block order), so the partials
// to reduce are few; the groups, like the blocks, depend only on the row
// count.
const gradGroup = 4

func groups(n int) int { return (blocks(n) + gradGroup - 1) / gradGroup }

func blockRows(i, n int) (lo, hi int) { return i * rowBlock, min((i+1)*rowBlock, n) }

// The phases of a layer, each a set of independent row blocks.
const (
	phMsg    = iota // per block of the M input rows: messages ReLU(h·Q + q)
	phOut           // per block of the N targets: pool, W map, ReLU, normalise
	phDOut          // per block of targets: output gradient, partial dW, db, dcat
	phDSrc          // per block of input rows: pooled gradient, partial dQ, dq, dh
	phReduce        // per block of parameter rows: sum the partial gradients
)

// convLayer is one layer's parameters, gradients and activations.
type convLayer[F float] struct {
	a              layerArch
	Q, q, W, b     []F // parameters (Q, q nil without msg)
	dQ, dq, dW, db []F // their gradients, overwritten by backward

	hop  *hopCSR[F]
	h    []F // the input of the last forward (M×in), not owned
	fill func(lo, hi int)
	m    []F     // messages M×hid (msg)
	arg  []int32 // max pooling: the row each (target, column) came from, -1 if none
	cat  []F     // N×(in+p): h_self ‖ pool
	out  []F     // N×out
	nrm  []F     // N row norms (norm)
	dout []F     // the gradient of out (N×out), not owned, used as scratch
	dcat []F
	dsrc []F // M×p gradient of the pooled rows (msg with max pooling)
	// per team member: one block's gradient of the pooled rows (msg with
	// weighted pooling), which stays in cache from the gather to the GEMMs
	scratch [][]F
	dh      []F // M×in gradient of the input
	// per-block partial gradients: dW and db per target block, dQ and dq
	// per input block
	dWp, dbp, dQp, dqp []F
	avx                gatherKernel
	// maskBits: the forward keeps one bit per message (ReLU passes) and
	// the backward reads those bits instead of the messages (float32,
	// hid 128, AVX-512).
	maskBits bool
	mask     []uint16
	phase    int // the phase a team run works on
}

// run runs n blocks of phase on t.
func (l *convLayer[F]) run(t *parallel.Team, phase, n int) {
	l.phase = phase
	t.Run(l, n)
}

// Block implements parallel.Job.
func (l *convLayer[F]) Block(i, worker int) { l.block(l.phase, i, worker) }

// width of the pooled rows.
func (l *convLayer[F]) p() int {
	if l.a.msg {
		return l.a.hid
	}
	return l.a.in
}

// forward maps h (M×in) through hop to N×out. fill, when set, writes
// rows [lo,hi) of h before a block reads them.
func (l *convLayer[F]) forward(t *parallel.Team, h []F, hop *hopCSR[F], fill func(lo, hi int)) []F {
	a := l.a
	M, N, d, p := hop.m, hop.n, a.in, l.p()
	l.h, l.hop, l.fill = h[:M*d], hop, fill
	if a.msg {
		l.m = embedcore.Grow(l.m, M*a.hid)
		if l.maskBits {
			l.mask = embedcore.Grow(l.mask, M*a.hid/16)
		}
	}
	if a.maxPool {
		l.arg = embedcore.Grow(l.arg, N*p)
	}
	l.cat = embedcore.Grow(l.cat, N*(d+p))
	l.out = embedcore.Grow(l.out, N*a.out)
	l.nrm = embedcore.Grow(l.nrm, N)
	if a.msg || fill != nil {
		l.run(t, phMsg, blocks(M))
	}
	l.run(t, phOut, blocks(N))
	return l.out
}

// backward takes dout (N×out, used as scratch) and sets the parameter
// gradients and l.dh (M×in), which it returns.
func (l *convLayer[F]) backward(t *parallel.Team, dout []F) []F {
	a := l.a
	M, N, d, p := l.hop.m, l.hop.n, a.in, l.p()
	l.dout = dout[:N*a.out]
	nbN, nbM := groups(N), groups(M)
	l.dWp = embedcore.Grow(l.dWp, nbN*len(l.W))
	l.dbp = embedcore.Grow(l.dbp, nbN*a.out)
	l.dcat = embedcore.Grow(l.dcat, N*(d+p))
	l.dh = embedcore.Grow(l.dh, M*d)
	if a.msg {
		if a.maxPool {
			l.dsrc = embedcore.Grow(l.dsrc, M*p)
		} else {
			for len(l.scratch) < t.Size() {
				l.scratch = append(l.scratch, make([]F, rowBlock*p))
			}
		}
		l.dQp = embedcore.Grow(l.dQp, nbM*len(l.Q))
		l.dqp = embedcore.Grow(l.dqp, nbM*a.hid)
	}
	l.run(t, phDOut, nbN)
	if a.maxPool {
		// the scatter to the argmax rows is not row-parallel: serial
		dsrc := l.dh
		if a.msg {
			dsrc = l.dsrc
		}
		clear(dsrc)
		cw := d + p
		for n := 0; n < N; n++ {
			g := l.dcat[n*cw+d : n*cw+d+p]
			for c, r := range l.arg[n*p : n*p+p] {
				if r >= 0 {
					dsrc[int(r)*p+c] += g[c]
				}
			}
		}
	}
	l.run(t, phDSrc, nbM)
	l.run(t, phReduce, (d+p+1+reduceRows-1)/reduceRows)
	return l.dh
}

// block runs block i of a phase.
func (l *convLayer[F]) block(phase, i, worker int) {
	a := l.a
	hop := l.hop
	M, N, d, p := hop.m, hop.n, a.in, l.p()
	cw := d + p
	switch phase {
	case phMsg:
		lo, hi := blockRows(i, M)
		if l.fill != nil {
			l.fill(lo, hi)
		}
		if !a.msg {
			return
		}
		m := l.m[lo*a.hid : hi*a.hid]
		gemm(false, false, hi-lo, a.hid, d, l.h[lo*d:hi*d], d, l.Q, a.hid, 0, m, a.hid)
		addBias(m, l.q, true)
		if l.maskBits && hi > lo {
			vec.ReluMaskAVX512(&any(m).([]float32)[0], &l.mask[lo*a.hid/16], len(m))
		}
	case phOut:
		lo, hi := blockRows(i, N)
		src := l.h
		if a.msg {
			src = l.m
		}
		for n := lo; n < hi; n++ {
			copy(l.cat[n*cw:n*cw+d], l.h[n*d:n*d+d])
		}
		if a.maxPool {
			maxPool(l.cat[d:], cw, l.arg, src, p, hop, lo, hi)
		} else {
			for n := lo; n < hi; n++ {
				s, e := hop.ptr[n], hop.ptr[n+1]
				gatherInto(l.cat[n*cw+d:n*cw+d+p], src, p, hop.col[s:e], hop.w[s:e], l.avx)
			}
		}
		out := l.out[lo*a.out : hi*a.out]
		gemm(false, false, hi-lo, a.out, cw, l.cat[lo*cw:hi*cw], cw, l.W, a.out, 0, out, a.out)
		addBias(out, l.b, a.act)
		if a.norm {
			normRows(l.out[lo*a.out:hi*a.out], l.nrm[lo:hi], a.out)
		}
	case phDOut:
		for j := i * gradGroup; j < min((i+1)*gradGroup, blocks(N)); j++ {
			l.dOutBlock(j, i, j > i*gradGroup)
		}
	case phDSrc:
		for j := i * gradGroup; j < min((i+1)*gradGroup, blocks(M)); j++ {
			l.dSrcBlock(j, i, j > i*gradGroup, worker)
		}
	case phReduce:
		// rows [lo,hi) of W (cw rows), then the bias as row cw; Q's rows
		// (d of them) and q (row d) ride along on the same indices.
		lo, hi := i*reduceRows, min((i+1)*reduceRows, cw+1)
		sumBlocks(l.dW, l.dWp, a.out, lo, min(hi, cw))
		if hi > cw {
			sumBlocks(l.db, l.dbp, a.out, 0, 1)
		}
		if a.msg {
			sumBlocks(l.dQ, l.dQp, a.hid, min(lo, d), min(hi, d))
			if lo <= d && d < hi {
				sumBlocks(l.dq, l.dqp, a.hid, 0, 1)
			}
		}
	}
}

// dOutBlock is block j of phDOut: the output gradient of targets
// [lo,hi) through the norm and ReLU, their terms of dW and db added to
// partial i (set when !acc), and their dcat rows.
func (l *convLayer[F]) dOutBlock(j, i int, acc bool) {
	a := l.a
	d, p := a.in, l.p()
	cw := d + p
	lo, hi := blockRows(j, l.hop.n)
	dz := l.dout[lo*a.out : hi*a.out]
	if a.norm {
		normBack(dz, l.out[lo*a.out:hi*a.out], l.nrm[lo:hi], a.out)
	}
	if a.act {
		reluGradColSum(l.dbp[i*a.out:(i+1)*a.out], dz, l.out[lo*a.out:hi*a.out], acc)
	} else {
		colSum(l.dbp[i*a.out:(i+1)*a.out], dz, hi-lo, acc)
	}
	nw := len(l.W)
	gemm(true, false, cw, a.out, hi-lo, l.cat[lo*cw:hi*cw], cw, dz, a.out, beta[F](acc), l.dWp[i*nw:(i+1)*nw], a.out)
	gemm(false, true, hi-lo, cw, a.out, dz, a.out, l.W, a.out, 0, l.dcat[lo*cw:hi*cw], cw)
}

// dSrcBlock is block j of phDSrc: the gradient of input rows [lo,hi)
// through the pooling and the messages, their terms of dQ and dq added to
// partial i (set when !acc).
func (l *convLayer[F]) dSrcBlock(j, i int, acc bool, worker int) {
	a := l.a
	hop := l.hop
	M, N, d, p := hop.m, hop.n, a.in, l.p()
	cw := d + p
	lo, hi := blockRows(j, M)
	// dsrc[(r-off)·p:] is row r's gradient of its pooled row
	dsrc, off := l.dh, 0
	if a.msg {
		if a.maxPool {
			dsrc = l.dsrc
		} else {
			dsrc, off = l.scratch[worker], lo
		}
	}
	if !a.maxPool {
		for r := lo; r < hi; r++ {
			s, e := hop.tptr[r], hop.tptr[r+1]
			gatherInto(dsrc[(r-off)*p:(r-off+1)*p], l.dcat[d:], cw, hop.tcol[s:e], hop.tw[s:e], l.avx)
		}
	}
	if a.msg {
		dp := dsrc[(lo-off)*p : (hi-off)*p]
		if l.maskBits && hi > lo {
			vec.ReluGradColSumMaskAVX512(&any(l.dqp).([]float32)[i*a.hid], &any(dp).([]float32)[0], &l.mask[lo*a.hid/16], hi-lo, acc)
		} else {
			reluGradColSum(l.dqp[i*a.hid:(i+1)*a.hid], dp, l.m[lo*p:hi*p], acc)
		}
		nq := len(l.Q)
		gemm(true, false, d, a.hid, hi-lo, l.h[lo*d:hi*d], d, dp, a.hid, beta[F](acc), l.dQp[i*nq:(i+1)*nq], a.hid)
		gemm(false, true, hi-lo, d, a.hid, dp, a.hid, l.Q, a.hid, 0, l.dh[lo*d:hi*d], d)
	}
	for r := lo; r < min(hi, N); r++ {
		addTo(l.dh[r*d:r*d+d], l.dcat[r*cw:r*cw+d])
	}
}

// beta is a GEMM's beta that adds to C (acc) or overwrites it.
func beta[F float](acc bool) F {
	if acc {
		return 1
	}
	return 0
}

// sumBlocks sets rows [lo,hi) of dst (rows of width w) to the sum, in
// block order, of the same rows of the per-block partials parts (each
// len(dst) long).
func sumBlocks[F float](dst, parts []F, w, lo, hi int) {
	if lo >= hi {
		return
	}
	n := len(dst)
	seg := dst[lo*w : hi*w]
	copy(seg, parts[lo*w:hi*w])
	for b := n; b < len(parts); b += n {
		addTo(seg, parts[b+lo*w:b+hi*w])
	}
}

// addTo sets dst[i] += src[i] (vec.Add in float32: the same sums).
func addTo[F float](dst, src []F) {
	if d32, ok := any(dst).([]float32); ok {
		vec.Add(d32, any(src).([]float32))
		return
	}
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] += v
	}
}

// convNet is a whole network with its input and output buffers. Its row
// blocks run on a team of model.threads goroutines; OpenBLAS should then
// run one thread per call (trainerd's default).
type convNet[F float] struct {
	arch   netArch
	layers []*convLayer[F]
	hops   []hopCSR[F]
	team   *parallel.Team
	// feature projection
	P, pb, dP, dpb []F
	// dense pair
	G1, g1, G2, dG1, dg1, dG2 []F
	emb                       []F      // id table the x rows come from (useID)
	ids                       []uint32 // Layers[K]'s ids
	x                         []F      // Layers[K] id rows (useID)
	f                         []F      // Layers[K] features (featDim > 0), not owned
	h0                        []F      // the first layer's input when it is not x
	fill                      func(lo, hi int)
	y1                        []F // dense pair: ReLU(z·G1 + g1)
	out                       []F
	dy1                       []F
	dz                        []F
	grad                      map[string][]F
	gradNames                 []string
	avxRows                   bool // vec.GatherIDRows64 fills 64-wide id rows
}

// newConvNet binds the network to the parameters by name (params[name]
// has the parameter's values; the network reads them, never writes them)
// and allocates one gradient per parameter. team runs its row blocks.
func newConvNet[F float](arch netArch, params map[string][]F, team *parallel.Team) (*convNet[F], error) {
	if arch.skip && (!arch.dense || arch.outDim != arch.dim) {
		return nil, fmt.Errorf("conv net: the residual needs the dense pair and an output as wide as the input (%d), got %d", arch.dim, arch.outDim)
	}
	n := &convNet[F]{arch: arch, grad: map[string][]F{}, hops: make([]hopCSR[F], len(arch.layers)), team: team}
	n.fill = n.fillInput
	n.avxRows = vec.HasGatherIDRows64()
	var zero F
	_, f32 := any(zero).(float32)
	avx := gatherGo
	if f32 && vec.HasGather128AVX512() {
		avx = gather512
	} else if f32 && vec.HasGather64() {
		avx = gather256
	}
	bind := func(name string, size int) ([]F, []F, error) {
		p, ok := params[name]
		if !ok {
			return nil, nil, fmt.Errorf("conv net: no parameter %s", name)
		}
		if len(p) != size {
			return nil, nil, fmt.Errorf("conv net: parameter %s has %d values, want %d", name, len(p), size)
		}
		g := make([]F, size)
		n.grad[name] = g
		n.gradNames = append(n.gradNames, name)
		return p, g, nil
	}
	var err error
	if arch.featDim > 0 {
		if n.P, n.dP, err = bind("proj/W", arch.featDim*arch.dim); err != nil {
			return nil, err
		}
		if n.pb, n.dpb, err = bind("proj/b", arch.dim); err != nil {
			return nil, err
		}
	}
	for _, la := range arch.layers {
		l := &convLayer[F]{a: la, avx: avx, maskBits: f32 && la.msg && la.hid == 128 && vec.HasReluMaskAVX512()}
		if la.msg {
			if l.Q, l.dQ, err = bind(la.q, la.in*la.hid); err != nil {
				return nil, err
			}
			if l.q, l.dq, err = bind(la.qb, la.hid); err != nil {
				return nil, err
			}
		}
		if l.W, l.dW, err = bind(la.w, (la.in+l.p())*la.out); err != nil {
			return nil, err
		}
		if l.b, l.db, err = bind(la.wb, la.out); err != nil {
			return nil, err
		}
		n.layers = append(n.layers, l)
	}
	if arch.dense {
		last := arch.layers[len(arch.layers)-1].out
		if n.G1, n.dG1, err = bind("dense/G1", last*arch.hidden); err != nil {
			return nil, err
		}
		if n.g1, n.dg1, err = bind("dense/G1/b", arch.hidden); err != nil {
			return nil, err
		}
		if n.G2, n.dG2, err = bind("dense/G2", arch.hidden*arch.outDim); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// setHops loads the batch's hops: layers[k] has sizes[k] nodes; hop k maps
// Layers[k+1] to Layers[k]. train builds the transposes backward needs.
func (n *convNet[F]) setHops(sizes []int, t int, nbrIdx [][]int32, nbrW [][]float32, train bool) {
	K := len(n.arch.layers)
	for k := 0; k < K; k++ {
		la := n.arch.layers[K-1-k]
		n.hops[k].set(sizes[k], sizes[k+1], t, nbrIdx[k], nbrW[k], la.uniform, train && !la.maxPool)
	}
}

// fillInput writes rows [lo,hi) of the first layer's input: the id rows
// from the table (useID), plus the projected features.
func (n *convNet[F]) fillInput(lo, hi int) {
	d := n.arch.dim
	if n.arch.useID {
		if x32, ok := any(n.x).([]float32); ok && d == 64 && hi > lo && n.avxRows {
			vec.GatherIDRows64(&x32[lo*d], &any(n.emb).([]float32)[0], n.ids[lo:hi])
		} else {
			for r := lo; r < hi; r++ {
				id := int(n.ids[r])
				copy(n.x[r*d:r*d+d], n.emb[id*d:id*d+d])
			}
		}
	}
	if fd := n.arch.featDim; fd > 0 {
		h := n.h0[lo*d : hi*d]
		gemm(false, false, hi-lo, d, fd, n.f[lo*fd:hi*fd], fd, n.P, d, 0, h, d)
		addBias(h, n.pb, false)
		if n.arch.useID {
			for i, v := range n.x[lo*d : hi*d] {
				h[i] = v + h[i]
			}
		}
	}
}

// forward runs the network on Layers[K] (ids, whose rows of emb are the id
// inputs when useID; f the len(ids)×featDim features when featDim > 0)
// and returns the N0×outDim output. setHops must have run.
func (n *convNet[F]) forward(emb []F, ids []uint32, f []F) []F {
	d, mK := n.arch.dim, len(ids)
	n.emb, n.ids = emb, ids
	h := n.x
	if n.arch.useID {
		n.x = embedcore.Grow(n.x, mK*d)
		h = n.x
	}
	if n.arch.featDim > 0 {
		n.f = f[:mK*n.arch.featDim]
		n.h0 = embedcore.Grow(n.h0, mK*d)
		h = n.h0
	}
	K := len(n.layers)
	fill := n.fill
	for l, layer := range n.layers {
		h = layer.forward(n.team, h, &n.hops[K-1-l], fill)
		fill = nil
	}
	if !n.arch.dense {
		n.out = h
		return h
	}
	N, zw := n.hops[0].n, n.arch.layers[K-1].out
	hd, od := n.arch.hidden, n.arch.outDim
	n.y1 = embedcore.Grow(n.y1, N*hd)
	gemm(false, false, N, hd, zw, h, zw, n.G1, hd, 0, n.y1, hd)
	addBias(n.y1, n.g1, true)
	n.out = embedcore.Grow(n.out, N*od)
	gemm(false, false, N, od, hd, n.y1, hd, n.G2, od, 0, n.out, od)
	if n.arch.skip {
		// Layers[0] is the first N rows of Layers[K]: the targets' inputs.
		addTo(n.out, n.input()[:N*od])
	}
	return n.out
}

// input is the first layer's input: the id rows, or the projected features
// (plus the id rows) when the store has features.
func (n *convNet[F]) input() []F {
	if n.arch.featDim > 0 {
		return n.h0
	}
	return n.x
}

// backward takes the gradient of the output (N0×outDim, used as scratch),
// sets every parameter gradient (n.grad) and returns the gradient of the
// id rows (mK×dim; meaningful when useID).
func (n *convNet[F]) backward(dout []F) []F {
	K := len(n.layers)
	g := dout
	if n.arch.dense {
		N, zw := n.hops[0].n, n.arch.layers[K-1].out
		hd, od := n.arch.hidden, n.arch.outDim
		z := n.layers[K-1].out
		gemm(true, false, hd, od, N, n.y1, hd, dout, od, 0, n.dG2, od)
		n.dy1 = embedcore.Grow(n.dy1, N*hd)
		gemm(false, true, N, hd, od, dout, od, n.G2, od, 0, n.dy1, hd)
		reluGradColSum(n.dg1, n.dy1, n.y1, false)
		gemm(true, false, zw, hd, N, z, zw, n.dy1, hd, 0, n.dG1, hd)
		n.dz = embedcore.Grow(n.dz, N*zw)
		gemm(false, true, N, zw, hd, n.dy1, hd, n.G1, hd, 0, n.dz, zw)
		g = n.dz
	}
	for l := K - 1; l >= 0; l-- {
		g = n.layers[l].backward(n.team, g)
	}
	if n.arch.skip {
		// the dense branch only read dout
		addTo(g, dout[:n.hops[0].n*n.arch.outDim])
	}
	if n.arch.featDim > 0 {
		mK, d := n.hops[K-1].m, n.arch.dim
		gemm(true, false, n.arch.featDim, d, mK, n.f, n.arch.featDim, g, d, 0, n.dP, d)
		colSum(n.dpb, g, mK, false)
	}
	return g
}

// normRows divides each row of x (w wide) by sqrt(‖row‖² + 1e-12) and
// stores that norm in nrm. float32 sums the squares in 8 lanes (laneSum);
// float64 (the numeric-gradient checks) in one.
func normRows[F float](x, nrm []F, w int) {
	if x32, ok := any(x).([]float32); ok {
		n32 := any(nrm).([]float32)
		if w%8 == 0 && len(n32) > 0 && vec.HasConvAVX2() {
			vec.NormRowsAVX2(&x32[0], &n32[0], len(n32), w)
			return
		}
		normRowsGo(x32, n32, w)
		return
	}
	for r := range nrm {
		row := x[r*w : r*w+w]
		var s F
		for _, v := range row {
			s += v * v
		}
		s = F(math.Sqrt(float64(s + 1e-12)))
		nrm[r] = s
		inv := 1 / s
		for c := range row {
			row[c] *= inv
		}
	}
}

// normBack maps the gradient g of normRows' output rows y (norms nrm) to
// the gradient of its input: g ← (g − y·(y·g)) / nrm, the dot product
// summed as normRows sums.
func normBack[F float](g, y, nrm []F, w int) {
	if g32, ok := any(g).([]float32); ok {
		y32, n32 := any(y).([]float32), any(nrm).([]float32)
		if w%8 == 0 && len(n32) > 0 && vec.HasConvAVX2() {
			vec.NormBackAVX2(&g32[0], &y32[0], &n32[0], len(n32), w)
			return
		}
		normBackGo(g32, y32, n32, w)
		return
	}
	for r := range nrm {
		yr, gr := y[r*w:r*w+w], g[r*w:r*w+w]
		var s F
		for c, v := range yr {
			s += v * gr[c]
		}
		inv := 1 / nrm[r]
		for c, v := range yr {
			gr[c] = (gr[c] - v*s) * inv
		}
	}
}

// normRowsGo is normRows's float32 loop, the kernels' reference.
func normRowsGo(x, nrm []float32, w int) {
	for r := range nrm {
		row := x[r*w : r*w+w]
		var lanes [8]float32
		for c, v := range row {
			lanes[c%8] += v * v
		}
		s := float32(math.Sqrt(float64(laneSum(&lanes) + 1e-12)))
		nrm[r] = s
		inv := 1 / s
		for c := range row {
			row[c] *= inv
		}
	}
}

// normBackGo is normBack's float32 loop, the kernels' reference.
func normBackGo(g, y, nrm []float32, w int) {
	for r := range nrm {
		yr, gr := y[r*w:r*w+w], g[r*w:r*w+w]
		var lanes [8]float32
		for c, v := range yr {
			lanes[c%8] += v * gr[c]
		}
		s := laneSum(&lanes)
		inv := 1 / nrm[r]
		for c, v := range yr {
			gr[c] = (gr[c] - v*s) * inv
		}
	}
}

// laneSum reduces 8 lane sums as the AVX2 kernels do:
// ((a0+a4)+(a2+a6)) + ((a1+a5)+(a3+a7)).
func laneSum(a *[8]float32) float32 {
	return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]))
}

// addBias adds b to every row of x (rows of len(b)), then applies relu
// when act: gorgonia's BroadcastAdd of the bias to the product, and its
// Rectify.
func addBias[F float](x, b []F, act bool) {
	w := len(b)
	if x32, ok := any(x).([]float32); ok && w%8 == 0 && len(x) >= w && vec.HasConvAVX2() {
		vec.AddBiasAVX2(&x32[0], &any(b).([]float32)[0], len(x)/w, w, act)
		return
	}
	for r := 0; r+w <= len(x); r += w {
		row := x[r : r+w : r+w]
		for c, v := range b[:len(row)] {
			row[c] += v
		}
	}
	if act {
		relu(x)
	}
}

// colSum sets dst (w) to the column sums of the n×w matrix g, row by
// row, or with acc adds them to dst row by row.
func colSum[F float](dst, g []F, n int, acc bool) {
	w := len(dst)
	if !acc {
		clear(dst)
	}
	for r := 0; r < n; r++ {
		for c, v := range g[r*w : r*w+w] {
			dst[c] += v
		}
	}
}

// relu is gorgonia's Rectify, x·[x ≥ 0]: a negative x becomes -0, so the
// sign bit keeps the mask for reluGrad. Both are branch-free (the signs of
// pre-activations are random: a branch per element mispredicts half the
// time) and, in float32, work on two values per 64-bit word, several
// times faster than one float at a time.
func relu[F float](x []F) {
	switch xx := any(x).(type) {
	case []float32:
		n := len(xx) / 2
		u := unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(xx))), n)
		for i, v := range u {
			// a lane with its sign set keeps only the sign: -0
			u[i] = v &^ (((v & 0x8000000080000000) >> 31) * 0x7fffffff)
		}
		if len(xx)%2 == 1 {
			b := math.Float32bits(xx[len(xx)-1])
			xx[len(xx)-1] = math.Float32frombits(b &^ (uint32(int32(b)>>31) & 0x7fffffff))
		}
	case []float64:
		for i, v := range xx {
			b := math.Float64bits(v)
			xx[i] = math.Float64frombits(b &^ (uint64(int64(b)>>63) & 0x7fffffffffffffff))
		}
	}
}

// reluGrad zeroes g where the ReLU output y has its sign bit set (the
// input was negative); the gradient passes where the input was ≥ 0. (An
// input of exactly -0, which GEMM and bias never produce from +0
// accumulators, would stop the gradient here and pass it in gorgonia.)
func reluGrad[F float](g, y []F) {
	switch yy := any(y).(type) {
	case []float32:
		gg := any(g).([]float32)[:len(yy)]
		n := len(yy) / 2
		gu := unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(gg))), n)
		yu := unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(yy))), n)
		for i, v := range yu {
			gu[i] &^= ((v & 0x8000000080000000) >> 31) * 0xffffffff
		}
		if len(yy)%2 == 1 {
			k := len(yy) - 1
			gg[k] = math.Float32frombits(math.Float32bits(gg[k]) &^ uint32(int32(math.Float32bits(yy[k]))>>31))
		}
	case []float64:
		gg := any(g).([]float64)[:len(yy)]
		for i, v := range yy {
			gg[i] = math.Float64frombits(math.Float64bits(gg[i]) &^ uint64(int64(math.Float64bits(v))>>63))
		}
	}
}

// reluGradColSum is reluGrad(g, y) followed by colSum(dst, g, rows, acc).
func reluGradColSum[F float](dst, g, y []F, acc bool) {
	w := len(dst)
	if d32, ok := any(dst).([]float32); ok && w%32 == 0 && len(y) >= w && vec.HasConvAVX2() {
		g32 := any(g).([]float32)[:len(y)]
		vec.ReluGradColSumAVX2(&d32[0], &g32[0], &any(y).([]float32)[0], len(y)/w, w, acc)
		return
	}
	reluGrad(g, y)
	colSum(dst, g, len(y)/len(dst), acc)
}

// gatherKernel picks gatherInto's float32 kernel; all give the same bits.
type gatherKernel uint8

const (
	gatherGo  gatherKernel = iota // the Go loop (and every float64 gather)
	gather256                     // vec.Gather64 on 64-column strips
	gather512                     // vec.Gather128AVX512 on 128-column strips
)

// gatherInto sets o = Σ_k ws[k]·src[cols[k]] for rows of src that are
// stride apart (len(o) columns each), summing in k order from +0.
func gatherInto[F float](o, src []F, stride int, cols []int32, ws []F, avx gatherKernel) {
	d := len(o)
	if avx == gather512 && d%128 == 0 && len(cols) > 0 {
		o32, s32, w32 := any(o).([]float32), any(src).([]float32), any(ws).([]float32)
		for j := 0; j < d; j += 128 {
			vec.Gather128AVX512(&o32[j : j+128][0], &s32[j], 4*stride, cols, w32[:len(cols)])
		}
		return
	}
	if avx != gatherGo && d%64 == 0 && len(cols) > 0 {
		o32, s32, w32 := any(o).([]float32), any(src).([]float32), any(ws).([]float32)
		for j := 0; j < d; j += 64 {
			vec.Gather64(&o32[j : j+64][0], &s32[j], 4*stride, cols, w32[:len(cols)])
		}
		return
	}
	clear(o)
	for k, c := range cols {
		w := ws[k]
		row := src[int(c)*stride : int(c)*stride+d]
		for i, v := range row {
			o[i] += F(w * v)
		}
	}
}

// maxPool sets out[n·ld + c] for the targets n in [lo,hi) to the maximum
// of column c over target n's valid slots, and arg to the row it came
// from (the first maximal slot), or 0 and -1 without valid slots.
func maxPool[F float](out []F, ld int, arg []int32, src []F, p int, hop *hopCSR[F], lo, hi int) {
	for n := lo; n < hi; n++ {
		o := out[n*ld : n*ld+p]
		ar := arg[n*p : n*p+p]
		s, e := hop.ptr[n], hop.ptr[n+1]
		if s == e {
			clear(o)
			for c := range ar {
				ar[c] = -1
			}
			continue
		}
		r0 := hop.col[s]
		copy(o, src[int(r0)*p:int(r0)*p+p])
		for c := range ar {
			ar[c] = r0
		}
		for _, r := range hop.col[s+1 : e] {
			row := src[int(r)*p : int(r)*p+p]
			for c, v := range row {
				if v > o[c] {
					o[c], ar[c] = v, r
				}
			}
		}
	}
}

// gemm is C = op(A)·op(B) + beta·C on linalg's backend (alpha 1).
func gemm[F float](tA, tB bool, m, n, k int, a []F, lda int, b []F, ldb int, beta F, c []F, ldc int) {
	switch aa := any(a).(type) {
	case []float32:
		linalg.Sgemm(tA, tB, m, n, k, 1, aa, lda, any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc)
	case []float64:
		if m == 0 || n == 0 {
			return
		}
		t := func(x bool) blas.Transpose {
			if x {
				return blas.Trans
			}
			return blas.NoTrans
		}
		linalg.Implementation{}.Dgemm(t(tA), t(tB), m, n, k, 1, aa, lda, any(b).([]float64), ldb, float64(beta), any(c).([]float64), ldc)
	}
}
