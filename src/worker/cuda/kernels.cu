// The worker's own CUDA kernels, compiled to PTX by build.rs when the `cuda` feature is on.
// Each is the GPU twin of a CPU kernel in src/worker/fused.rs, dropout.rs or optim.rs and does
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

// Layer normalisation without the affine part, one block per row of `width`.
extern "C" __global__ void yj_normalize(const float* x, float* y, uint32_t width, float eps) {
    __shared__ float shared[33];
    const float* xr = x + (size_t)blockIdx.x * width;
    float* yr = y + (size_t)blockIdx.x * width;
    float mean, inv;
    row_stats(xr, width, eps, shared, &mean, &inv);
    for (uint32_t i = threadIdx.x; i < width; i += blockDim.x) yr[i] = (xr[i] - mean) * inv;
}

// dx = (dy - mean(dy) - y * mean(dy * y)) / sigma, y and sigma recomputed from x.
extern "C" __global__ void yj_normalize_grad(const float* x, const float* dy, float* dx, uint32_t width, float eps) {
    __shared__ float shared[33];
    const size_t row = (size_t)blockIdx.x * width;
    const float *xr = x + row, *gr = dy + row;
    float* dr = dx + row;
    float mean, inv;
    row_stats(xr, width, eps, shared, &mean, &inv);
    float sg = 0.0f, sgy = 0.0f;
    for (uint32_t i = threadIdx.x; i < width; i += blockDim.x) {
        sg += gr[i];
        sgy += gr[i] * (xr[i] - mean) * inv;
    }
    const float mean_dy = block_sum(sg, shared) / width;
    const float mean_dy_y = block_sum(sgy, shared) / width;
    for (uint32_t i = threadIdx.x; i < width; i += blockDim.x)
        dr[i] = (gr[i] - mean_dy - (xr[i] - mean) * inv * mean_dy_y) * inv;
}

// Softmax over rows of `width`, one block per row.
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

// dx = y * (dy - sum(dy * y)).
extern "C" __global__ void yj_softmax_grad(const float* y, const float* dy, float* dx, uint32_t width) {
    __shared__ float shared[33];
    const size_t row = (size_t)blockIdx.x * width;
    float d = 0.0f;
    for (uint32_t i = threadIdx.x; i < width; i += blockDim.x) d += y[row + i] * dy[row + i];
    const float dot = block_sum(d, shared);
    for (uint32_t i = threadIdx.x; i < width; i += blockDim.x) dx[row + i] = y[row + i] * (dy[row + i] - dot);
}

// Inverted dropout with the worker's counter-based SplitMix64 (src/worker/rng.rs): element i
// draws the stream's (i+1)-th number, so the mask is the CPU's, element for element.
extern "C" __global__ void yj_dropout(const float* x, float* y, uint64_t n, uint64_t state, float p, float scale) {
    for (uint64_t i = blockIdx.x * (uint64_t)blockDim.x + threadIdx.x; i < n; i += (uint64_t)blockDim.x * gridDim.x) {
        uint64_t z = state + (i + 1) * 0x9E3779B97F4A7C15ull;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        const float u = (float)(z >> 40) / 16777216.0f;
        y[i] = x[i] * (u < p ? 0.0f : scale);
    }
}

// AdamW, first half: both moments, stored as one buffer [m (n) | v (n)].
extern "C" __global__ void yj_adam_moments(float* mv, const float* g, uint64_t n, float clip, float b1, float b2) {
    for (uint64_t i = blockIdx.x * (uint64_t)blockDim.x + threadIdx.x; i < n; i += (uint64_t)blockDim.x * gridDim.x) {
        const float gi = g[i] * clip;
        mv[i] = b1 * mv[i] + (1.0f - b1) * gi;
        mv[n + i] = b2 * mv[n + i] + (1.0f - b2) * gi * gi;
    }
}

// AdamW, second half: the parameter step from the moments, with decoupled weight decay.
extern "C" __global__ void yj_adam_params(float* p, const float* mv, uint64_t n, float step, float decay, float bc2_sqrt, float eps) {
    for (uint64_t i = blockIdx.x * (uint64_t)blockDim.x + threadIdx.x; i < n; i += (uint64_t)blockDim.x * gridDim.x) {
        const float denom = sqrtf(mv[n + i]) / bc2_sqrt + eps;
        p[i] -= decay * p[i] + step * mv[i] / denom;
    }
}

// acc[0] += sum(g * g): the gradient norm, accumulated over tensors without a host sync.
extern "C" __global__ void yj_sum_squares(float* acc, const float* g, uint64_t n) {
    __shared__ float shared[33];
    float s = 0.0f;
    for (uint64_t i = blockIdx.x * (uint64_t)blockDim.x + threadIdx.x; i < n; i += (uint64_t)blockDim.x * gridDim.x)
        s += g[i] * g[i];
    s = block_sum(s, shared);
    if (threadIdx.x == 0) atomicAdd(acc, s);
}
