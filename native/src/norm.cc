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

// K per-channel sums over the pixels: add(p, acc) adds pixel p's terms to acc[k·channels + c].
template <int K, typename F>
std::vector<double> channel_sums(int64_t pixels, int64_t channels, F add) {
  const int64_t chunks = (pixels + kChunk - 1) / kChunk, width = K * channels;
  std::vector<float> part(size_t(chunks * width));
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < chunks; k++) {
    for (int64_t p = k * kChunk; p < std::min(pixels, (k + 1) * kChunk); p++) add(p, part.data() + k * width);
  }
  std::vector<double> sums(size_t(width), 0.0);
  for (int64_t k = 0; k < chunks; k++) {
    for (int64_t i = 0; i < width; i++) sums[size_t(i)] += part[size_t(k * width + i)];
  }
  return sums;
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

std::vector<float> to_float(const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); }

}  // namespace

void group_norm(const Heap& heap, const Offsets& o, const std::vector<int64_t>& dims, float eps, bool silu) {
  const GroupDims d(dims);
  const int64_t C = d.channels;
  const float* x = heap.f32(o[0], d.b * d.item(), "groupNorm x");
  const float* gamma = o[1] >= 0 ? heap.f32(o[1], C, "groupNorm gamma") : nullptr;
  const float* beta = o[2] >= 0 ? heap.f32(o[2], C, "groupNorm beta") : nullptr;
  float* y = heap.f32(o[3], d.b * d.item(), "groupNorm y");
  float* stats = o.size() > 4 && o[4] >= 0 ? heap.f32(o[4], d.b * d.groups * 2, "groupNorm stats") : nullptr;
  for (int64_t n = 0; n < d.b; n++) {
    const float* xb = x + n * d.item();
    float* yb = y + n * d.item();
    const auto mean64 = per_group(channel_sums<1>(d.pixels, C, [&](int64_t p, float* acc) {
      each_channel(C, [&]<typename V>(int64_t c) { st(acc + c, ld<V>(acc + c) + ld<V>(xb + p * C + c)); });
    }).data(), C, d.groups, 1.0 / d.count());
    const std::vector<float> mean = to_float(mean64);
    const float* m = mean.data();
    const auto var = per_group(channel_sums<1>(d.pixels, C, [&](int64_t p, float* acc) {
      each_channel(C, [&]<typename V>(int64_t c) {
        const V dv = ld<V>(xb + p * C + c) - ld<V>(m + c);
        st(acc + c, ld<V>(acc + c) + dv * dv);
      });
    }).data(), C, d.groups, 1.0 / d.count());
    std::vector<float> scale(static_cast<size_t>(C)), shift(static_cast<size_t>(C));
    for (int64_t c = 0; c < C; c++) {
      const double rstd = 1.0 / std::sqrt(var[size_t(c)] + eps);
      scale[size_t(c)] = float(rstd) * (gamma ? gamma[c] : 1.f);
      shift[size_t(c)] = beta ? beta[c] : 0.f;
      if (stats && c % (C / d.groups) == 0) {
        const int64_t g = c / (C / d.groups);
        stats[(n * d.groups + g) * 2] = m[c];
        stats[(n * d.groups + g) * 2 + 1] = float(rstd);
      }
    }
    const float *sc = scale.data(), *sh = shift.data();
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < d.pixels; p++) {
      each_channel(C, [&]<typename V>(int64_t c) {
        const V v = (ld<V>(xb + p * C + c) - ld<V>(m + c)) * ld<V>(sc + c) + ld<V>(sh + c);
        st(yb + p * C + c, silu ? v * sigmoid(v) : v);
      });
    }
  }
}

void group_norm_grad(const Heap& heap, const Offsets& o, const std::vector<int64_t>& dims, bool silu) {
  const GroupDims d(dims);
  const int64_t C = d.channels;
  const float* dy = heap.f32(o[0], d.b * d.item(), "groupNormGrad dy");
  const float* x = heap.f32(o[1], d.b * d.item(), "groupNormGrad x");
  const float* stats = heap.f32(o[2], d.b * d.groups * 2, "groupNormGrad stats");
  const float* gamma = o[3] >= 0 ? heap.f32(o[3], C, "groupNormGrad gamma") : nullptr;
  const float* beta = o[4] >= 0 ? heap.f32(o[4], C, "groupNormGrad beta") : nullptr;
  float* dx = heap.f32(o[5], d.b * d.item(), "groupNormGrad dx");
  float* dgamma = heap.f32(o[6], C, "groupNormGrad dgamma");
  float* dbeta = heap.f32(o[7], C, "groupNormGrad dbeta");
  std::vector<float> one(size_t(C), 1.f), zero(size_t(C), 0.f);
  const float* gm = gamma ? gamma : one.data();
  const float* bt = beta ? beta : zero.data();
  std::vector<double> dg(size_t(C), 0.0), db(size_t(C), 0.0);
  std::vector<float> mean(static_cast<size_t>(C)), rstd(static_cast<size_t>(C));
  for (int64_t n = 0; n < d.b; n++) {
    for (int64_t c = 0; c < C; c++) {
      const int64_t g = c / (C / d.groups);
      mean[size_t(c)] = stats[(n * d.groups + g) * 2];
      rstd[size_t(c)] = stats[(n * d.groups + g) * 2 + 1];
    }
    const float *m = mean.data(), *r = rstd.data(), *xb = x + n * d.item(), *dyb = dy + n * d.item();
    float* dxb = dx + n * d.item();
    // x̂ and the gradient at the affine output z = x̂·γ + β (through the SiLU).
    auto terms = [&]<typename V>(int64_t i, int64_t c, V& xh, V& dz) {
      xh = (ld<V>(xb + i + c) - ld<V>(m + c)) * ld<V>(r + c);
      dz = ld<V>(dyb + i + c);
      if (silu) {
        const V z = xh * ld<V>(gm + c) + ld<V>(bt + c);
        const V s = sigmoid(z);
        dz = dz * s * (1.f + z * (1.f - s));
      }
    };
    // Per channel Σ dz·x̂ (= dγ) and Σ dz (= dβ) of this item.
    const std::vector<double> sums = channel_sums<2>(d.pixels, C, [&](int64_t p, float* acc) {
      each_channel(C, [&]<typename V>(int64_t c) {
        V xh, dz;
        terms(p * C, c, xh, dz);
        st(acc + c, ld<V>(acc + c) + dz * xh);
        st(acc + C + c, ld<V>(acc + C + c) + dz);
      });
    });
    std::vector<double> gdx(static_cast<size_t>(C)), gd(static_cast<size_t>(C));
    for (int64_t c = 0; c < C; c++) {
      dg[size_t(c)] += sums[size_t(c)];
      db[size_t(c)] += sums[size_t(C + c)];
      gdx[size_t(c)] = sums[size_t(c)] * gm[c];
      gd[size_t(c)] = sums[size_t(C + c)] * gm[c];
    }
    const std::vector<float> mdx = to_float(per_group(gdx.data(), C, d.groups, 1.0 / d.count()));
    const std::vector<float> md = to_float(per_group(gd.data(), C, d.groups, 1.0 / d.count()));
    const float *pmdx = mdx.data(), *pmd = md.data();
    // dx = rstd·(dz·γ − mean(dz·γ) − x̂·mean(dz·γ·x̂)) over each group.
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < d.pixels; p++) {
      each_channel(C, [&]<typename V>(int64_t c) {
        V xh, dz;
        terms(p * C, c, xh, dz);
        st(dxb + p * C + c, ld<V>(r + c) * (dz * ld<V>(gm + c) - ld<V>(pmd + c) - xh * ld<V>(pmdx + c)));
      });
    }
  }
  for (int64_t c = 0; c < C; c++) dgamma[c] = float(dg[size_t(c)]), dbeta[c] = float(db[size_t(c)]);
}

void layer_norm(const Heap& heap, const Offsets& o, const std::vector<int64_t>& dims, float eps) {
  if (dims.size() != 2 || dims[0] < 1 || dims[1] < 1) throw Error("layerNorm dims must be [rows, channels]");
  const int64_t rows = dims[0], channels = dims[1];
  const float* x = heap.f32(o[0], rows * channels, "layerNorm x");
  const float* gamma = heap.f32(o[1], channels, "layerNorm gamma");
  const float* beta = heap.f32(o[2], channels, "layerNorm beta");
  float* y = heap.f32(o[3], rows * channels, "layerNorm y");
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float* in = x + r * channels;
    float* out = y + r * channels;
    double s = 0;
    for (int64_t c = 0; c < channels; c++) s += in[c];
    const float mean = float(s / channels);
    double v = 0;
    for (int64_t c = 0; c < channels; c++) v += double(in[c] - mean) * double(in[c] - mean);
    const float rstd = float(1.0 / std::sqrt(v / channels + eps));
    for (int64_t c = 0; c < channels; c++) out[c] = (in[c] - mean) * rstd * gamma[c] + beta[c];
  }
}

}  // namespace ptp
