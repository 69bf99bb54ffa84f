// Attention per head on [batch, tokens, heads·dim] tensors: the probabilities
// softmax(q·kᵀ·scale + mask), their product with v, and both fused without storing the
// probabilities. Work units are (batch, head, block of query rows), spread over the OpenMP
// threads; each unit is computed by one thread in a fixed order, so results do not depend on
// the thread count or schedule. The fused path runs the very same row kernels on the same
// values as probs → apply, so the two agree bit for bit (attention controllers rely on it).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "args.h"
#include "engine.h"
#include "kernels.h"
#include "simd.h"
#if defined(__AVX512BF16__)
#include <immintrin.h>
#endif

namespace ptp {
namespace {

constexpr int kRows = 48;  // query rows per unit (a multiple of the 8-row tile)

struct Dims {
  int64_t b, n, m, h, d;
  int64_t c() const { return h * d; }
  int64_t mp() const { return (m + 31) / 32 * 32; }  // keys padded to the 32-column tile
  int64_t dp() const { return (d + 15) / 16 * 16; }  // head dim padded to whole vectors
  int64_t blocks() const { return (n + kRows - 1) / kRows; }
  int64_t units() const { return b * h * blocks(); }
};

Dims dims_of(const std::vector<int64_t>& s) {
  if (s.size() < 5) throw Error("attention dims must be [batch, queries, keys, heads, dim, ...]");
  Dims d{s[0], s[1], s[2], s[3], s[4]};
  if (d.b < 1 || d.n < 1 || d.m < 1 || d.h < 1 || d.d < 1) throw Error("attention dims must be positive");
  return d;
}

// Per call: keys transposed per head in panels of 32 keys [b·h][mp/32][d][32] (a panel is
// contiguous: rows 16 KB apart would all fall in one L1 set), values per head [b·h][m][dp];
// zero-padded.
struct Packed {
  std::vector<float> kt, vp;
  std::vector<uint16_t> kt16, vp16;
};

void pack_keys(const Dims& d, const float* k, std::vector<float>& kt) {
  const int64_t mp = d.mp(), c = d.c();
  kt.assign(size_t(d.b * d.h * d.d * mp), 0.f);
#pragma omp parallel for schedule(static)
  for (int64_t s = 0; s < d.b * d.h; s++) {
    const int64_t b = s / d.h, h = s % d.h;
    float* dst = kt.data() + s * d.d * mp;
    for (int64_t j = 0; j < d.m; j++) {
      const float* src = k + (b * d.m + j) * c + h * d.d;
      float* panel = dst + (j / 32) * d.d * 32 + j % 32;
      for (int64_t e = 0; e < d.d; e++) panel[e * 32] = src[e];
    }
  }
}

// Whole vectors before the tail when a head dim takes the paired-tail layout (a tail of 1–8
// columns after at most two whole vectors), else −1.
int paired_tail(int64_t dim) {
  const int64_t whole = dim / 16, rest = dim % 16;
  return rest > 0 && rest <= 8 && whole <= 2 ? int(whole) : -1;
}

// Values per head [b·h][m][dp]. For a paired-tail dim (pv_tile_paired), the row of each even key
// j holds at 16·whole the tails of keys j and j + 1 interleaved (column k of key j + i in lane
// 2k + i); the odd rows' tail vectors stay zero.
void pack_values(const Dims& d, const float* v, std::vector<float>& vp) {
  const int64_t dp = d.dp(), c = d.c();
  const int whole = paired_tail(d.d);
  vp.assign(size_t(d.b * d.h * d.m * dp), 0.f);
#pragma omp parallel for schedule(static)
  for (int64_t s = 0; s < d.b * d.h; s++) {
    const int64_t b = s / d.h, h = s % d.h;
    for (int64_t j = 0; j < d.m; j++) {
      const float* src = v + (b * d.m + j) * c + h * d.d;
      float* row = vp.data() + (s * d.m + j) * dp;
      if (whole < 0) {
        std::copy_n(src, d.d, row);
        continue;
      }
      const int64_t t0 = 16 * whole;
      std::copy_n(src, t0, row);
      float* tail = vp.data() + (s * d.m + (j & ~int64_t(1))) * dp + t0;
      for (int64_t k = 0; k < d.d - t0; k++) tail[2 * k + (j & 1)] = src[t0 + k];
    }
  }
}

// srow[r][0, mp) = scale · q_r · kᵀ for R query rows.
template <int R>
void score_tile(const float* const* q, const float* kt, int64_t dim, int64_t mp, float scale, float* const* srow) {
  for (int64_t j = 0; j < mp; j += 32) {
    const float* panel = kt + j * dim;
    v16 acc[R][2] = {};
    for (int64_t e = 0; e < dim; e++) {
      const v16 k0 = load(panel + e * 32), k1 = load(panel + e * 32 + 16);
      for (int r = 0; r < R; r++) {
        const v16 qv = splat(q[r][e]);
        acc[r][0] += qv * k0;
        acc[r][1] += qv * k1;
      }
    }
    for (int r = 0; r < R; r++) {
      store(srow[r] + j, acc[r][0] * scale);
      store(srow[r] + j + 16, acc[r][1] * scale);
    }
  }
}

// In place over a row of mp ≥ m scores: + mask, softmax over the first m, zeros after.
void softmax_row(float* s, int64_t m, int64_t mp, const float* mask) {
  if (mask) {
    for (int64_t j = 0; j < m; j++) s[j] += mask[j];
  }
  for (int64_t j = m; j < mp; j++) s[j] = -INFINITY;  // exp gives exactly 0
  v16 mx = splat(-INFINITY);
  for (int64_t j = 0; j < mp; j += 16) mx = vmax(mx, load(s + j));
  const v16 top = splat(hmax_tree(mx));
  v16 sum = {};
  for (int64_t j = 0; j < mp; j += 16) {
    const v16 e = vexp(load(s + j) - top);
    store(s + j, e);
    sum += e;
  }
  const v16 inv = splat(1.f / hsum_tree(sum));
  for (int64_t j = 0; j < mp; j += 16) store(s + j, load(s + j) * inv);
}

// out_r[c0, c0 + 16·CV) ∩ [0, dim) = p_r · v for R rows of probabilities (m columns).
template <int R, int CV>
void pv_tile(const float* const* p, int64_t m, const float* vp, int64_t dp, int64_t c0, int64_t dim, float* const* out) {
  v16 acc[R][CV] = {};
  for (int64_t j = 0; j < m; j++) {
    const float* vr = vp + j * dp + c0;
    v16 vv[CV];
    for (int cv = 0; cv < CV; cv++) vv[cv] = load(vr + 16 * cv);
    for (int r = 0; r < R; r++) {
      const v16 pr = splat(p[r][j]);
      for (int cv = 0; cv < CV; cv++) acc[r][cv] += pr * vv[cv];
    }
  }
  for (int r = 0; r < R; r++) {
    for (int cv = 0; cv < CV; cv++) {
      const int64_t at = c0 + 16 * cv;
      float tmp[16];
      store(tmp, acc[r][cv]);
      std::copy_n(tmp, std::min<int64_t>(16, dim - at), out[r] + at);
    }
  }
}

// pv_rows over a head dim that ends in a tail of 8 or fewer after at most two whole vectors
// (SD-1.x's 40 = 2·16 + 8), on the paired layout of pack_values: the tails of keys j and j + 1
// share one vector (lanes 2k, 2k + 1: column k of each), multiplied by (p_j, p_{j+1}) broadcast as
// a pair, instead of a vector per key half filled with padding — a sixth fewer multiply-adds at 40.
// Column k of the tail sums the even keys in lane 2k and the odd ones in lane 2k + 1, then adds them.
template <int R, int CV>
void pv_tile_paired(const float* const* p, int64_t m, const float* vp, int64_t dp, int64_t dim, float* const* out) {
  v16 acc[R][CV > 0 ? CV : 1] = {};
  v16 tail[R] = {};
  auto whole = [&](int64_t j) {
    const float* vr = vp + j * dp;
    v16 vv[CV > 0 ? CV : 1];
    for (int cv = 0; cv < CV; cv++) vv[cv] = load(vr + 16 * cv);
    for (int r = 0; r < R; r++) {
      const v16 pr = splat(p[r][j]);
      for (int cv = 0; cv < CV; cv++) acc[r][cv] += pr * vv[cv];
    }
  };
  int64_t j = 0;
  for (; j + 1 < m; j += 2) {
    whole(j);
    whole(j + 1);
    const v16 tv = load(vp + j * dp + 16 * CV);
    for (int r = 0; r < R; r++) tail[r] += pair(p[r] + j) * tv;
  }
  if (j < m) {  // an odd last key: its tail vector holds zeros in the odd lanes
    whole(j);
    const v16 tv = load(vp + j * dp + 16 * CV);
    for (int r = 0; r < R; r++) tail[r] += splat(p[r][j]) * tv;
  }
  const int64_t t0 = 16 * CV;
  for (int r = 0; r < R; r++) {
    for (int cv = 0; cv < CV; cv++) store(out[r] + 16 * cv, acc[r][cv]);
    for (int64_t k = 0; k < dim - t0; k++) out[r][t0 + k] = tail[r][2 * k] + tail[r][2 * k + 1];
  }
}

template <int R>
void pv_rows(const float* const* p, int64_t m, const float* vp, int64_t dp, int64_t dim, float* const* out) {
  switch (paired_tail(dim)) {
    case 0: pv_tile_paired<R, 0>(p, m, vp, dp, dim, out); return;
    case 1: pv_tile_paired<R, 1>(p, m, vp, dp, dim, out); return;
    case 2: pv_tile_paired<R, 2>(p, m, vp, dp, dim, out); return;
    default: break;
  }
  for (int64_t c0 = 0; c0 < dp;) {
    // At most R·CV ≤ 24 accumulators: 32 vector registers in all.
    switch (std::min<int64_t>((dp - c0) / 16, R >= 8 ? 3 : 4)) {
      case 4: pv_tile<R, 4>(p, m, vp, dp, c0, dim, out); c0 += 64; break;
      case 3: pv_tile<R, 3>(p, m, vp, dp, c0, dim, out); c0 += 48; break;
      case 2: pv_tile<R, 2>(p, m, vp, dp, c0, dim, out); c0 += 32; break;
      default: pv_tile<R, 1>(p, m, vp, dp, c0, dim, out); c0 += 16; break;
    }
  }
}

// ---- bf16 (precision bf16, CPUs with AVX512-BF16) ----------------------------------------------
// q·kᵀ and p·v with bf16 operands and fp32 accumulation (VDPBF16PS: two products per lane per
// instruction), as the convolutions and matmuls take them in that mode; the softmax stays fp32.
// Keys per head in 32-key panels of dim pairs [mp/32][dim/2][32][2], values per head in key
// pairs [m/2][dp][2] (zero-padded); queries and probabilities are rounded to bf16 pairs per tile.
// probs → apply and the fused path round the same values the same way, so they still agree.
#if defined(__AVX512BF16__)
constexpr bool kBf16Kernels = true;

// Round to nearest even (NaN is not an input here: scores of finite inputs, probabilities).
inline uint16_t to_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return uint16_t((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

int64_t pairs(int64_t n) { return (n + 1) / 2; }
// Pairs per row of a converted row: n values rounded up to whole 32-value vectors.
int64_t row_pairs(int64_t n) { return (n + 31) / 32 * 16; }

// x[0, n) as bf16 in order (pair i = x[2i], x[2i + 1]), zeros after n up to row_pairs(n) pairs;
// the same rounding as to_bf16.
void to_bf16_row(const float* x, int64_t n, uint32_t* out) {
  for (int64_t j = 0; j < n; j += 32) {
    const int64_t left = n - j;
    const __mmask16 lo = left >= 16 ? 0xffff : __mmask16((1u << left) - 1);
    const __mmask16 hi = left >= 32 ? 0xffff : left <= 16 ? 0 : __mmask16((1u << (left - 16)) - 1);
    const __m512 a = _mm512_maskz_loadu_ps(lo, x + j), b = _mm512_maskz_loadu_ps(hi, x + j + 16);
    _mm512_storeu_si512(out + j / 2, (__m512i)_mm512_cvtne2ps_pbh(b, a));
  }
}

void pack_keys_bf16(const Dims& d, const float* k, std::vector<uint16_t>& kt) {
  const int64_t mp = d.mp(), c = d.c(), ep = pairs(d.d);
  kt.assign(size_t(d.b * d.h * mp * ep * 2), 0);
#pragma omp parallel for schedule(static)
  for (int64_t s = 0; s < d.b * d.h; s++) {
    const int64_t b = s / d.h, h = s % d.h;
    uint16_t* dst = kt.data() + s * mp * ep * 2;
    for (int64_t j = 0; j < d.m; j++) {
      const float* src = k + (b * d.m + j) * c + h * d.d;
      uint16_t* panel = dst + (j / 32) * ep * 64 + (j % 32) * 2;
      for (int64_t e = 0; e < d.d; e++) panel[(e / 2) * 64 + (e % 2)] = to_bf16(src[e]);
    }
  }
}

void pack_values_bf16(const Dims& d, const float* v, std::vector<uint16_t>& vp) {
  const int64_t dp = d.dp(), c = d.c(), mq = pairs(d.m);
  vp.assign(size_t(d.b * d.h * mq * dp * 2), 0);
#pragma omp parallel for schedule(static)
  for (int64_t s = 0; s < d.b * d.h; s++) {
    const int64_t b = s / d.h, h = s % d.h;
    for (int64_t j = 0; j < d.m; j++) {
      const float* src = v + (b * d.m + j) * c + h * d.d;
      uint16_t* row = vp.data() + ((s * mq + j / 2) * dp) * 2 + (j % 2);
      for (int64_t e = 0; e < d.d; e++) row[e * 2] = to_bf16(src[e]);
    }
  }
}

inline __m512 dot2(__m512 acc, __m512i a, uint32_t pair) {
  return _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)_mm512_set1_epi32(int(pair)));
}
inline __m512i load_i(const uint16_t* p) { return _mm512_loadu_si512(p); }

// srow[r][0, mp) = scale · q_r · kᵀ for R query rows, bf16 operands.
template <int R>
void score_tile_bf16(const float* const* q, const uint16_t* kt, int64_t dim, int64_t mp, float scale,
                     float* const* srow, std::vector<uint32_t>& qp) {
  const int64_t ep = pairs(dim), stride = row_pairs(dim);
  qp.resize(size_t(R * stride));
  for (int r = 0; r < R; r++) to_bf16_row(q[r], dim, qp.data() + r * stride);
  const __m512 sc = _mm512_set1_ps(scale);
  for (int64_t j = 0; j < mp; j += 32) {
    const uint16_t* panel = kt + j * ep * 2;
    __m512 acc[R][2];
    for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int64_t e = 0; e < ep; e++) {
      const __m512i k0 = load_i(panel + e * 64), k1 = load_i(panel + e * 64 + 32);
      for (int r = 0; r < R; r++) {
        const uint32_t qv = qp[r * stride + e];
        acc[r][0] = dot2(acc[r][0], k0, qv);
        acc[r][1] = dot2(acc[r][1], k1, qv);
      }
    }
    for (int r = 0; r < R; r++) {
      _mm512_storeu_ps(srow[r] + j, _mm512_mul_ps(acc[r][0], sc));
      _mm512_storeu_ps(srow[r] + j + 16, _mm512_mul_ps(acc[r][1], sc));
    }
  }
}

template <int R, int CV>
void pv_tile_bf16(const uint32_t* pp, int64_t stride, int64_t mq, const uint16_t* vp, int64_t dp, int64_t c0, int64_t dim,
                  float* const* out) {
  __m512 acc[R][CV];
  for (int r = 0; r < R; r++)
    for (int cv = 0; cv < CV; cv++) acc[r][cv] = _mm512_setzero_ps();
  for (int64_t jq = 0; jq < mq; jq++) {
    const uint16_t* vr = vp + (jq * dp + c0) * 2;
    __m512i vv[CV];
    for (int cv = 0; cv < CV; cv++) vv[cv] = load_i(vr + 32 * cv);
    for (int r = 0; r < R; r++) {
      const uint32_t pr = pp[r * stride + jq];
      for (int cv = 0; cv < CV; cv++) acc[r][cv] = dot2(acc[r][cv], vv[cv], pr);
    }
  }
  for (int r = 0; r < R; r++) {
    for (int cv = 0; cv < CV; cv++) {
      const int64_t at = c0 + 16 * cv;
      float tmp[16];
      _mm512_storeu_ps(tmp, acc[r][cv]);
      std::copy_n(tmp, std::min<int64_t>(16, dim - at), out[r] + at);
    }
  }
}

// out_r = p_r · v for R rows of m probabilities, bf16 operands.
template <int R>
void pv_rows_bf16(const float* const* p, int64_t m, const uint16_t* vp, int64_t dp, int64_t dim, float* const* out,
                  std::vector<uint32_t>& pp) {
  const int64_t mq = pairs(m), stride = row_pairs(m);
  pp.resize(size_t(R * stride));
  for (int r = 0; r < R; r++) to_bf16_row(p[r], m, pp.data() + r * stride);
  for (int64_t c0 = 0; c0 < dp;) {
    switch (std::min<int64_t>((dp - c0) / 16, R >= 8 ? 3 : 4)) {
      case 4: pv_tile_bf16<R, 4>(pp.data(), stride, mq, vp, dp, c0, dim, out); c0 += 64; break;
      case 3: pv_tile_bf16<R, 3>(pp.data(), stride, mq, vp, dp, c0, dim, out); c0 += 48; break;
      case 2: pv_tile_bf16<R, 2>(pp.data(), stride, mq, vp, dp, c0, dim, out); c0 += 32; break;
      default: pv_tile_bf16<R, 1>(pp.data(), stride, mq, vp, dp, c0, dim, out); c0 += 16; break;
    }
  }
}
#else
constexpr bool kBf16Kernels = false;
#endif

// Whether a call runs the bf16 path: precision bf16, the CPU has the instructions, and rows of
// at least 256 keys (self-attention). Over fewer keys (77-token cross-attention) the per-tile
// rounding of queries and probabilities costs more than the products save: measured slower.
bool use_bf16(const Dims& d) { return kBf16Kernels && precision() == Precision::bf16 && d.m >= 256; }

enum class Kind { probs, apply, fused };

struct Job {
  Dims d;
  const float* q = nullptr;
  const float* mask = nullptr;
  int64_t mask_stride = 0;
  float scale = 1;
  float* probs = nullptr;  // [b·h, n, m]
  float* out = nullptr;    // [b, n, h·d]
  const float* kt = nullptr;
  const float* vp = nullptr;
  bool bf16 = false;  // kt16/vp16 instead of kt/vp
  const uint16_t* kt16 = nullptr;
  const uint16_t* vp16 = nullptr;
};

// Rows [i, i + R) of head h of batch item b: scores and softmax (into the probabilities or
// scratch), then, unless only the probabilities are wanted, their product with the values.
template <int R>
void rows(const Job& j, Kind kind, int64_t b, int64_t h, int64_t i, std::vector<float>& scratch) {
#if defined(__AVX512BF16__)
  thread_local std::vector<uint32_t> pairs_scratch;
#endif
  const Dims& d = j.d;
  const int64_t mp = d.mp(), c = d.c(), s = b * d.h + h;
  const float* p[R];
  float* o[R];
  if (kind == Kind::apply) {
    for (int r = 0; r < R; r++) p[r] = j.probs + (s * d.n + i + r) * d.m;
  } else {
    scratch.resize(size_t(R * mp));
    const float* q[R];
    float* srow[R];
    for (int r = 0; r < R; r++) {
      q[r] = j.q + (b * d.n + i + r) * c + h * d.d;
      srow[r] = scratch.data() + r * mp;
      p[r] = srow[r];
    }
#if defined(__AVX512BF16__)
    if (j.bf16)
      score_tile_bf16<R>(q, j.kt16 + s * mp * pairs(d.d) * 2, d.d, mp, j.scale, srow, pairs_scratch);
    else
#endif
      score_tile<R>(q, j.kt + s * d.d * mp, d.d, mp, j.scale, srow);
    for (int r = 0; r < R; r++) softmax_row(srow[r], d.m, mp, j.mask ? j.mask + (i + r) * j.mask_stride : nullptr);
    if (kind == Kind::probs) {
      for (int r = 0; r < R; r++) std::copy_n(srow[r], d.m, j.probs + (s * d.n + i + r) * d.m);
      return;
    }
  }
  for (int r = 0; r < R; r++) o[r] = j.out + (b * d.n + i + r) * c + h * d.d;
#if defined(__AVX512BF16__)
  if (j.bf16) {
    pv_rows_bf16<R>(p, d.m, j.vp16 + s * pairs(d.m) * d.dp() * 2, d.dp(), d.d, o, pairs_scratch);
    return;
  }
#endif
  pv_rows<R>(p, d.m, j.vp + s * d.m * d.dp(), d.dp(), d.d, o);
}

// One unit: rows [r0, r1) of head h of batch item b, eight at a time.
void run_unit(const Job& j, Kind kind, int64_t b, int64_t h, int64_t r0, int64_t r1, std::vector<float>& scratch) {
  int64_t i = r0;
  for (; i + 8 <= r1; i += 8) rows<8>(j, kind, b, h, i, scratch);
  for (; i < r1; i++) rows<1>(j, kind, b, h, i, scratch);
}

void run(const Job& j, Kind kind) {
  const Dims& d = j.d;
  const int64_t blocks = d.blocks();
#pragma omp parallel
  {
    thread_local std::vector<float> scratch;
#pragma omp for schedule(dynamic, 1)
    for (int64_t u = 0; u < d.units(); u++) {
      const int64_t s = u / blocks, blk = u % blocks;
      const int64_t r0 = blk * kRows, r1 = std::min(d.n, r0 + kRows);
      run_unit(j, kind, s / d.h, s % d.h, r0, r1, scratch);
    }
  }
}

Packed& packed() {
  static Packed p;
  return p;
}

// Packs the keys and/or values a job reads, in the layout of its precision.
void pack_for(Job& j, const float* k, const float* v) {
  Packed& p = packed();
  j.bf16 = use_bf16(j.d);
#if defined(__AVX512BF16__)
  if (j.bf16) {
    if (k) pack_keys_bf16(j.d, k, p.kt16), j.kt16 = p.kt16.data();
    if (v) pack_values_bf16(j.d, v, p.vp16), j.vp16 = p.vp16.data();
    return;
  }
#endif
  if (k) pack_keys(j.d, k, p.kt), j.kt = p.kt.data();
  if (v) pack_values(j.d, v, p.vp), j.vp = p.vp.data();
}

// ---- backward --------------------------------------------------------------------------------
// Per (batch item, head), one thread: the probabilities are recomputed 8 query rows at a time
// (the forward's own row code), then dP = dO·Vᵀ, dS = s·P ⊙ (dP − rowsum(dP ⊙ P)),
// dQ = dS·K, and dK += dSᵀ·Q, dV += Pᵀ·dO into the unit's accumulators, row block after row
// block in a fixed order.

struct GradJob {
  Dims d;
  const float *q, *dy, *mask;
  int64_t mask_stride;
  float scale;
  const float *kt, *vt, *kp;  // keys and values as 32-key panels, keys as rows [m][dp]
  float *dq, *dk, *dv;
};

// acc[j][0, dim) += Σ_r a[r][j] · x_r[0, dim) for j < m (x_r: R rows of `dim` values).
template <int R>
void rank_update(const float* const* a, const float* const* x, int64_t m, int64_t dim, int64_t dp, float* acc) {
  for (int64_t c0 = 0; c0 < dp; c0 += 16) {
    v16 xs[R];
    for (int r = 0; r < R; r++) {
      float tmp[16] = {};
      std::copy_n(x[r] + c0, std::min<int64_t>(16, dim - c0), tmp);
      xs[r] = load(tmp);
    }
    for (int64_t j = 0; j < m; j++) {
      v16 s = load(acc + j * dp + c0);
      for (int r = 0; r < R; r++) s += splat(a[r][j]) * xs[r];
      store(acc + j * dp + c0, s);
    }
  }
}

template <int R>
void grad_rows(const GradJob& j, int64_t b, int64_t h, int64_t i, float* p_buf, float* ds_buf, float* dk_acc, float* dv_acc) {
  const Dims& d = j.d;
  const int64_t mp = d.mp(), c = d.c(), s = b * d.h + h;
  const float *q[R], *dy[R];
  float *p[R], *ds[R], *dq[R];
  for (int r = 0; r < R; r++) {
    q[r] = j.q + (b * d.n + i + r) * c + h * d.d;
    dy[r] = j.dy + (b * d.n + i + r) * c + h * d.d;
    dq[r] = j.dq + (b * d.n + i + r) * c + h * d.d;
    p[r] = p_buf + r * mp;
    ds[r] = ds_buf + r * mp;
  }
  score_tile<R>(q, j.kt + s * d.d * mp, d.d, mp, j.scale, p);
  for (int r = 0; r < R; r++) softmax_row(p[r], d.m, mp, j.mask ? j.mask + (i + r) * j.mask_stride : nullptr);
  score_tile<R>(dy, j.vt + s * d.d * mp, d.d, mp, 1.f, ds);  // dP
  for (int r = 0; r < R; r++) {
    v16 acc = {};
    for (int64_t k = 0; k < mp; k += 16) acc += load(p[r] + k) * load(ds[r] + k);
    const v16 dot = splat(hsum(acc));
    for (int64_t k = 0; k < mp; k += 16) store(ds[r] + k, load(p[r] + k) * (load(ds[r] + k) - dot) * j.scale);
  }
  pv_rows<R>(ds, d.m, j.kp + s * d.m * d.dp(), d.dp(), d.d, dq);
  rank_update<R>(ds, q, d.m, d.d, d.dp(), dk_acc);
  rank_update<R>(p, dy, d.m, d.d, d.dp(), dv_acc);
}

}  // namespace

bool attention_bf16_available() { return kBf16Kernels; }

void attention_grad(const Heap& heap, const Offsets& o, const std::vector<int64_t>& dims, float scale) {
  const Dims d = dims_of(dims);
  const int64_t qn = d.b * d.n * d.c(), kn = d.b * d.m * d.c();
  GradJob j{d};
  j.q = heap.f32(o[0], qn, "attentionGrad q");
  const float* k = heap.f32(o[1], kn, "attentionGrad k");
  const float* v = heap.f32(o[2], kn, "attentionGrad v");
  j.mask_stride = dims.size() > 5 ? dims[5] : 0;
  j.mask = o[3] >= 0 ? heap.f32(o[3], (j.mask_stride ? d.n : 1) * d.m, "attentionGrad mask") : nullptr;
  j.dy = heap.f32(o[4], qn, "attentionGrad dy");
  j.dq = heap.f32(o[5], qn, "attentionGrad dq");
  j.dk = heap.f32(o[6], kn, "attentionGrad dk");
  j.dv = heap.f32(o[7], kn, "attentionGrad dv");
  j.scale = scale;
  std::vector<float> kt, vt, kp;
  pack_keys(d, k, kt);
  pack_keys(d, v, vt);
  pack_values(d, k, kp);
  j.kt = kt.data(), j.vt = vt.data(), j.kp = kp.data();
  const int64_t mp = d.mp(), dp = d.dp();
#pragma omp parallel
  {
    std::vector<float> p_buf(size_t(8 * mp)), ds_buf(size_t(8 * mp)), dk_acc(size_t(d.m * dp)), dv_acc(size_t(d.m * dp));
#pragma omp for schedule(dynamic, 1)
    for (int64_t s = 0; s < d.b * d.h; s++) {
      const int64_t b = s / d.h, h = s % d.h;
      std::fill(dk_acc.begin(), dk_acc.end(), 0.f);
      std::fill(dv_acc.begin(), dv_acc.end(), 0.f);
      int64_t i = 0;
      for (; i + 8 <= d.n; i += 8) grad_rows<8>(j, b, h, i, p_buf.data(), ds_buf.data(), dk_acc.data(), dv_acc.data());
      for (; i < d.n; i++) grad_rows<1>(j, b, h, i, p_buf.data(), ds_buf.data(), dk_acc.data(), dv_acc.data());
      for (int64_t r = 0; r < d.m; r++) {
        std::copy_n(dk_acc.data() + r * dp, d.d, j.dk + (b * d.m + r) * d.c() + h * d.d);
        std::copy_n(dv_acc.data() + r * dp, d.d, j.dv + (b * d.m + r) * d.c() + h * d.d);
      }
    }
  }
}

void attention_probs(const Heap& heap, const Offsets& o, const std::vector<int64_t>& dims, float scale) {
  const Dims d = dims_of(dims);
  Job j{d};
  j.q = heap.f32(o[0], d.b * d.n * d.c(), "attention q");
  const float* k = heap.f32(o[1], d.b * d.m * d.c(), "attention k");
  j.mask_stride = dims.size() > 5 ? dims[5] : 0;
  if (o[2] >= 0) j.mask = heap.f32(o[2], (j.mask_stride ? d.n : 1) * d.m, "attention mask");
  j.probs = heap.f32(o[3], d.b * d.h * d.n * d.m, "attention probs");
  j.scale = scale;
  pack_for(j, k, nullptr);
  run(j, Kind::probs);
}

void attention_apply(const Heap& heap, const Offsets& o, const std::vector<int64_t>& dims) {
  const Dims d = dims_of(dims);
  Job j{d};
  j.probs = heap.f32(o[0], d.b * d.h * d.n * d.m, "attention probs");
  const float* v = heap.f32(o[1], d.b * d.m * d.c(), "attention v");
  j.out = heap.f32(o[2], d.b * d.n * d.c(), "attention out");
  pack_for(j, nullptr, v);
  run(j, Kind::apply);
}

void attention_fused(const Heap& heap, const Offsets& o, const std::vector<int64_t>& dims, float scale) {
  const Dims d = dims_of(dims);
  Job j{d};
  j.q = heap.f32(o[0], d.b * d.n * d.c(), "attention q");
  const float* k = heap.f32(o[1], d.b * d.m * d.c(), "attention k");
  const float* v = heap.f32(o[2], d.b * d.m * d.c(), "attention v");
  j.mask_stride = dims.size() > 5 ? dims[5] : 0;
  if (o[3] >= 0) j.mask = heap.f32(o[3], (j.mask_stride ? d.n : 1) * d.m, "attention mask");
  j.out = heap.f32(o[4], d.b * d.n * d.c(), "attention out");
  j.scale = scale;
  pack_for(j, k, v);
  run(j, Kind::fused);
}

}  // namespace ptp
