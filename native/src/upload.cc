// Host values (float32, or float16 bits) copied into the tensor memory as float32, on all
// threads: the upload of a streamed weight, which JavaScript did on one thread (and which, from
// an fp16 host copy, upcast one value at a time). fp16 → fp32 is exact, so every value (zeros,
// subnormals, infinities) comes out as the JS conversion gives it; NaNs stay NaN.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels.h"
#include "parallel.h"

namespace ptp {
namespace {

constexpr int64_t kChunk = 1 << 16;  // values per work unit

// One fp16 bit pattern as float32 bits.
uint32_t half_to_float_bits(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  if (exp == 0x1f) return sign | 0x7f800000 | (man << 13);  // inf, NaN
  if (exp != 0) return sign | ((exp + 112) << 23) | (man << 13);
  if (man == 0) return sign;
  // Subnormal: shift the leading 1 into the implicit bit.
  int e = -1;
  uint32_t m = man;
  do {
    e++;
    m <<= 1;
  } while (!(m & 0x400));
  return sign | uint32_t(112 - e) << 23 | ((m & 0x3ff) << 13);
}

void half_to_float(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
#if defined(__AVX512F__)
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i))));
#elif defined(__F16C__)
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
#endif
  for (; i < n; i++) {
    const uint32_t bits = half_to_float_bits(src[i]);
    std::memcpy(dst + i, &bits, sizeof bits);
  }
}

}  // namespace

void upload(const Heap& heap, int64_t dst_offset, const void* src, bool half, int64_t n) {
  float* dst = heap.f32(dst_offset, n, "upload destination");
  const int64_t units = (n + kChunk - 1) / kChunk;
  parallel_for(units, n, [&](int64_t u) {
    const int64_t i0 = u * kChunk, len = std::min(kChunk, n - i0);
    if (half) half_to_float(static_cast<const uint16_t*>(src) + i0, dst + i0, len);
    else std::memcpy(dst + i0, static_cast<const float*>(src) + i0, size_t(len) * sizeof(float));
  });
}

}  // namespace ptp
