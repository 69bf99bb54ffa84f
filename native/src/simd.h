// 16-float vectors (GCC vector extensions: zmm registers with AVX-512, pairs of ymm with AVX2)
// and the few operations the hand-written kernels need, exp included.
#pragma once
#include <cstdint>
#include <cstring>

namespace ptp {

typedef float v16 __attribute__((vector_size(64)));
typedef int32_t vi16 __attribute__((vector_size(64)));
typedef float v8 __attribute__((vector_size(32)));
typedef float v4 __attribute__((vector_size(16)));

inline v16 load(const float* p) {
  v16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, v16 v) { std::memcpy(p, &v, sizeof v); }
inline v16 splat(float x) { return v16{x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}; }
// (x[0], x[1]) repeated over the 16 lanes (one 64-bit broadcast).
inline v16 pair(const float* x) {
  double two;
  std::memcpy(&two, x, sizeof two);
  const v16 out = (v16)(__attribute__((vector_size(64))) double){two, two, two, two, two, two, two, two};
  return out;
}
inline v16 vmax(v16 a, v16 b) { return a > b ? a : b; }
inline v16 vmin(v16 a, v16 b) { return a < b ? a : b; }

// Lane sums and maxima in a fixed order (deterministic).
inline float hsum(v16 v) {
  float s = 0;
  for (int i = 0; i < 16; i++) s += v[i];
  return s;
}
inline float hmax(v16 v) {
  float m = v[0];
  for (int i = 1; i < 16; i++) m = v[i] > m ? v[i] : m;
  return m;
}

// The same as a tree (halves, then quarters, ...): a fixed order too, but four dependent steps
// instead of fifteen, for the per-row reductions of short rows (attention over 77 keys).
inline float hsum_tree(v16 v) {
  const v8 a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
               __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  const v4 b = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
  return (b[0] + b[2]) + (b[1] + b[3]);
}
inline float hmax_tree(v16 v) {
  const v8 l = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7);
  const v8 h = __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  const v8 a = l > h ? l : h;
  const v4 bl = __builtin_shufflevector(a, a, 0, 1, 2, 3), bh = __builtin_shufflevector(a, a, 4, 5, 6, 7);
  const v4 b = bl > bh ? bl : bh;
  const float c0 = b[0] > b[2] ? b[0] : b[2], c1 = b[1] > b[3] ? b[1] : b[3];
  return c0 > c1 ? c0 : c1;
}

// e^x to about 1 ulp for x in [-87.3, 88.7] (0 below, clamped above): x = n·ln2 + r,
// |r| ≤ ln2/2, e^r by its degree-7 Taylor polynomial, 2^n through the exponent bits.
inline v16 vexp(v16 x_in) {
  const v16 x = vmin(vmax(x_in, splat(-87.33654f)), splat(88.72283f));
  const v16 magic = splat(12582912.f);  // 1.5·2^23: adding it rounds to an integer
  v16 n = x * 1.44269504f + magic;
  n = n - magic;
  v16 r = x - n * 0.693145752f;  // ln2 split in a high part exact in float...
  r = r - n * 1.42860677e-6f;     // ...and the rest
  v16 p = splat(1.f / 5040);
  p = p * r + 1.f / 720;
  p = p * r + 1.f / 120;
  p = p * r + 1.f / 24;
  p = p * r + 1.f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.f;
  p = p * r + 1.f;
  vi16 bits = (__builtin_convertvector(n, vi16) + 127) << 23;
  v16 scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return x_in < -87.33654f ? v16{} : p * scale;
}

}  // namespace ptp
