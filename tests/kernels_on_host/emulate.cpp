// The worker's CUDA kernels (src/worker/cuda/kernels.cu) run on the host and checked against the
// definitions of what they compute, on a machine without a GPU. Kernels whose threads share
// nothing run one (block, thread) at a time; those with block reductions (warp shuffles,
// __syncthreads) run a block at a time with a host thread per CUDA thread and barriers in place
// of the GPU's. What this finds is arithmetic: indices, planes, arguments; a missing barrier is a
// race that host threads may not lose. The twin tests in src/worker/cuda/tests.rs check
// everything again on a GPU.
// Built and run by tests/kernels_on_host.rs.
#include <algorithm>
#include <array>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <thread>
#include <vector>

// What the kernels use of CUDA, on the host.
struct dim3 {
    unsigned x = 0, y = 0, z = 0;
};
static thread_local dim3 threadIdx;
static dim3 blockIdx, blockDim, gridDim;
// A block's barrier and one per warp, with a slot per lane for shuffles; one participant each
// when threads run one at a time.
static std::unique_ptr<std::barrier<>> block_barrier;
static std::vector<std::unique_ptr<std::barrier<>>> warp_barriers;
static float lanes[32][32];
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
static inline void __syncthreads() { block_barrier->arrive_and_wait(); }
static inline float __shfl_xor_sync(unsigned, float v, int offset) {
    const unsigned lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    lanes[warp][lane] = v;
    warp_barriers[warp]->arrive_and_wait();
    const float other = lanes[warp][lane ^ offset];
    warp_barriers[warp]->arrive_and_wait();
    return other;
}
static inline float atomicAdd(float* a, float v) {
    const float old = *a;
    *a += v;
    return old;
}
static inline float __uint_as_float(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static void barriers(unsigned participants, unsigned warps, unsigned per_warp) {
    block_barrier = std::make_unique<std::barrier<>>(participants);
    warp_barriers.clear();
    for (unsigned w = 0; w < warps; w++) warp_barriers.push_back(std::make_unique<std::barrier<>>(per_warp));
}
#include "../../src/worker/cuda/kernels.cu"

// Runs `kernel` for every thread of a one-dimensional grid, one thread at a time.
template <typename F>
static void launch(unsigned blocks, unsigned threads, F kernel) {
    gridDim = {blocks, 1, 1};
    blockDim = {threads, 1, 1};
    barriers(1, 1, 1);
    for (unsigned b = 0; b < blocks; b++)
        for (unsigned t = 0; t < threads; t++) {
            blockIdx = {b, 0, 0};
            threadIdx = {t, 0, 0};
            kernel();
        }
}

// Runs `kernel` for every thread of a one-dimensional grid, a block at a time, each of its
// threads (whole warps) on a host thread of its own.
template <typename F>
static void launch_together(unsigned blocks, unsigned threads, F kernel) {
    gridDim = {blocks, 1, 1};
    blockDim = {threads, 1, 1};
    for (unsigned b = 0; b < blocks; b++) {
        blockIdx = {b, 0, 0};
        barriers(threads, threads / 32, 32);
        std::vector<std::thread> running;
        for (unsigned t = 0; t < threads; t++)
            running.emplace_back([t, &kernel] {
                threadIdx = {t, 0, 0};
                kernel();
            });
        for (auto& r : running) r.join();
    }
}

// src/worker/cuda/mod.rs's per_row: the threads of a block that takes a row.
static unsigned per_row(unsigned width) { return width <= 128 ? 128 : 256; }

// src/worker/cuda/mod.rs's grid for elementwise kernels.
static unsigned elementwise(uint64_t n) { return (unsigned)std::clamp<uint64_t>((n + 255) / 256, 1, 4096); }

static std::mt19937 rng(1);
static std::vector<float> random(size_t n) {
    std::uniform_real_distribution<float> d(-3, 3);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

static int failures = 0;
#define CHECK(ok, ...)                 \
    do {                               \
        if (!(ok)) {                   \
            failures++;                \
            printf("FAILED: ");        \
            printf(__VA_ARGS__);       \
            printf("\n");              \
        }                              \
    } while (0)

// Rows (batch * len, 3 * heads * size) split into heads with a bias, merged back; one part's
// heads merged into rows and split again.
static void heads() {
    const std::vector<std::array<unsigned, 4>> shapes = {{{2, 5, 4, 3}}, {{16, 40, 12, 64}}, {{1, 1, 2, 3}}, {{3, 7, 1, 1}}};
    for (auto [batch, len, heads, size] : shapes) {
        const uint64_t width = 3 * heads * size, n = (uint64_t)batch * len * width, part = n / 3;
        const auto x = random(n), bias = random(width);
        std::vector<float> split(n, NAN);
        launch(elementwise(n), 256, [&] { yj_split_heads(x.data(), bias.data(), split.data(), n, batch, len, heads, size, 1); });
        bool ok = true;
        for (unsigned w = 0; w < 3; w++)
            for (unsigned b = 0; b < batch; b++)
                for (unsigned h = 0; h < heads; h++)
                    for (unsigned l = 0; l < len; l++)
                        for (unsigned d = 0; d < size; d++) {
                            const size_t at = ((((size_t)w * batch + b) * heads + h) * len + l) * size + d;
                            const size_t column = (w * heads + h) * size + d;
                            ok &= split[at] == x[(b * len + l) * width + column] + bias[column];
                        }
        CHECK(ok, "split of 3 parts, (%u, %u, %u, %u)", batch, len, heads, size);

        std::vector<float> plain(n, NAN), rows(n, NAN);
        launch(elementwise(n), 256, [&] { yj_split_heads(x.data(), x.data(), plain.data(), n, batch, len, heads, size, 0); });
        launch(elementwise(n), 256,
               [&] { yj_merge_heads(plain.data(), plain.data() + part, plain.data() + 2 * part, rows.data(), n, len, heads, size, 3); });
        CHECK(rows == x, "merge of 3 parts undoes the split, (%u, %u, %u, %u)", batch, len, heads, size);

        const auto one = random(part);
        std::vector<float> merged(part, NAN), again(part, NAN);
        launch(elementwise(part), 256, [&] { yj_merge_heads(one.data(), one.data(), one.data(), merged.data(), part, len, heads, size, 1); });
        ok = true;
        for (unsigned b = 0; b < batch; b++)
            for (unsigned l = 0; l < len; l++)
                for (unsigned h = 0; h < heads; h++)
                    for (unsigned d = 0; d < size; d++)
                        ok &= merged[(b * len + l) * (heads * size) + h * size + d] == one[(((size_t)b * heads + h) * len + l) * size + d];
        CHECK(ok, "merge of 1 part, (%u, %u, %u, %u)", batch, len, heads, size);
        launch(elementwise(part), 256, [&] { yj_split_heads(merged.data(), merged.data(), again.data(), part, batch, len, heads, size, 0); });
        CHECK(again == one, "split of 1 part undoes the merge, (%u, %u, %u, %u)", batch, len, heads, size);
    }
}

// Column sums of planes of (rows, width), in the CPU twin's order. Row 0 of a block adds the
// partial sums after a __syncthreads: the threads run with threadIdx.y falling, so that it runs
// after every other row of threads.
static void column_sums() {
    const std::vector<std::array<unsigned, 3>> shapes = {{{1, 1, 3}}, {{1, 37, 64}}, {{3, 300, 100}}, {{1, 2048, 768}}, {{2, 5, 1000}}};
    for (auto [planes, rows, width] : shapes) {
        const auto x = random((size_t)planes * rows * width);
        std::vector<float> y((size_t)planes * width, NAN);
        gridDim = {(width + 31) / 32, planes, 1};
        blockDim = {32, 16, 1};
        barriers(1, 1, 1);
        for (unsigned by = 0; by < planes; by++)
            for (unsigned bx = 0; bx < gridDim.x; bx++)
                for (int ty = 15; ty >= 0; ty--)
                    for (unsigned tx = 0; tx < 32; tx++) {
                        blockIdx = {bx, by, 0};
                        threadIdx = {tx, (unsigned)ty, 0};
                        yj_column_sum(x.data(), y.data(), rows, width);
                    }
        bool ok = true;
        for (unsigned p = 0; p < planes; p++)
            for (unsigned c = 0; c < width; c++) {
                float partial[16] = {0};
                for (unsigned r = 0; r < rows; r++) partial[r % 16] += x[((size_t)p * rows + r) * width + c];
                float total = 0;
                for (float s : partial) total += s;
                ok &= y[(size_t)p * width + c] == total;
            }
        CHECK(ok, "column sums of (%u, %u, %u)", planes, rows, width);
    }
}

// AdamW's grid: each parameter has blocks in proportion to its size, and a block finds its
// parameter by a binary search; every element must be updated exactly once. With beta1 = beta2
// = 0 one update moves an element by step * g / (|g| + eps), a second would move it again.
static void adam_grid() {
    const std::vector<uint64_t> sizes = {7, 2100, 16384, 16385, 60000, 768, 1, 366264};
    std::vector<std::vector<float>> params, grads, moments;
    std::vector<uint64_t> table;
    uint64_t blocks = 0;
    for (uint64_t n : sizes) {
        params.push_back(random(n));
        grads.push_back(random(n));
        moments.push_back(std::vector<float>(2 * n, 0.0f));
    }
    for (size_t k = 0; k < sizes.size(); k++) {
        table.insert(table.end(), {(uint64_t)params[k].data(), (uint64_t)grads[k].data(), (uint64_t)moments[k].data(), sizes[k], 0, 0, blocks});
        blocks += std::max<uint64_t>(1, (sizes[k] + 16383) / 16384);  // mod.rs's ADAM_ELEMENTS_PER_BLOCK
    }
    const auto before = params;
    const float sum_squares = 0.0f, step = 0.01f, eps = 1e-8f;
    launch((unsigned)blocks, 256, [&] { yj_adam_step(table.data(), (uint32_t)sizes.size(), &sum_squares, 0.0f, 0.0f, 0.0f, step, 1.0f, eps); });
    for (size_t k = 0; k < sizes.size(); k++) {
        bool ok = true;
        for (uint64_t i = 0; i < sizes[k]; i++) {
            const float g = grads[k][i];
            ok &= params[k][i] == before[k][i] - (0.0f * before[k][i] + step * g / (sqrtf(g * g) / 1.0f + eps));
        }
        CHECK(ok, "AdamW updates each of parameter %zu's %llu elements once", k, (unsigned long long)sizes[k]);
    }
}

// A row's LayerNorm statistics in double precision: the definition the kernels' floats approach.
struct Stats {
    double mean, inv;
};
static Stats stats(const float* x, unsigned width, double eps) {
    double sum = 0, squares = 0;
    for (unsigned i = 0; i < width; i++) sum += x[i];
    const double mean = sum / width;
    for (unsigned i = 0; i < width; i++) squares += (x[i] - mean) * (x[i] - mean);
    return {mean, 1.0 / std::sqrt(squares / width + eps)};
}
static bool near(float got, double want) { return std::fabs(got - want) <= 1e-4 * std::max(1.0, std::fabs(want)); }

// LayerNorm(dropout(x + bias) + skip), with the sum kept beside it and without (in place).
static void residual_layer_norm() {
    const unsigned rows = 19;
    for (unsigned width : {768u, 100u}) {
        const auto x = random((size_t)rows * width), bias = random(width), skip = random((size_t)rows * width), g = random(width),
                   beta = random(width);
        for (float p : {0.0f, 0.1f})
            for (unsigned planes : {2u, 1u}) {
                const float scale = 1.0f / (1.0f - p), eps = 1e-12f;
                std::vector<float> out((size_t)planes * rows * width, NAN);
                launch_together(rows, per_row(width), [&] {
                    yj_residual_layer_norm(x.data(), bias.data(), skip.data(), g.data(), beta.data(), out.data(), width, eps, 77, p, scale,
                                           planes);
                });
                bool sums = true, norms = true;
                for (unsigned r = 0; r < rows; r++) {
                    std::vector<float> sum(width);
                    for (unsigned i = 0; i < width; i++) {
                        const size_t at = (size_t)r * width + i;
                        const float v = x[at] + bias[i];
                        sum[i] = (p > 0 ? keep(77, at, p, scale) * v : v) + skip[at];
                        if (planes == 2) sums &= out[at] == sum[i];
                    }
                    const Stats s = stats(sum.data(), width, eps);
                    const float* y = out.data() + (size_t)(planes - 1) * rows * width + (size_t)r * width;
                    for (unsigned i = 0; i < width; i++) norms &= near(y[i], (sum[i] - s.mean) * s.inv * g[i] + beta[i]);
                }
                CHECK(sums, "residual sum, width %u, p %g", width, p);
                CHECK(norms, "its LayerNorm, width %u, p %g, %u plane(s)", width, p, planes);
            }
    }
}

// LayerNorm's backward pass: two planes (dx, dy * x̂), or four with dy in two parts (the dropped
// dx and dy beside them).
static void layer_norm_grad() {
    const unsigned rows = 13;
    for (unsigned width : {768u, 100u}) {
        const auto x = random((size_t)rows * width), w = random(width), dy = random((size_t)rows * width), more = random((size_t)rows * width);
        for (unsigned planes : {2u, 4u})
            for (unsigned has_more : {0u, 1u}) {
                if (planes == 2 && has_more) continue;
                const float p = planes == 4 ? 0.1f : 0.0f, scale = 1.0f / (1.0f - p), eps = 1e-12f;
                std::vector<float> out((size_t)planes * rows * width, NAN);
                launch_together(rows, per_row(width), [&] {
                    yj_layer_norm_grad(x.data(), w.data(), dy.data(), has_more ? more.data() : dy.data(), has_more, out.data(), width, eps,
                                       planes, 55, p, scale);
                });
                const size_t plane = (size_t)rows * width;
                bool ok = true;
                for (unsigned r = 0; r < rows; r++) {
                    const float* xr = x.data() + (size_t)r * width;
                    const Stats s = stats(xr, width, eps);
                    double mean_g = 0, mean_gx = 0;
                    std::vector<float> d(width);
                    for (unsigned i = 0; i < width; i++) {
                        const size_t at = (size_t)r * width + i;
                        d[i] = has_more ? dy[at] + more[at] : dy[at];
                        const double xhat = (xr[i] - s.mean) * s.inv;
                        mean_g += (double)d[i] * w[i] / width;
                        mean_gx += (double)d[i] * w[i] * xhat / width;
                    }
                    for (unsigned i = 0; i < width; i++) {
                        const size_t at = (size_t)r * width + i;
                        const double xhat = (xr[i] - s.mean) * s.inv;
                        const double dx = ((double)d[i] * w[i] - mean_g - xhat * mean_gx) * s.inv;
                        ok &= near(out[at], dx) && near(out[plane + at], d[i] * xhat);
                        if (planes == 4) ok &= out[2 * plane + at] == keep(55, at, p, scale) * out[at] && out[3 * plane + at] == d[i];
                    }
                }
                CHECK(ok, "LayerNorm's backward pass, width %u, %u planes, %s", width, planes, has_more ? "two parts" : "one part");
            }
    }
}

int main() {
    heads();
    column_sums();
    adam_grid();
    residual_layer_norm();
    layer_norm_grad();
    if (failures) {
        printf("%d kernel checks failed\n", failures);
        return 1;
    }
    printf("split and merge heads, column sums, AdamW's grid, the residual LayerNorm and LayerNorm's backward pass agree "
           "with their definitions\n");
    return 0;
}
