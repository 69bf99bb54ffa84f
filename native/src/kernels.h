// The kernels the addon exports. Tensors are float32 at byte offsets into the tensor memory
// (`Heap`); an offset of -1 is an absent optional input.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "args.h"

namespace ptp {

using Offsets = std::vector<int64_t>;

// n host values at `src` (float32, or float16 bits when `half`) into the memory at `dst_offset`
// as float32, on all threads.
void upload(const Heap& heap, int64_t dst_offset, const void* src, bool half, int64_t n);

// offsets [x, filter, bias, y]; shape: see ConvShape in conv.cc.
// key: the filter's packing key (packed.h), -1 when it is not a packable weight.
void conv2d(const Heap& heap, const Offsets& o, const std::vector<int64_t>& shape, const std::string& act, float alpha,
            int64_t key);
// offsets [dy, filter, dx].
void conv2d_backprop_input(const Heap& heap, const Offsets& o, const std::vector<int64_t>& shape);
// offsets [x, dy, dfilter].
void conv2d_backprop_filter(const Heap& heap, const Offsets& o, const std::vector<int64_t>& shape);

// offsets [a, b, bias, c]; dims [batchA, batchB, M, K, N, transposeA, transposeB]:
// c[batch, M, N] = op(a)·op(b) (+ bias[N]) then the activation; a batch of 1 broadcasts.
// key: b's packing key (packed.h), -1 when it is not a packable weight.
void matmul(const Heap& heap, const Offsets& o, const std::vector<int64_t>& dims, const std::string& act, float alpha,
            int64_t key);

// Attention per head on q [B, N, H·d], k/v [B, M, H·d]; dims [B, N, M, H, d, maskRowStride]
// (mask [1 or N, M], row stride 0 or M). probs: offsets [q, k, mask, probs [B·H, N, M]];
// apply: [probs, v, out [B, N, H·d]]; fused: [q, k, v, mask, out].
void attention_probs(const Heap& heap, const Offsets& o, const std::vector<int64_t>& dims, float scale);
void attention_apply(const Heap& heap, const Offsets& o, const std::vector<int64_t>& dims);
void attention_fused(const Heap& heap, const Offsets& o, const std::vector<int64_t>& dims, float scale);
// Whether the attention kernels have a bf16 path (built for a CPU with AVX512-BF16).
bool attention_bf16_available();
// Gradients of attention_fused: offsets [q, k, v, mask|-1, dy, dq, dk, dv].
void attention_grad(const Heap& heap, const Offsets& o, const std::vector<int64_t>& dims, float scale);

// GroupNorm (+ SiLU) on [B, pixels, C] in groups of C/G channels: offsets [x, gamma|-1,
// beta|-1, y, stats|-1 ([B, G, 2]: mean, 1/std)], dims [B, pixels, C, G]; its gradient:
// [dy, x, stats, gamma|-1, beta|-1, dx, dgamma, dbeta]. LayerNorm over the last axis:
// [x, gamma, beta, y, stats|-1 ([rows, 2]: mean, 1/std)], dims [rows, C]; its gradient:
// [dy, x, stats, gamma, dx, dgamma, dbeta].
void group_norm(const Heap& heap, const Offsets& o, const std::vector<int64_t>& dims, float eps, bool silu);
void group_norm_grad(const Heap& heap, const Offsets& o, const std::vector<int64_t>& dims, bool silu);
void layer_norm(const Heap& heap, const Offsets& o, const std::vector<int64_t>& dims, float eps);
void layer_norm_grad(const Heap& heap, const Offsets& o, const std::vector<int64_t>& dims);
// Activations (gelu, quick_gelu, silu) [x, y] and their gradients [x, dy, dx]; GEGLU on rows of
// [h | g] (2·dim values) → h·gelu(g): [x, y], and its gradient [x, dy, dx].
void activation(const Heap& heap, const Offsets& o, int64_t n, const std::string& kind);
void activation_grad(const Heap& heap, const Offsets& o, int64_t n, const std::string& kind);
void geglu(const Heap& heap, const Offsets& o, int64_t rows, int64_t dim);
void geglu_grad(const Heap& heap, const Offsets& o, int64_t rows, int64_t dim);

// Element-wise (elementwise.cc): binary [a, b, out] with broadcasting (op add, sub, mul, div,
// sqdiff; shapes right-aligned as numpy), unary [x, out] (neg, square, sqrt, rsqrt, exp,
// sigmoid), a strided copy [src, dst] of a box `dims` (strides in elements; the two tensors'
// sizes bound it), and a fill [dst].
void binary(const Heap& heap, const Offsets& o, const std::vector<int64_t>& a_shape, const std::vector<int64_t>& b_shape, const std::string& op);
void unary(const Heap& heap, const Offsets& o, int64_t n, const std::string& op);
void copy_strided(const Heap& heap, const Offsets& o, const std::vector<int64_t>& dims, const std::vector<int64_t>& src_strides,
                  const std::vector<int64_t>& dst_strides, int64_t src_count, int64_t dst_count);
void fill(const Heap& heap, const Offsets& o, int64_t n, float value);

// Reductions (reduce.cc): sum or mean of x [shape] over `axes` → [x, out]; Σx² → [x, out (1 value)].
void reduce(const Heap& heap, const Offsets& o, const std::vector<int64_t>& shape, const std::vector<int64_t>& axes, bool mean);
void sum_of_squares(const Heap& heap, const Offsets& o, int64_t n);

// One Adam step (adam.cc): [p, m, v, g, p', m', v'], coefficients [β₁, β₂, 1−β₁, 1−β₂,
// stepSize, √(1−β₂ᵗ), ε, decay] as in src/backend/adam-kernel.ts.
void adam_update(const Heap& heap, const Offsets& o, int64_t n, const std::vector<double>& c);

}  // namespace ptp
