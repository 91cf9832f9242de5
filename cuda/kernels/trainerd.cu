// trainerd's CUDA kernels. Compiled to PTX by `go generate ./cuda/` (nvcc
// -ptx -arch=compute_80); the PTX is committed and embedded, so building
// trainerd-cuda needs no nvcc. Every kernel is extern "C" so cu.Module.Function
// finds it by name. All matrices are row-major float32; indices are int32.
//
// Launch conventions (see cuda/kernels.go): 1-D kernels over n elements use
// blocks of 256 threads and a grid-stride loop; row kernels use one block per
// row (blockDim.x a power of two ≤ 1024) or one warp per row as documented.

#include <cuda_runtime.h>
#include <float.h>
#include <math_constants.h>

#define GRID_STRIDE(i, n) for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (long long)(n); i += (long long)blockDim.x * gridDim.x)

// ---------------------------------------------------------------- helpers

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ double warp_sum_d(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ double warp_max_d(double v) {
    for (int o = 16; o > 0; o >>= 1) v = fmax(v, __shfl_down_sync(0xffffffffu, v, o));
    return v;
}

// block_sum_d sums v over the block (blockDim.x a multiple of 32, ≤ 1024);
// every thread gets the result. sh must hold 32 doubles.
__device__ double block_sum_d(double v, double* sh) {
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    v = warp_sum_d(v);
    __syncthreads();
    if (lane == 0) sh[w] = v;
    __syncthreads();
    int nw = (blockDim.x + 31) >> 5;
    double t = (threadIdx.x < nw) ? sh[threadIdx.x] : 0.0;
    if (w == 0) t = warp_sum_d(t);
    if (threadIdx.x == 0) sh[0] = t;
    __syncthreads();
    double r = sh[0];
    __syncthreads();
    return r;
}

__device__ double block_max_d(double v, double* sh) {
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    v = warp_max_d(v);
    __syncthreads();
    if (lane == 0) sh[w] = v;
    __syncthreads();
    int nw = (blockDim.x + 31) >> 5;
    double t = (threadIdx.x < nw) ? sh[threadIdx.x] : -CUDART_INF;
    if (w == 0) t = warp_max_d(t);
    if (threadIdx.x == 0) sh[0] = t;
    __syncthreads();
    double r = sh[0];
    __syncthreads();
    return r;
}

__device__ __forceinline__ double softplus_d(double x) { return fmax(x, 0.0) + log1p(exp(-fabs(x))); }

__device__ __forceinline__ double sigmoid_d(double x) {
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

extern "C" {

// ---------------------------------------------------------------- elementwise

// fill: x[i] = v.
__global__ void fill_f32(float* x, float v, long long n) {
    GRID_STRIDE(i, n) x[i] = v;
}

// axpby: y = a*x + b*y; b == 0 never reads y.
__global__ void axpby_f32(float* y, const float* x, float a, float b, long long n) {
    GRID_STRIDE(i, n) y[i] = (b == 0.f) ? a * x[i] : a * x[i] + b * y[i];
}

// ---------------------------------------------------------------- gather / scatter

// gather_rows: out[i,:] = table[idx[i],:] for i < n; d columns.
__global__ void gather_rows(float* out, const float* table, const int* idx, int n, int d) {
    GRID_STRIDE(t, (long long)n * d) {
        long long i = t / d;
        int c = (int)(t - i * d);
        out[t] = table[(long long)idx[i] * d + c];
    }
}

// scatter_add_rows: table[idx[i],:] += alpha * src[i,:] (atomic: idx may repeat).
__global__ void scatter_add_rows(float* table, const float* src, const int* idx, int n, int d, float alpha) {
    GRID_STRIDE(t, (long long)n * d) {
        long long i = t / d;
        int c = (int)(t - i * d);
        atomicAdd(&table[(long long)idx[i] * d + c], alpha * src[t]);
    }
}

// ---------------------------------------------------------------- SGEMM
// C (M×N) = alpha * op(A) * op(B) + beta * C, op(A) M×K, op(B) K×N, row-major.
// ta: A is stored K×M (lda ≥ M) and transposed; tb likewise for B (N×K).
// beta == 0 never reads C. 64×64 block tile, BK=16, 256 threads, 4×4 per thread.

#define TM 64
#define TN 64
#define TK 16

__global__ void __launch_bounds__(256) sgemm(int ta, int tb, int M, int N, int K, float alpha,
                                             const float* __restrict__ A, int lda,
                                             const float* __restrict__ B, int ldb,
                                             float beta, float* __restrict__ C, int ldc) {
    __shared__ float As[TK][TM + 4];
    __shared__ float Bs[TK][TN + 4];
    int tid = threadIdx.x;
    int tx = tid & 15, ty = tid >> 4;
    int m0 = blockIdx.y * TM, n0 = blockIdx.x * TN;
    float acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] = 0.f;

    for (int k0 = 0; k0 < K; k0 += TK) {
        // load A tile: TM×TK = 1024 values, 4 per thread
#pragma unroll
        for (int l = 0; l < 4; l++) {
            int e = tid + l * 256;
            int mm, kk;
            if (ta) { kk = e / TM; mm = e % TM; } else { mm = e / TK; kk = e % TK; }
            int gm = m0 + mm, gk = k0 + kk;
            float v = 0.f;
            if (gm < M && gk < K) v = ta ? A[(long long)gk * lda + gm] : A[(long long)gm * lda + gk];
            As[kk][mm] = v;
        }
#pragma unroll
        for (int l = 0; l < 4; l++) {
            int e = tid + l * 256;
            int nn, kk;
            if (tb) { nn = e / TK; kk = e % TK; } else { kk = e / TN; nn = e % TN; }
            int gn = n0 + nn, gk = k0 + kk;
            float v = 0.f;
            if (gn < N && gk < K) v = tb ? B[(long long)gn * ldb + gk] : B[(long long)gk * ldb + gn];
            Bs[kk][nn] = v;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < TK; kk++) {
            float a[4], b[4];
#pragma unroll
            for (int i = 0; i < 4; i++) a[i] = As[kk][ty + 16 * i];
#pragma unroll
            for (int j = 0; j < 4; j++) b[j] = Bs[kk][tx + 16 * j];
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        int gm = m0 + ty + 16 * i;
        if (gm >= M) continue;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int gn = n0 + tx + 16 * j;
            if (gn >= N) continue;
            float* c = &C[(long long)gm * ldc + gn];
            *c = (beta == 0.f) ? alpha * acc[i][j] : alpha * acc[i][j] + beta * *c;
        }
    }
}

// ---------------------------------------------------------------- dense layer pieces

// bias_relu_fwd: y[r,c] = max(0, x[r,c] + b[c]) (relu != 0) or x + b. y may alias x.
__global__ void bias_relu_fwd(float* y, const float* x, const float* b, int n, int d, int relu) {
    GRID_STRIDE(t, (long long)n * d) {
        float v = x[t] + b[t % d];
        y[t] = (relu && v < 0.f) ? 0.f : v;
    }
}

// relu_bwd: dx = dy where y > 0, else 0. dx may alias dy.
__global__ void relu_bwd(float* dx, const float* dy, const float* y, long long n) {
    GRID_STRIDE(i, n) dx[i] = y[i] > 0.f ? dy[i] : 0.f;
}

// col_sum: out[c] = beta*out[c] + Σ_r x[r,c] (bias gradient). One thread per
// column; beta == 0 never reads out.
__global__ void col_sum(float* out, const float* x, int n, int d, float beta) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= d) return;
    float s = 0.f;
    for (int r = 0; r < n; r++) s += x[(long long)r * d + c];
    out[c] = (beta == 0.f) ? s : beta * out[c] + s;
}

// ---------------------------------------------------------------- importance pooling
// out[n,:] = Σ_{s<T} w[n*T+s] * x[idx[n*T+s],:]

__global__ void pool_fwd(float* out, const float* x, const int* idx, const float* w, int n, int T, int d) {
    GRID_STRIDE(t, (long long)n * d) {
        long long r = t / d;
        int c = (int)(t - r * d);
        float s = 0.f;
        for (int k = 0; k < T; k++) {
            long long e = r * T + k;
            s = fmaf(w[e], x[(long long)idx[e] * d + c], s);
        }
        out[t] = s;
    }
}

// pool_bwd_x: dx[idx[e],:] += w[e] * dout[e/T,:] (atomic).
__global__ void pool_bwd_x(float* dx, const float* dout, const int* idx, const float* w, int n, int T, int d) {
    GRID_STRIDE(t, (long long)n * T * d) {
        long long e = t / d;
        int c = (int)(t - e * d);
        long long r = e / T;
        atomicAdd(&dx[(long long)idx[e] * d + c], w[e] * dout[r * d + c]);
    }
}

// pool_bwd_w: dw[e] = dout[e/T,:] · x[idx[e],:]. One warp per slot e.
__global__ void pool_bwd_w(float* dw, const float* dout, const float* x, const int* idx, int n, int T, int d) {
    long long warp = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (warp >= (long long)n * T) return;
    long long r = warp / T;
    const float* a = dout + r * d;
    const float* b = x + (long long)idx[warp] * d;
    float s = 0.f;
    for (int c = lane; c < d; c += 32) s = fmaf(a[c], b[c], s);
    s = warp_sum(s);
    if (lane == 0) dw[warp] = s;
}

// ---------------------------------------------------------------- row L2 normalisation
// y = x / sqrt(Σx² + 1e-12), inv[r] = 1/sqrt(Σx² + 1e-12). One warp per row.

__global__ void l2norm_fwd(float* y, float* inv, const float* x, int n, int d) {
    long long r = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (r >= n) return;
    const float* xr = x + r * d;
    double s = 0.0;
    for (int c = lane; c < d; c += 32) s += (double)xr[c] * xr[c];
    s = warp_sum_d(s);
    s = __shfl_sync(0xffffffffu, s, 0);
    float iv = (float)(1.0 / sqrt(s + 1e-12));
    if (lane == 0) inv[r] = iv;
    for (int c = lane; c < d; c += 32) y[r * d + c] = xr[c] * iv;
}

// l2norm_bwd: dx = (dy - y (y·dy)) * inv. dx may alias dy. One warp per row.
__global__ void l2norm_bwd(float* dx, const float* dy, const float* y, const float* inv, int n, int d) {
    long long r = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (r >= n) return;
    const float* g = dy + r * d;
    const float* yr = y + r * d;
    float s = 0.f;
    for (int c = lane; c < d; c += 32) s = fmaf(g[c], yr[c], s);
    s = warp_sum(s);
    s = __shfl_sync(0xffffffffu, s, 0);
    float iv = inv[r];
    for (int c = lane; c < d; c += 32) dx[r * d + c] = (g[c] - yr[c] * s) * iv;
}

// ---------------------------------------------------------------- losses

// group_dot: out[j*H+h] = q[j,:] · x[j*H+h,:] for j < B, h < H. One warp per output.
__global__ void group_dot(float* out, const float* q, const float* x, int B, int H, int d) {
    long long o = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (o >= (long long)B * H) return;
    long long j = o / H;
    const float* a = q + j * d;
    const float* b = x + o * d;
    float s = 0.f;
    for (int c = lane; c < d; c += 32) s = fmaf(a[c], b[c], s);
    s = warp_sum(s);
    if (lane == 0) out[o] = s;
}

// group_grad: for each j: gq[j,:] += Σ_h g[j*H+h] * x[j*H+h,:];
// gx[j*H+h,:] = g[j*H+h] * q[j,:] (+ gx when accum != 0). One thread per (j, c).
__global__ void group_grad(float* gq, float* gx, const float* g, const float* q, const float* x, int B, int H, int d, int accum) {
    GRID_STRIDE(t, (long long)B * d) {
        long long j = t / d;
        int c = (int)(t - j * d);
        float qv = q[t];
        float s = gq[t];
        for (int h = 0; h < H; h++) {
            long long o = j * H + h;
            float gv = g[o];
            s = fmaf(gv, x[o * d + c], s);
            gx[o * d + c] = accum ? gx[o * d + c] + gv * qv : gv * qv;
        }
        gq[t] = s;
    }
}

// MASK_SCORE replaces the scores of masked columns, as consumer/loss's
// maskScore (-math.MaxFloat32/4): far below any real score, so every loss
// maps it to a zero term and a zero gradient (exp underflows to 0, the
// softplus of it minus s⁺ is 0, the margin hinge is inactive), and finite,
// so no ∞-∞ NaN arises.
#define MASK_SCORE (-FLT_MAX / 4)

// mask_scores: one warp per example row j < B. For every entry c of
// mask[ptr[j]..ptr[j+1]) (a column in [0, n); entries outside are skipped,
// the host validates them) sets s[j*ld + c] = MASK_SCORE, and writes to
// nmasked[j] the number of distinct columns it newly masked (a column
// repeated in the list, or already masked, counts once: atomicExch tells
// which lane masked it first), added to nmasked[j] when accum != 0. So
// nmasked[j] is what consumer/loss applyMask returns, summed over the masks.
__global__ void mask_scores(float* s, int* nmasked, const int* ptr, const int* mask, int B, int n, int ld, int accum) {
    long long j = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (j >= B) return;
    const int sentinel = __float_as_int(MASK_SCORE);
    int e0 = ptr[j], e1 = ptr[j + 1];
    int cnt = 0;
    for (int b = e0; b < e1; b += 32) {   // warp-uniform trip count
        int e = b + lane;
        bool fresh = false;
        if (e < e1) {
            int c = mask[e];
            if (c >= 0 && c < n)
                fresh = atomicExch((int*)&s[j * ld + c], sentinel) != sentinel;
        }
        cnt += __popc(__ballot_sync(0xffffffffu, fresh));
    }
    if (lane == 0) nmasked[j] = accum ? nmasked[j] + cnt : cnt;
}

// rank_loss_rows: one block per example j. Inputs: spos[j] (positive score),
// pool scores sp[j*P..] (P), in-batch scores sin[j*B..] (B, diagonal skipped;
// sin may be NULL), hard scores sh[j*H..] (H). Writes rowloss[j] (double
// precision, un-averaged per the package loss doc) and overwrites every score
// with dLoss/dscore divided by B (the mean over the batch), spos too.
// kind: 0 bpr, 1 margin, 2 softmax, 3 sgns. Matches consumer/loss row().
// nmasked (NULL for none) holds per row the number of distinct pool and
// in-batch columns mask_scores set to MASK_SCORE: they are not negatives,
// so |N_j| = P + H (+ B-1) - nmasked[j]; their loss terms and gradients are
// 0 through the sentinel alone. When |N_j| = 0 the 1/|N_j| factor is 0, as
// on the CPU (bpr and margin lose nothing, sgns keeps its positive term).
__global__ void rank_loss_rows(double* rowloss, float* spos, float* sp, float* sin, float* sh, const int* nmasked,
                               int B, int P, int H, int kind, float margin, float temperature) {
    __shared__ double red[32];
    int j = blockIdx.x;
    if (j >= B) return;
    float* pool = sp + (long long)j * P;
    float* inr = sin ? sin + (long long)j * B : (float*)0;
    float* hard = sh + (long long)j * H;
    int nIn = sin ? B : 0;
    int total = P + nIn + H;   // virtual index space over the three parts
    double s_pos = spos[j];
    double invB = 1.0 / B;
    int nNeg = P + H + (sin ? B - 1 : 0) - (nmasked ? nmasked[j] : 0);
    double invN = nNeg > 0 ? 1.0 / nNeg : 0.0;
#define SCORE_AT(e) ((e) < P ? &pool[(e)] : ((e) < P + nIn ? &inr[(e) - P] : &hard[(e) - P - nIn]))
#define SKIP(e) ((e) >= P && (e) < P + nIn && ((e) - P) == j)
    double loss = 0.0, gpos = 0.0;
    if (kind == 0 || kind == 1 || kind == 3) {
        for (int e = threadIdx.x; e < total; e += blockDim.x) {
            float* sc = SCORE_AT(e);
            if (SKIP(e)) { *sc = 0.f; continue; }
            double s = *sc, g = 0.0;
            if (kind == 0) {
                double x = s_pos - s;
                loss += softplus_d(-x);
                g = sigmoid_d(-x) * invN * invB;
                gpos -= g;
            } else if (kind == 1) {
                double h = (double)margin - s_pos + s;
                if (h > 0) { loss += h; g = invN * invB; gpos -= g; }
            } else {
                loss += softplus_d(s) * invN;
                g = sigmoid_d(s) * invN * invB;
            }
            *sc = (float)g;
        }
        loss = block_sum_d(loss, red);
        gpos = block_sum_d(gpos, red);
        if (threadIdx.x == 0) {
            if (kind == 3) {
                loss += softplus_d(-s_pos);
                gpos = -sigmoid_d(-s_pos) * invB;
            } else {
                loss *= invN;
            }
            rowloss[j] = loss;
            spos[j] = (float)gpos;
        }
        return;
    }
    // softmax with temperature over {pos} ∪ negatives
    double it = 1.0 / (double)temperature;
    double m = s_pos * it;
    for (int e = threadIdx.x; e < total; e += blockDim.x) {
        if (SKIP(e)) continue;
        m = fmax(m, (double)*SCORE_AT(e) * it);
    }
    m = block_max_d(m, red);
    double ep = exp(s_pos * it - m);
    double z = 0.0;
    for (int e = threadIdx.x; e < total; e += blockDim.x) {
        if (SKIP(e)) continue;
        z += exp((double)*SCORE_AT(e) * it - m);
    }
    z = block_sum_d(z, red) + ep;
    double scale = it * invB / z;
    for (int e = threadIdx.x; e < total; e += blockDim.x) {
        float* sc = SCORE_AT(e);
        if (SKIP(e)) { *sc = 0.f; continue; }
        *sc = (float)(exp((double)*sc * it - m) * scale);
    }
    if (threadIdx.x == 0) {
        rowloss[j] = log(z) + m - s_pos * it;
        spos[j] = (float)((ep / z - 1.0) * it * invB);
    }
#undef SCORE_AT
#undef SKIP
}

// ---------------------------------------------------------------- optimiser

// l2_reg_rows: for each listed row k (r = rows[k]): grad[g,:] += lam * table[r,:]
// with g = k (sparse != 0) or r (dense), and sumsq[k] = Σ table[r,:]² in double.
// One warp per row.
__global__ void l2_reg_rows(float* grad, double* sumsq, const float* table, const int* rows, int n, int d,
                            float lam, int sparse) {
    long long k = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (k >= n) return;
    long long r = rows[k];
    const float* e = table + r * d;
    float* g = grad + (sparse ? k : r) * d;
    double s = 0.0;
    for (int c = lane; c < d; c += 32) {
        float v = e[c];
        s += (double)v * v;
        g[c] += lam * v;
    }
    s = warp_sum_d(s);
    if (lane == 0) sumsq[k] = s;
}

// sparse_adam: for each listed row k (rows distinct), with g = grads[k,:]:
// steps[r]++; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g²;
// p -= lr*c2/c1 * m / (sqrt(v) + eps*c2), c1 = 1-b1^t, c2 = sqrt(1-b2^t).
// rows == NULL means every row (dense), k == r. One block per row.
// Matches consumer/optim Adam.Update.
__global__ void sparse_adam(float* param, float* M, float* V, float* steps, const int* rows,
                            const float* grads, int n, int d, float lr, float b1, float b2, float eps) {
    for (int k = blockIdx.x; k < n; k += gridDim.x) {
        int r = rows ? rows[k] : k;
        float t = steps[r] + 1.0f;
        __syncthreads();
        if (threadIdx.x == 0) steps[r] = t;
        double c1 = 1.0 - pow((double)b1, (double)t);
        double c2 = sqrt(1.0 - pow((double)b2, (double)t));
        float step = (float)((double)lr * c2 / c1);
        float e = (float)((double)eps * c2);
        long long base = (long long)r * d;
        for (int c = threadIdx.x; c < d; c += blockDim.x) {
            float g = grads[(long long)k * d + c];
            float m = b1 * M[base + c] + (1.f - b1) * g;
            float v = b2 * V[base + c] + (1.f - b2) * g * g;
            M[base + c] = m;
            V[base + c] = v;
            param[base + c] -= step * m / (sqrtf(v) + e);
        }
    }
}

// ---------------------------------------------------------------- sparse propagation

// csr_spmm: out[r,:] = beta*out[r,:] + alpha * Σ_{e∈[ptr[r],ptr[r+1])} val[e] * x[col[e],:].
// One warp per row; lanes over columns. beta == 0 never reads out.
__global__ void csr_spmm(float* out, const int* ptr, const int* col, const float* val, const float* x,
                         int n, int d, float alpha, float beta) {
    long long r = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (r >= n) return;
    int e0 = ptr[r], e1 = ptr[r + 1];
    for (int c0 = 0; c0 < d; c0 += 32) {
        int c = c0 + lane;
        if (c >= d) break;
        float s = 0.f;
        for (int e = e0; e < e1; e++) s = fmaf(val[e], x[(long long)col[e] * d + c], s);
        float* o = &out[r * d + c];
        *o = (beta == 0.f) ? alpha * s : alpha * s + beta * *o;
    }
}

} // extern "C"
