// One Adam(W) step over a parameter, its moments and its gradient, in float32 with exactly the
// operations (and roundings) of the JS kernel src/backend/adam-kernel.ts: no fused
// multiply-adds, so both give the same bits.
#pragma GCC optimize("fp-contract=off")
#include <cmath>

#include "args.h"
#include "kernels.h"
#include "parallel.h"

namespace ptp {

void adam_update(const Heap& heap, const Offsets& o, int64_t n, const std::vector<double>& c) {
  if (c.size() != 8) throw Error("adam coefficients must be [beta1, beta2, 1-beta1, 1-beta2, stepSize, bc2Sqrt, eps, decay]");
  const float b1 = float(c[0]), b2 = float(c[1]), a1 = float(c[2]), a2 = float(c[3]);
  const float step = float(c[4]), bc2 = float(c[5]), eps = float(c[6]), decay = float(c[7]);
  const float* p = heap.f32(o[0], n, "adam p");
  const float* m = heap.f32(o[1], n, "adam m");
  const float* v = heap.f32(o[2], n, "adam v");
  const float* g = heap.f32(o[3], n, "adam g");
  float* po = heap.f32(o[4], n, "adam p out");
  float* mo = heap.f32(o[5], n, "adam m out");
  float* vo = heap.f32(o[6], n, "adam v out");
  constexpr int64_t block = 8192;
  parallel_for((n + block - 1) / block, 7 * n, [&](int64_t u) {
    const int64_t j1 = std::min(n, (u + 1) * block);
    for (int64_t i = u * block; i < j1; i++) {
      const float gi = g[i];
      const float mi = m[i] * b1 + gi * a1;
      const float vi = v[i] * b2 + (gi * gi) * a2;
      // √v / √(1−β₂ᵗ) in double, rounded once (as the JS kernel's Math.sqrt).
      const float denom = float(std::sqrt(double(vi)) / double(bc2)) + eps;
      po[i] = p[i] * decay - (mi / denom) * step;
      mo[i] = mi;
      vo[i] = vi;
    }
  });
}

}  // namespace ptp
