// GroupNorm (optionally followed by SiLU) on [B, pixels, C] (NHWC flattened), forward and
// backward, and LayerNorm over the last axis. Statistics are two-pass (mean, then the mean of
// squared deviations), summed in float over fixed chunks of 64 pixels and in double across
// chunks: accurate on the VAE's 256²-pixel groups, and the same order whatever the thread
// count (deterministic). Channel loops run 16 channels at a time, then one by one.
#include <omp.h>

#include <cmath>
#include <vector>

#include "args.h"
#include "kernels.h"
#include "parallel.h"
#include "simd.h"

namespace ptp {
namespace {

constexpr int64_t kChunk = 64;

template <typename V> V ld(const float* p);
template <> inline float ld<float>(const float* p) { return *p; }
template <> inline v16 ld<v16>(const float* p) { return load(p); }
inline void st(float* p, float v) { *p = v; }
inline void st(float* p, v16 v) { store(p, v); }
inline float sigmoid(float z) { return 1.f / (1.f + std::exp(-z)); }
inline v16 sigmoid(v16 z) { return 1.f / (1.f + vexp(-z)); }

// f.template operator()<V>(c) over the channels: V = v16 for whole vectors, then float.
template <typename F>
void each_channel(int64_t channels, F f) {
  int64_t c = 0;
  for (; c + 16 <= channels; c += 16) f.template operator()<v16>(c);
  for (; c < channels; c++) f.template operator()<float>(c);
}

// K per-channel sums over the pixels of every batch item: add(n, p, acc) adds pixel p of item
// n to acc[k·channels + c]. Units (item, chunk of 64 pixels) run on all threads; chunks are
// summed in double in order. Returns [items][K·channels].
template <int K, typename F>
std::vector<double> channel_sums(int64_t items, int64_t pixels, int64_t channels, F add) {
  const int64_t chunks = (pixels + kChunk - 1) / kChunk, width = K * channels;
  std::vector<float> part(size_t(items * chunks * width), 0.f);
  parallel_for(items * chunks, items * pixels * channels, [&](int64_t u) {
    const int64_t n = u / chunks, k = u % chunks;
    for (int64_t p = k * kChunk; p < std::min(pixels, (k + 1) * kChunk); p++) add(n, p, part.data() + u * width);
  });
  std::vector<double> sums(size_t(items * width), 0.0);
  for (int64_t n = 0; n < items; n++) {
    for (int64_t k = 0; k < chunks; k++) {
      for (int64_t i = 0; i < width; i++) sums[size_t(n * width + i)] += part[size_t((n * chunks + k) * width + i)];
    }
  }
  return sums;
}

// f(n, p) for every pixel p of every item n, pixel blocks spread over the threads.
template <typename F>
void each_pixel(int64_t items, int64_t pixels, int64_t channels, F f) {
  const int64_t blocks = (pixels + kChunk - 1) / kChunk;
  parallel_for(items * blocks, items * pixels * channels, [&](int64_t u) {
    const int64_t n = u / blocks, k = u % blocks;
    for (int64_t p = k * kChunk; p < std::min(pixels, (k + 1) * kChunk); p++) f(n, p);
  });
}

// Per-channel copy of each group's Σ (over its channels) · scale.
std::vector<double> per_group(const double* sums, int64_t channels, int64_t groups, double scale) {
  const int64_t cg = channels / groups;
  std::vector<double> out(static_cast<size_t>(channels));
  for (int64_t g = 0; g < groups; g++) {
    double s = 0;
    for (int64_t c = g * cg; c < (g + 1) * cg; c++) s += sums[c];
    for (int64_t c = g * cg; c < (g + 1) * cg; c++) out[size_t(c)] = s * scale;
  }
  return out;
}

struct GroupDims {
  int64_t b, pixels, channels, groups;
  explicit GroupDims(const std::vector<int64_t>& d) {
    if (d.size() != 4) throw Error("groupNorm dims must be [batch, pixels, channels, groups]");
    b = d[0], pixels = d[1], channels = d[2], groups = d[3];
    if (b < 1 || pixels < 1 || groups < 1 || channels % groups) throw Error("groupNorm: bad dims");
  }
  int64_t item() const { return pixels * channels; }
  double count() const { return double(pixels) * double(channels / groups); }
};


}  // namespace

void group_norm(const Heap& heap, const Offsets& o, const std::vector<int64_t>& dims, float eps, bool silu) {
  const GroupDims d(dims);
  const int64_t C = d.channels, B = d.b;
  const float* x = heap.f32(o[0], B * d.item(), "groupNorm x");
  const float* gamma = o[1] >= 0 ? heap.f32(o[1], C, "groupNorm gamma") : nullptr;
  const float* beta = o[2] >= 0 ? heap.f32(o[2], C, "groupNorm beta") : nullptr;
  float* y = heap.f32(o[3], B * d.item(), "groupNorm y");
  float* stats = o.size() > 4 && o[4] >= 0 ? heap.f32(o[4], B * d.groups * 2, "groupNorm stats") : nullptr;
  // Per item and channel: the group's mean, then scale = rstd·γ and shift = β.
  std::vector<float> mean(size_t(B * C)), scale(size_t(B * C)), shift(size_t(B * C));
  const auto sums = channel_sums<1>(B, d.pixels, C, [&](int64_t n, int64_t p, float* acc) {
    const float* px = x + n * d.item() + p * C;
    each_channel(C, [&]<typename V>(int64_t c) { st(acc + c, ld<V>(acc + c) + ld<V>(px + c)); });
  });
  for (int64_t n = 0; n < B; n++) {
    const auto m = per_group(sums.data() + n * C, C, d.groups, 1.0 / d.count());
    for (int64_t c = 0; c < C; c++) mean[size_t(n * C + c)] = float(m[size_t(c)]);
  }
  const auto sq = channel_sums<1>(B, d.pixels, C, [&](int64_t n, int64_t p, float* acc) {
    const float *px = x + n * d.item() + p * C, *m = mean.data() + n * C;
    each_channel(C, [&]<typename V>(int64_t c) {
      const V dv = ld<V>(px + c) - ld<V>(m + c);
      st(acc + c, ld<V>(acc + c) + dv * dv);
    });
  });
  for (int64_t n = 0; n < B; n++) {
    const auto var = per_group(sq.data() + n * C, C, d.groups, 1.0 / d.count());
    for (int64_t c = 0; c < C; c++) {
      const double rstd = 1.0 / std::sqrt(var[size_t(c)] + eps);
      scale[size_t(n * C + c)] = float(rstd) * (gamma ? gamma[c] : 1.f);
      shift[size_t(n * C + c)] = beta ? beta[c] : 0.f;
      if (stats && c % (C / d.groups) == 0) {
        const int64_t g = c / (C / d.groups);
        stats[(n * d.groups + g) * 2] = mean[size_t(n * C + c)];
        stats[(n * d.groups + g) * 2 + 1] = float(rstd);
      }
    }
  }
  each_pixel(B, d.pixels, C, [&](int64_t n, int64_t p) {
    const float *px = x + n * d.item() + p * C, *m = mean.data() + n * C, *sc = scale.data() + n * C, *sh = shift.data() + n * C;
    float* py = y + n * d.item() + p * C;
    each_channel(C, [&]<typename V>(int64_t c) {
      const V v = (ld<V>(px + c) - ld<V>(m + c)) * ld<V>(sc + c) + ld<V>(sh + c);
      st(py + c, silu ? v * sigmoid(v) : v);
    });
  });
}

void group_norm_grad(const Heap& heap, const Offsets& o, const std::vector<int64_t>& dims, bool silu) {
  const GroupDims d(dims);
  const int64_t C = d.channels, B = d.b;
  const float* dy = heap.f32(o[0], B * d.item(), "groupNormGrad dy");
  const float* x = heap.f32(o[1], B * d.item(), "groupNormGrad x");
  const float* stats = heap.f32(o[2], B * d.groups * 2, "groupNormGrad stats");
  const float* gamma = o[3] >= 0 ? heap.f32(o[3], C, "groupNormGrad gamma") : nullptr;
  const float* beta = o[4] >= 0 ? heap.f32(o[4], C, "groupNormGrad beta") : nullptr;
  float* dx = heap.f32(o[5], B * d.item(), "groupNormGrad dx");
  float* dgamma = heap.f32(o[6], C, "groupNormGrad dgamma");
  float* dbeta = heap.f32(o[7], C, "groupNormGrad dbeta");
  std::vector<float> one(size_t(C), 1.f), zero(size_t(C), 0.f);
  const float* gm = gamma ? gamma : one.data();
  const float* bt = beta ? beta : zero.data();
  std::vector<float> mean(size_t(B * C)), rstd(size_t(B * C));
  for (int64_t n = 0; n < B; n++) {
    for (int64_t c = 0; c < C; c++) {
      const int64_t g = c / (C / d.groups);
      mean[size_t(n * C + c)] = stats[(n * d.groups + g) * 2];
      rstd[size_t(n * C + c)] = stats[(n * d.groups + g) * 2 + 1];
    }
  }
  // x̂ and the gradient at the affine output z = x̂·γ + β (through the SiLU), pixel p of item n.
  auto terms = [&]<typename V>(int64_t n, int64_t p, int64_t c, V& xh, V& dz) {
    const int64_t i = n * d.item() + p * C + c;
    xh = (ld<V>(x + i) - ld<V>(mean.data() + n * C + c)) * ld<V>(rstd.data() + n * C + c);
    dz = ld<V>(dy + i);
    if (silu) {
      const V z = xh * ld<V>(gm + c) + ld<V>(bt + c);
      const V s = sigmoid(z);
      dz = dz * s * (1.f + z * (1.f - s));
    }
  };
  // Per item and channel Σ dz·x̂ (→ dγ) and Σ dz (→ dβ).
  const std::vector<double> sums = channel_sums<2>(B, d.pixels, C, [&](int64_t n, int64_t p, float* acc) {
    each_channel(C, [&]<typename V>(int64_t c) {
      V xh, dz;
      terms(n, p, c, xh, dz);
      st(acc + c, ld<V>(acc + c) + dz * xh);
      st(acc + C + c, ld<V>(acc + C + c) + dz);
    });
  });
  std::vector<double> dg(size_t(C), 0.0), db(size_t(C), 0.0);
  std::vector<float> mdx(size_t(B * C)), md(size_t(B * C));
  for (int64_t n = 0; n < B; n++) {
    const double* sn = sums.data() + n * 2 * C;
    std::vector<double> gdx(static_cast<size_t>(C)), gd(static_cast<size_t>(C));
    for (int64_t c = 0; c < C; c++) {
      dg[size_t(c)] += sn[c];
      db[size_t(c)] += sn[C + c];
      gdx[size_t(c)] = sn[c] * gm[c];
      gd[size_t(c)] = sn[C + c] * gm[c];
    }
    const auto a = per_group(gdx.data(), C, d.groups, 1.0 / d.count());
    const auto b = per_group(gd.data(), C, d.groups, 1.0 / d.count());
    for (int64_t c = 0; c < C; c++) mdx[size_t(n * C + c)] = float(a[size_t(c)]), md[size_t(n * C + c)] = float(b[size_t(c)]);
  }
  // dx = rstd·(dz·γ − mean(dz·γ) − x̂·mean(dz·γ·x̂)) over each group.
  each_pixel(B, d.pixels, C, [&](int64_t n, int64_t p) {
    const float *r = rstd.data() + n * C, *pmd = md.data() + n * C, *pmdx = mdx.data() + n * C;
    float* px = dx + n * d.item() + p * C;
    each_channel(C, [&]<typename V>(int64_t c) {
      V xh, dz;
      terms(n, p, c, xh, dz);
      st(px + c, ld<V>(r + c) * (dz * ld<V>(gm + c) - ld<V>(pmd + c) - xh * ld<V>(pmdx + c)));
    });
  });
  for (int64_t c = 0; c < C; c++) dgamma[c] = float(dg[size_t(c)]), dbeta[c] = float(db[size_t(c)]);
}

void layer_norm(const Heap& heap, const Offsets& o, const std::vector<int64_t>& dims, float eps) {
  if (dims.size() != 2 || dims[0] < 1 || dims[1] < 1) throw Error("layerNorm dims must be [rows, channels]");
  const int64_t rows = dims[0], channels = dims[1];
  const float* x = heap.f32(o[0], rows * channels, "layerNorm x");
  const float* gamma = heap.f32(o[1], channels, "layerNorm gamma");
  const float* beta = heap.f32(o[2], channels, "layerNorm beta");
  float* y = heap.f32(o[3], rows * channels, "layerNorm y");
  float* stats = o.size() > 4 && o[4] >= 0 ? heap.f32(o[4], rows * 2, "layerNorm stats") : nullptr;
  parallel_for(rows, rows * channels, [&](int64_t r) {
    const float* in = x + r * channels;
    float* out = y + r * channels;
    double s = 0;
    for (int64_t c = 0; c < channels; c++) s += in[c];
    const float mean = float(s / channels);
    double v = 0;
    for (int64_t c = 0; c < channels; c++) v += double(in[c] - mean) * double(in[c] - mean);
    const float rstd = float(1.0 / std::sqrt(v / channels + eps));
    for (int64_t c = 0; c < channels; c++) out[c] = (in[c] - mean) * rstd * gamma[c] + beta[c];
    if (stats) stats[2 * r] = mean, stats[2 * r + 1] = rstd;
  });
}

void layer_norm_grad(const Heap& heap, const Offsets& o, const std::vector<int64_t>& dims) {
  if (dims.size() != 2 || dims[0] < 1 || dims[1] < 1) throw Error("layerNormGrad dims must be [rows, channels]");
  const int64_t rows = dims[0], C = dims[1];
  const float* dy = heap.f32(o[0], rows * C, "layerNormGrad dy");
  const float* x = heap.f32(o[1], rows * C, "layerNormGrad x");
  const float* stats = heap.f32(o[2], rows * 2, "layerNormGrad stats");
  const float* gamma = heap.f32(o[3], C, "layerNormGrad gamma");
  float* dx = heap.f32(o[4], rows * C, "layerNormGrad dx");
  float* dgamma = heap.f32(o[5], C, "layerNormGrad dgamma");
  float* dbeta = heap.f32(o[6], C, "layerNormGrad dbeta");
  // dx = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)), dx̂ = dy·γ, per row.
  parallel_for(rows, 2 * rows * C, [&](int64_t r) {
    const float *g = dy + r * C, *in = x + r * C;
    const float mean = stats[2 * r], rstd = stats[2 * r + 1];
    double s1 = 0, s2 = 0;
    for (int64_t c = 0; c < C; c++) {
      const float xh = (in[c] - mean) * rstd, d = g[c] * gamma[c];
      s1 += d;
      s2 += double(d) * xh;
    }
    const float m1 = float(s1 / C), m2 = float(s2 / C);
    for (int64_t c = 0; c < C; c++) {
      const float xh = (in[c] - mean) * rstd;
      dx[r * C + c] = rstd * (g[c] * gamma[c] - m1 - xh * m2);
    }
  });
  // dγ = Σ dy·x̂, dβ = Σ dy over the rows.
  const auto sums = channel_sums<2>(1, rows, C, [&](int64_t, int64_t r, float* acc) {
    const float *g = dy + r * C, *in = x + r * C;
    const float mean = stats[2 * r], rstd = stats[2 * r + 1];
    each_channel(C, [&]<typename V>(int64_t c) {
      const V xh = (ld<V>(in + c) - mean) * rstd;
      st(acc + c, ld<V>(acc + c) + ld<V>(g + c) * xh);
      st(acc + C + c, ld<V>(acc + C + c) + ld<V>(g + c));
    });
  });
  for (int64_t c = 0; c < C; c++) dgamma[c] = float(sums[size_t(c)]), dbeta[c] = float(sums[size_t(C + c)]);
}

}  // namespace ptp
