// Point-wise activations and their gradients: exact GELU x·Φ(x), CLIP's quick_gelu x·σ(1.702x),
// SiLU x·σ(x), and GEGLU (h · gelu(g) on the two halves of the last axis). Φ(x) is
// erfc(−x/√2)/2 with erfc(z) for z ≥ 0 = t·exp(−z² + P(t)), t = 1/(1 + z/2), P the degree-9
// Chebyshev fit of Numerical Recipes (`erfcc`: relative error below 1.2e-7 everywhere) and
// erfc(−z) = 2 − erfc(z).
#include <omp.h>

#include <string>

#include "args.h"
#include "kernels.h"
#include "parallel.h"
#include "simd.h"

namespace ptp {
namespace {

// Φ(x), the standard normal CDF.
v16 normal_cdf(v16 x) {
  const v16 z = x * -0.70710678f;
  const v16 az = vmax(z, -z);
  const v16 t = 1.f / (1.f + 0.5f * az);
  v16 p = splat(0.17087277f);
  p = p * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  p = p * t - 1.26551223f;
  const v16 e = t * vexp(p - az * az);
  return 0.5f * (z >= 0 ? e : 2.f - e);
}

v16 sigmoid(v16 x) { return 1.f / (1.f + vexp(-x)); }

enum class Act { gelu, quick_gelu, silu };

Act act_of(const std::string& s) {
  if (s == "gelu") return Act::gelu;
  if (s == "quick_gelu") return Act::quick_gelu;
  if (s == "silu") return Act::silu;
  throw Error("unknown activation '" + s + "'");
}

v16 act(Act a, v16 x) {
  switch (a) {
    case Act::gelu: return x * normal_cdf(x);
    case Act::quick_gelu: return x * sigmoid(1.702f * x);
    default: return x * sigmoid(x);
  }
}

// d act(x) / dx.
v16 act_grad(Act a, v16 x) {
  switch (a) {
    case Act::gelu: return normal_cdf(x) + x * (0.39894228f * vexp(-0.5f * x * x));
    case Act::quick_gelu: {
      const v16 s = sigmoid(1.702f * x);
      return s + 1.702f * x * s * (1.f - s);
    }
    default: {
      const v16 s = sigmoid(x);
      return s * (1.f + x * (1.f - s));
    }
  }
}

// f(i0, i1) over [0, n) in blocks, on all threads when large.
template <typename F>
void blocks(int64_t n, int64_t work_per, F f) {
  constexpr int64_t kBlock = 8192;
  parallel_for((n + kBlock - 1) / kBlock, n * work_per, [&](int64_t u) { f(u * kBlock, std::min(n, (u + 1) * kBlock)); });
}

// Loads up to 16 values (zeros after `count`), stores `count`.
v16 load_n(const float* p, int64_t count) {
  if (count >= 16) return load(p);
  float tmp[16] = {};
  std::copy_n(p, count, tmp);
  return load(tmp);
}
void store_n(float* p, v16 v, int64_t count) {
  if (count >= 16) return store(p, v);
  float tmp[16];
  store(tmp, v);
  std::copy_n(tmp, count, p);
}

}  // namespace

void activation(const Heap& heap, const Offsets& o, int64_t n, const std::string& kind) {
  const Act a = act_of(kind);
  const float* x = heap.f32(o[0], n, "activation x");
  float* y = heap.f32(o[1], n, "activation y");
  blocks(n, 4, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i += 16) store_n(y + i, act(a, load_n(x + i, i1 - i)), i1 - i);
  });
}

void activation_grad(const Heap& heap, const Offsets& o, int64_t n, const std::string& kind) {
  const Act a = act_of(kind);
  const float* x = heap.f32(o[0], n, "activationGrad x");
  const float* dy = heap.f32(o[1], n, "activationGrad dy");
  float* dx = heap.f32(o[2], n, "activationGrad dx");
  blocks(n, 6, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i += 16) store_n(dx + i, load_n(dy + i, i1 - i) * act_grad(a, load_n(x + i, i1 - i)), i1 - i);
  });
}

void geglu(const Heap& heap, const Offsets& o, int64_t rows, int64_t dim) {
  const float* x = heap.f32(o[0], rows * 2 * dim, "geglu x");
  float* y = heap.f32(o[1], rows * dim, "geglu y");
  parallel_for(rows, rows * dim * 6, [&](int64_t r) {
    const float *h = x + r * 2 * dim, *g = h + dim;
    float* out = y + r * dim;
    for (int64_t c = 0; c < dim; c += 16) store_n(out + c, load_n(h + c, dim - c) * act(Act::gelu, load_n(g + c, dim - c)), dim - c);
  });
}

void geglu_grad(const Heap& heap, const Offsets& o, int64_t rows, int64_t dim) {
  const float* x = heap.f32(o[0], rows * 2 * dim, "gegluGrad x");
  const float* dy = heap.f32(o[1], rows * dim, "gegluGrad dy");
  float* dx = heap.f32(o[2], rows * 2 * dim, "gegluGrad dx");
  parallel_for(rows, rows * dim * 10, [&](int64_t r) {
    const float *h = x + r * 2 * dim, *g = h + dim, *d = dy + r * dim;
    float *dh = dx + r * 2 * dim, *dg = dh + dim;
    for (int64_t c = 0; c < dim; c += 16) {
      const int64_t k = dim - c;
      const v16 gv = load_n(g + c, k), dv = load_n(d + c, k);
      store_n(dh + c, dv * act(Act::gelu, gv), k);
      store_n(dg + c, dv * load_n(h + c, k) * act_grad(Act::gelu, gv), k);
    }
  });
}

}  // namespace ptp
