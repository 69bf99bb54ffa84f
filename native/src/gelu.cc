// Exact GELU, x·Φ(x) = x/2 · erfc(−x/√2), vectorised. erfc(z) for z ≥ 0 is
// t·exp(−z² + P(t)) with t = 1/(1 + z/2) and P the degree-9 Chebyshev fit of Numerical Recipes
// (`erfcc`: relative error below 1.2e-7 everywhere); erfc(−z) = 2 − erfc(z).
#include <omp.h>

#include "args.h"
#include "kernels.h"
#include "simd.h"

namespace ptp {
namespace {

v16 gelu16(v16 x) {
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
  const v16 erfc = z >= 0 ? e : 2.f - e;
  return 0.5f * x * erfc;
}

}  // namespace

void gelu(const Heap& heap, const Offsets& o, int64_t n) {
  const float* x = heap.f32(o[0], n, "gelu x");
  float* y = heap.f32(o[1], n, "gelu y");
  const int64_t full = n / 16 * 16;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < full; i += 16) store(y + i, gelu16(load(x + i)));
  if (full < n) {
    float tmp[16] = {};
    std::copy_n(x + full, n - full, tmp);
    store(tmp, gelu16(load(tmp)));
    std::copy_n(tmp, n - full, y + full);
  }
}

}  // namespace ptp
