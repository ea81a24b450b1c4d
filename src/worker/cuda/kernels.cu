// The worker's own CUDA kernels, compiled to PTX by build.rs when the `cuda` feature is on.
// Each is the GPU twin of a CPU kernel in src/worker/model/ops.rs or src/worker/train/optim.rs, doing
// the same maths in the same order, so that CPU and GPU runs agree to rounding.
#include <stdint.h>

struct Add {
    __device__ float operator()(float a, float b) const { return a + b; }
};
struct Max {
    __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

// Reduces `v` over the block with `op`; `shared` holds 33 floats. Every thread gets the result.
template <typename Op>
__device__ float block_reduce(float v, float identity, float* shared, Op op) {
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
    __syncthreads();  // an earlier call may still be reading `shared`
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < warps ? shared[lane] : identity;
        for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
        if (lane == 0) shared[32] = v;
    }
    __syncthreads();
    return shared[32];
}

__device__ float block_sum(float v, float* shared) { return block_reduce(v, 0.0f, shared, Add()); }
__device__ float block_max(float v, float* shared) { return block_reduce(v, -INFINITY, shared, Max()); }

// A row's mean and 1/sqrt(variance + eps), as fused.rs's row_stats computes them.
__device__ void row_stats(const float* xr, uint32_t width, float eps, float* shared, float* mean, float* inv) {
    float s = 0.0f;
    for (uint32_t i = threadIdx.x; i < width; i += blockDim.x) s += xr[i];
    const float m = block_sum(s, shared) / width;
    float q = 0.0f;
    for (uint32_t i = threadIdx.x; i < width; i += blockDim.x) q += (xr[i] - m) * (xr[i] - m);
    *mean = m;
    *inv = 1.0f / sqrtf(block_sum(q, shared) / width + eps);
}

// The (i+1)-th draw of the worker's counter-based SplitMix64 stream at `state` (src/worker/rng.rs),
// uniform in [0, 1): element i of a dropout mask, the CPU's, element for element.
__device__ __forceinline__ float draw(uint64_t state, uint64_t i) {
    uint64_t z = state + (i + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (float)(z >> 40) / 16777216.0f;
}

// Element i's dropout multiplier: 0 (dropped) or `scale`; 1 when p is 0 (no dropout).
__device__ __forceinline__ float keep(uint64_t state, uint64_t i, float p, float scale) {
    if (p <= 0.0f) return 1.0f;
    return draw(state, i) < p ? 0.0f : scale;
}

// LayerNorm with its affine part, one block per row of `width`.
extern "C" __global__ void yj_layer_norm(const float* x, const float* g, const float* b, float* y, uint32_t width, float eps) {
    __shared__ float shared[33];
    const float* xr = x + (size_t)blockIdx.x * width;
    float* yr = y + (size_t)blockIdx.x * width;
    float mean, inv;
    row_stats(xr, width, eps, shared, &mean, &inv);
    for (uint32_t i = threadIdx.x; i < width; i += blockDim.x) yr[i] = (xr[i] - mean) * inv * g[i] + b[i];
}

// With x̂ = (x - mean) / sigma and g = dy * weight: dx = (g - mean(g) - x̂ * mean(g * x̂)) / sigma
// into the first `rows` rows of `out`, dy * x̂ (for the weight's gradient) into the next `rows`.
// With `planes` 4, dy is dy + more (when `has_more`), and two more planes follow: dx through the
// dropout mask (state, p, keep_scale), then dy.
extern "C" __global__ void yj_layer_norm_grad(const float* x, const float* w, const float* dy, const float* more, uint32_t has_more,
                                              float* out, uint32_t width, float eps, uint32_t planes, uint64_t state, float p,
                                              float keep_scale) {
    __shared__ float shared[33];
    const size_t row = (size_t)blockIdx.x * width, plane = (size_t)gridDim.x * width;
    const float *xr = x + row, *gr = dy + row, *mr = more + row;
    float* dr = out + row;
    float* er = out + plane + row;
    float mean, inv;
    row_stats(xr, width, eps, shared, &mean, &inv);
    float sg = 0.0f, sgx = 0.0f;
    for (uint32_t i = threadIdx.x; i < width; i += blockDim.x) {
        const float gi = (has_more ? gr[i] + mr[i] : gr[i]) * w[i];
        sg += gi;
        sgx += gi * (xr[i] - mean) * inv;
    }
    const float mean_g = block_sum(sg, shared) / width;
    const float mean_gx = block_sum(sgx, shared) / width;
    float* kr = out + 2 * plane + row;
    float* yr = out + 3 * plane + row;
    for (uint32_t i = threadIdx.x; i < width; i += blockDim.x) {
        const float d = has_more ? gr[i] + mr[i] : gr[i];
        const float xhat = (xr[i] - mean) * inv;
        dr[i] = (d * w[i] - mean_g - xhat * mean_gx) * inv;
        er[i] = d * xhat;
        if (planes == 4) {
            kr[i] = keep(state, row + i, p, keep_scale) * dr[i];
            yr[i] = d;
        }
    }
}

// Softmax of row `blockIdx.x` of scores * scale + the padding mask of its batch entry, into `y`.
__device__ void masked_softmax(const float* s, const float* mask, float* y, uint32_t width, uint32_t rows_per_entry, float scale, float* shared) {
    const size_t row = (size_t)blockIdx.x * width;
    const float* m = mask + (size_t)(blockIdx.x / rows_per_entry) * width;
    float mx = -INFINITY;
    for (uint32_t i = threadIdx.x; i < width; i += blockDim.x) {
        y[row + i] = s[row + i] * scale + m[i];
        mx = fmaxf(mx, y[row + i]);
    }
    const float max = block_max(mx, shared);
    float sum = 0.0f;
    for (uint32_t i = threadIdx.x; i < width; i += blockDim.x) {
        y[row + i] = expf(y[row + i] - max);
        sum += y[row + i];
    }
    const float inv = 1.0f / block_sum(sum, shared);
    for (uint32_t i = threadIdx.x; i < width; i += blockDim.x) y[row + i] *= inv;
}

// The attention's probabilities: dropout(softmax(scores * scale + mask)), one block per row.
extern "C" __global__ void yj_attention_probs(const float* s, const float* mask, float* y, uint32_t width, uint32_t rows_per_entry,
                                              float scale, uint64_t state, float p, float keep_scale) {
    __shared__ float shared[33];
    masked_softmax(s, mask, y, width, rows_per_entry, scale, shared);
    const size_t row = (size_t)blockIdx.x * width;
    if (p > 0.0f)
        for (uint32_t i = threadIdx.x; i < width; i += blockDim.x) y[row + i] *= keep(state, row + i, p, keep_scale);
}

// With y the softmax (recomputed) and g = dy * mask: d scores = y * (g - sum(g * y)) * scale.
extern "C" __global__ void yj_attention_probs_grad(const float* s, const float* mask, const float* dy, float* dx, uint32_t width,
                                                   uint32_t rows_per_entry, float scale, uint64_t state, float p, float keep_scale) {
    __shared__ float shared[33];
    masked_softmax(s, mask, dx, width, rows_per_entry, scale, shared);  // dx holds y for now
    const size_t row = (size_t)blockIdx.x * width;
    float d = 0.0f;
    for (uint32_t i = threadIdx.x; i < width; i += blockDim.x) d += dx[row + i] * (dy[row + i] * keep(state, row + i, p, keep_scale));
    const float dot = block_sum(d, shared);
    for (uint32_t i = threadIdx.x; i < width; i += blockDim.x) {
        const float g = dy[row + i] * keep(state, row + i, p, keep_scale);
        dx[row + i] = dx[row + i] * (g - dot) * scale;
    }
}

// The feed-forward activation (src/worker/model/config.rs's HiddenAct: 0 gelu, 1 gelu_new, 2 relu)
// and its derivative, as candle computes them.
__device__ __forceinline__ float activate(uint32_t act, float z) {
    if (act == 0) return (erff(z * 0.70710678118654752f) + 1.0f) * 0.5f * z;
    if (act == 1) return 0.5f * z * (1.0f + tanhf(0.7978846f * z * (1.0f + 0.044715f * z * z)));
    return fmaxf(z, 0.0f);
}
__device__ __forceinline__ float derivative(uint32_t act, float z) {
    if (act == 0) return expf(-(z * z) * 0.5f) * 0.398942f * z + 0.5f + erff(z * 0.70710678118654752f) * 0.5f;
    if (act == 1) {
        const float cube = z * z * z, t = tanhf(0.0356774f * cube + 0.797885f * z);
        return 0.5f * t + (0.0535161f * cube + 0.398942f * z) * (1.0f - t * t) + 0.5f;
    }
    return z >= 0.0f ? 1.0f : 0.0f;
}

// y = act(x + bias) over n elements, rows of `width`.
extern "C" __global__ void yj_bias_act(const float* x, const float* b, float* y, uint64_t n, uint32_t width, uint32_t act) {
    for (uint64_t i = blockIdx.x * (uint64_t)blockDim.x + threadIdx.x; i < n; i += (uint64_t)blockDim.x * gridDim.x)
        y[i] = activate(act, x[i] + b[i % width]);
}

// dz = dy * act'(x + bias).
extern "C" __global__ void yj_bias_act_grad(const float* x, const float* b, const float* dy, float* dz, uint64_t n, uint32_t width, uint32_t act) {
    for (uint64_t i = blockIdx.x * (uint64_t)blockDim.x + threadIdx.x; i < n; i += (uint64_t)blockDim.x * gridDim.x)
        dz[i] = dy[i] * derivative(act, x[i] + b[i % width]);
}

// Softmax over rows of `width`, one block per row (class probabilities).
extern "C" __global__ void yj_softmax(const float* x, float* y, uint32_t width) {
    __shared__ float shared[33];
    const float* xr = x + (size_t)blockIdx.x * width;
    float* yr = y + (size_t)blockIdx.x * width;
    float m = -INFINITY;
    for (uint32_t i = threadIdx.x; i < width; i += blockDim.x) m = fmaxf(m, xr[i]);
    const float max = block_max(m, shared);
    float s = 0.0f;
    for (uint32_t i = threadIdx.x; i < width; i += blockDim.x) {
        yr[i] = expf(xr[i] - max);
        s += yr[i];
    }
    const float inv = 1.0f / block_sum(s, shared);
    for (uint32_t i = threadIdx.x; i < width; i += blockDim.x) yr[i] *= inv;
}

// Inverted dropout: y = x * mask.
extern "C" __global__ void yj_dropout(const float* x, float* y, uint64_t n, uint64_t state, float p, float scale) {
    for (uint64_t i = blockIdx.x * (uint64_t)blockDim.x + threadIdx.x; i < n; i += (uint64_t)blockDim.x * gridDim.x)
        y[i] = x[i] * keep(state, i, p, scale);
}

// A sublayer's output joining the residual stream, with its LayerNorm, one block per row:
// residual = dropout(x + bias) + skip into the first plane
// of `out`, LayerNorm(residual) with weight g and bias beta into the second. With `planes` 1 (the
// residual not kept) the LayerNorm overwrites the residual in place: row_stats' last block_sum
// has every thread past its reads before any writes.
extern "C" __global__ void yj_residual_layer_norm(const float* x, const float* b, const float* skip, const float* g, const float* beta,
                                                  float* out, uint32_t width, float eps, uint64_t state, float p, float scale,
                                                  uint32_t planes) {
    __shared__ float shared[33];
    const size_t row = (size_t)blockIdx.x * width;
    float* rr = out + row;
    float* yr = planes == 2 ? out + (size_t)gridDim.x * width + row : rr;
    for (uint32_t i = threadIdx.x; i < width; i += blockDim.x) {
        const float v = x[row + i] + b[i];
        rr[i] = (p > 0.0f ? keep(state, row + i, p, scale) * v : v) + skip[row + i];
    }
    __syncthreads();  // row_stats reads what the other threads wrote
    float mean, inv;
    row_stats(rr, width, eps, shared, &mean, &inv);
    for (uint32_t i = threadIdx.x; i < width; i += blockDim.x) yr[i] = (rr[i] - mean) * inv * g[i] + beta[i];
}

// Rows (batch * len, parts * heads * head_size), plus bias[column] when `has_bias`, as
// (parts, batch, heads, len, head_size): the output's element i from its row and column.
extern "C" __global__ void yj_split_heads(const float* x, const float* bias, float* y, uint64_t n, uint32_t batch, uint32_t len,
                                          uint32_t heads, uint32_t head_size, uint32_t has_bias) {
    const uint64_t width = n / ((uint64_t)batch * len);
    for (uint64_t i = blockIdx.x * (uint64_t)blockDim.x + threadIdx.x; i < n; i += (uint64_t)blockDim.x * gridDim.x) {
        const uint64_t d = i % head_size, l = (i / head_size) % len, block = i / ((uint64_t)head_size * len);
        const uint64_t head = block % heads, entry = (block / heads) % batch, part = block / ((uint64_t)heads * batch);
        const uint64_t column = (part * heads + head) * head_size + d;
        const float v = x[(entry * len + l) * width + column];
        y[i] = has_bias ? v + bias[column] : v;
    }
}

// The inverse, parts given apart (`a`, `b`, `c`; `parts` of them used), each (batch, heads,
// len, head_size): element i of the rows (batch * len, parts * heads * head_size).
extern "C" __global__ void yj_merge_heads(const float* a, const float* b, const float* c, float* y, uint64_t n, uint32_t len,
                                          uint32_t heads, uint32_t head_size, uint32_t parts) {
    const uint64_t hidden = (uint64_t)heads * head_size, width = hidden * parts;
    for (uint64_t i = blockIdx.x * (uint64_t)blockDim.x + threadIdx.x; i < n; i += (uint64_t)blockDim.x * gridDim.x) {
        const uint64_t row = i / width, column = i % width;
        const uint64_t part = column / hidden, head = (column % hidden) / head_size, d = column % head_size;
        const uint64_t entry = row / len, l = row % len;
        const float* x = part == 0 ? a : (part == 1 ? b : c);
        y[i] = x[((entry * heads + head) * len + l) * head_size + d];
    }
}

// Column sums of (planes of) a (rows, width) matrix (a bias's gradient), 32 columns a block and
// blockIdx.y the plane: each of the 16 rows of threads sums every 16th row (reads along a row are
// coalesced), then row 0 adds the 16 partial sums in order. Deterministic; no shape to upload.
extern "C" __global__ void yj_column_sum(const float* x, float* y, uint32_t rows, uint32_t width) {
    __shared__ float partial[16][33];
    x += (size_t)blockIdx.y * rows * width;
    y += (size_t)blockIdx.y * width;
    const uint32_t c = blockIdx.x * 32 + threadIdx.x;
    float s = 0.0f;
    if (c < width)
        for (uint32_t r = threadIdx.y; r < rows; r += 16) s += x[(size_t)r * width + c];
    partial[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && c < width) {
        float t = 0.0f;
        for (int k = 0; k < 16; k++) t += partial[k][threadIdx.x];
        y[c] = t;
    }
}

// AdamW over every parameter in two launches (src/worker/train/optim.rs). The table holds one
// row of ADAM_FIELDS u64 per parameter: its data, its gradient, its moments [m (n) | v (n)], n,
// the gradient's layout (0: contiguous; C: a (R, C) matrix's gradient stored transposed, as
// candle's backward of x @ W.T leaves it), the decoupled weight decay (f32 bits), and the first
// of the blocks that work on it. Each parameter has blocks in proportion to its size.
#define ADAM_FIELDS 7

// The table row (parameter) this block works on: the last of the `rows` rows whose first block is
// at most blockIdx.x. `index` gets the block's place among the row's blocks, `count` their number.
__device__ const uint64_t* adam_row(const uint64_t* table, uint32_t rows, uint64_t* index, uint64_t* count) {
    uint32_t lo = 0, hi = rows;
    while (hi - lo > 1) {
        const uint32_t mid = (lo + hi) / 2;
        if (table[(size_t)mid * ADAM_FIELDS + 6] <= blockIdx.x) lo = mid;
        else hi = mid;
    }
    const uint64_t first = table[(size_t)lo * ADAM_FIELDS + 6];
    const uint64_t next = lo + 1 < rows ? table[(size_t)(lo + 1) * ADAM_FIELDS + 6] : gridDim.x;
    *index = blockIdx.x - first;
    *count = next - first;
    return table + (size_t)lo * ADAM_FIELDS;
}
__device__ __forceinline__ float grad_at(const uint64_t* t, uint64_t i) {
    const float* g = (const float*)t[1];
    const uint64_t cols = t[4];
    if (cols == 0) return g[i];
    const uint64_t rows = t[3] / cols;
    return g[(i % cols) * rows + i / cols];
}

// acc[0] += sum(g * g) over every gradient.
extern "C" __global__ void yj_adam_sum_squares(float* acc, const uint64_t* table, uint32_t rows) {
    __shared__ float shared[33];
    uint64_t index, count;
    const uint64_t* t = adam_row(table, rows, &index, &count);
    const uint64_t n = t[3];
    float s = 0.0f;
    for (uint64_t i = index * blockDim.x + threadIdx.x; i < n; i += (uint64_t)blockDim.x * count) {
        const float g = grad_at(t, i);
        s += g * g;
    }
    s = block_sum(s, shared);
    if (threadIdx.x == 0) atomicAdd(acc, s);
}

// Both moments and the parameter step, with decoupled weight decay. Gradients are clipped to a
// global norm of `max_norm` (none when 0), the norm read from the sum of squares on the device:
// the host never waits for it.
extern "C" __global__ void yj_adam_step(const uint64_t* table, uint32_t rows, const float* sum_squares, float max_norm, float b1,
                                        float b2, float step, float bc2_sqrt, float eps) {
    uint64_t index, count;
    const uint64_t* t = adam_row(table, rows, &index, &count);
    const float norm = sqrtf(*sum_squares);
    const float clip = max_norm > 0.0f && norm > max_norm ? max_norm / (norm + 1e-6f) : 1.0f;
    float* p = (float*)t[0];
    float* mv = (float*)t[2];
    const uint64_t n = t[3];
    const float decay = __uint_as_float((uint32_t)t[5]);
    for (uint64_t i = index * blockDim.x + threadIdx.x; i < n; i += (uint64_t)blockDim.x * count) {
        const float gi = grad_at(t, i) * clip;
        mv[i] = b1 * mv[i] + (1.0f - b1) * gi;
        mv[n + i] = b2 * mv[n + i] + (1.0f - b2) * gi * gi;
        const float denom = sqrtf(mv[n + i]) / bc2_sqrt + eps;
        p[i] -= decay * p[i] + step * mv[i] / denom;
    }
}
