// The kernels the addon exports. Tensors are float32 at byte offsets into the tensor memory
// (`Heap`); an offset of -1 is an absent optional input.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "args.h"

namespace ptp {

using Offsets = std::vector<int64_t>;

// offsets [x, filter, bias, y]; shape: see ConvShape in conv.cc.
void conv2d(const Heap& heap, const Offsets& o, const std::vector<int64_t>& shape, const std::string& act, float alpha);
// offsets [dy, filter, dx].
void conv2d_backprop_input(const Heap& heap, const Offsets& o, const std::vector<int64_t>& shape);
// offsets [x, dy, dfilter].
void conv2d_backprop_filter(const Heap& heap, const Offsets& o, const std::vector<int64_t>& shape);

// offsets [a, b, bias, c]; dims [batchA, batchB, M, K, N, transposeA, transposeB]:
// c[batch, M, N] = op(a)·op(b) (+ bias[N]) then the activation; a batch of 1 broadcasts.
void matmul(const Heap& heap, const Offsets& o, const std::vector<int64_t>& dims, const std::string& act, float alpha);

// Attention per head on q [B, N, H·d], k/v [B, M, H·d]; dims [B, N, M, H, d, maskRowStride]
// (mask [1 or N, M], row stride 0 or M). probs: offsets [q, k, mask, probs [B·H, N, M]];
// apply: [probs, v, out [B, N, H·d]]; fused: [q, k, v, mask, out].
void attention_probs(const Heap& heap, const Offsets& o, const std::vector<int64_t>& dims, float scale);
void attention_apply(const Heap& heap, const Offsets& o, const std::vector<int64_t>& dims);
void attention_fused(const Heap& heap, const Offsets& o, const std::vector<int64_t>& dims, float scale);

// GroupNorm (+ SiLU) on [B, pixels, C] in groups of C/G channels: offsets [x, gamma|-1,
// beta|-1, y, stats|-1 ([B, G, 2]: mean, 1/std)], dims [B, pixels, C, G]; its gradient:
// [dy, x, stats, gamma|-1, beta|-1, dx, dgamma, dbeta]. LayerNorm over the last axis:
// [x, gamma, beta, y], dims [rows, C]. Exact GELU elementwise: [x, y].
void group_norm(const Heap& heap, const Offsets& o, const std::vector<int64_t>& dims, float eps, bool silu);
void group_norm_grad(const Heap& heap, const Offsets& o, const std::vector<int64_t>& dims, bool silu);
void layer_norm(const Heap& heap, const Offsets& o, const std::vector<int64_t>& dims, float eps);
void gelu(const Heap& heap, const Offsets& o, int64_t n);

}  // namespace ptp
