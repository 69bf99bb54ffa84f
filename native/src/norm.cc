// GroupNorm (optionally followed by SiLU) on [B, pixels, C] (NHWC flattened) and LayerNorm over
// the last axis. Statistics are two-pass (mean, then the mean of squared deviations), summed
// in float over fixed chunks of 64 pixels and in double across chunks: accurate on the VAE's
// 256²-pixel groups, and the same order whatever the thread count (deterministic).
#include <omp.h>

#include <cmath>
#include <vector>

#include "args.h"
#include "kernels.h"
#include "simd.h"

namespace ptp {
namespace {

constexpr int64_t kChunk = 64;

// sums[c] = Σ_p f(x[p, c], c) over the pixels of one batch item.
template <typename F>
std::vector<double> channel_sums(const float* x, int64_t pixels, int64_t channels, F f) {
  const int64_t chunks = (pixels + kChunk - 1) / kChunk;
  std::vector<float> part(size_t(chunks * channels));
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < chunks; k++) {
    float* acc = part.data() + k * channels;
    for (int64_t p = k * kChunk; p < std::min(pixels, (k + 1) * kChunk); p++) {
      const float* row = x + p * channels;
      for (int64_t c = 0; c < channels; c++) acc[c] += f(row[c], c);
    }
  }
  std::vector<double> sums(size_t(channels), 0.0);
  for (int64_t k = 0; k < chunks; k++) {
    for (int64_t c = 0; c < channels; c++) sums[size_t(c)] += part[size_t(k * channels + c)];
  }
  return sums;
}

// Per-channel value of each group's statistic: Σ over the group's channels / count.
std::vector<float> per_channel(const std::vector<double>& sums, int64_t groups, double count) {
  const int64_t channels = int64_t(sums.size()), cg = channels / groups;
  std::vector<float> out(sums.size());
  for (int64_t g = 0; g < groups; g++) {
    double s = 0;
    for (int64_t c = g * cg; c < (g + 1) * cg; c++) s += sums[size_t(c)];
    for (int64_t c = g * cg; c < (g + 1) * cg; c++) out[size_t(c)] = float(s / count);
  }
  return out;
}

}  // namespace

void group_norm(const Heap& heap, const Offsets& o, const std::vector<int64_t>& dims, float eps, bool silu) {
  if (dims.size() != 4) throw Error("groupNorm dims must be [batch, pixels, channels, groups]");
  const int64_t b = dims[0], pixels = dims[1], channels = dims[2], groups = dims[3];
  if (b < 1 || pixels < 1 || groups < 1 || channels % groups) throw Error("groupNorm: bad dims");
  const float* x = heap.f32(o[0], b * pixels * channels, "groupNorm x");
  const float* gamma = o[1] >= 0 ? heap.f32(o[1], channels, "groupNorm gamma") : nullptr;
  const float* beta = o[2] >= 0 ? heap.f32(o[2], channels, "groupNorm beta") : nullptr;
  float* y = heap.f32(o[3], b * pixels * channels, "groupNorm y");
  const double count = double(pixels) * double(channels / groups);
  for (int64_t n = 0; n < b; n++) {
    const float* xb = x + n * pixels * channels;
    float* yb = y + n * pixels * channels;
    const std::vector<float> mean = per_channel(channel_sums(xb, pixels, channels, [](float v, int64_t) { return v; }), groups, count);
    const float* m = mean.data();
    const std::vector<float> var = per_channel(channel_sums(xb, pixels, channels, [m](float v, int64_t c) {
      const float d = v - m[c];
      return d * d;
    }), groups, count);
    std::vector<float> scale(static_cast<size_t>(channels)), shift(static_cast<size_t>(channels));
    for (int64_t c = 0; c < channels; c++) {
      scale[size_t(c)] = float(1.0 / std::sqrt(double(var[size_t(c)]) + eps)) * (gamma ? gamma[c] : 1.f);
      shift[size_t(c)] = beta ? beta[c] : 0.f;
    }
    const float *sc = scale.data(), *sh = shift.data();
    const int64_t full = channels / 16 * 16;
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < pixels; p++) {
      const float* in = xb + p * channels;
      float* out = yb + p * channels;
      for (int64_t c = 0; c < full; c += 16) {
        const v16 v = (load(in + c) - load(m + c)) * load(sc + c) + load(sh + c);
        store(out + c, silu ? v / (1.f + vexp(-v)) : v);
      }
      for (int64_t c = full; c < channels; c++) {
        const float v = (in[c] - m[c]) * sc[c] + sh[c];
        out[c] = silu ? v / (1.f + std::exp(-v)) : v;
      }
    }
  }
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
