// Sums and means over any axes of a float32 tensor, and the sum of squares (gradient norms).
// The axes are brought to passes of the form [outer, reduced, inner] (size-1 dimensions
// dropped, neighbours of the same kind merged; several separate reduced groups become several
// passes, innermost first). A pass sums the reduced axis in fixed chunks (floats within a
// chunk, doubles across chunks, always in the same order): more accurate than one float
// running sum, and the same bits whatever the thread count.
#include <cmath>
#include <string>
#include <vector>

#include "args.h"
#include "kernels.h"
#include "parallel.h"
#include "simd.h"

namespace ptp {
namespace {

// Rows of the reduced axis per chunk: with an inner axis (column sums) and without (row sums).
constexpr int64_t kColChunk = 64;
constexpr int64_t kRowChunk = 4096;

// y[o, i] = Σ_r x[o, r, i] (· scale).
void reduce_pass(const float* x, float* y, int64_t outer, int64_t r, int64_t inner, double scale) {
  if (inner == 1) {
    const int64_t chunks = (r + kRowChunk - 1) / kRowChunk;
    std::vector<double> part(size_t(outer * chunks));
    parallel_for(outer * chunks, outer * r, [&](int64_t u) {
      const int64_t o = u / chunks, c = u % chunks;
      const float* p = x + o * r;
      const int64_t j0 = c * kRowChunk, j1 = std::min(r, j0 + kRowChunk);
      v16 acc = {};
      int64_t j = j0;
      for (; j + 16 <= j1; j += 16) acc += load(p + j);
      float s = hsum(acc);
      for (; j < j1; j++) s += p[j];
      part[size_t(u)] = s;
    });
    for (int64_t o = 0; o < outer; o++) {
      double s = 0;
      for (int64_t c = 0; c < chunks; c++) s += part[size_t(o * chunks + c)];
      y[o] = float(s * scale);
    }
    return;
  }
  const int64_t chunks = (r + kColChunk - 1) / kColChunk;
  std::vector<float> part(size_t(outer * chunks * inner));
  parallel_for(outer * chunks, outer * r * inner, [&](int64_t u) {
    const int64_t o = u / chunks, c = u % chunks;
    const int64_t j0 = c * kColChunk, j1 = std::min(r, j0 + kColChunk);
    float* acc = part.data() + u * inner;
    const float* p = x + (o * r + j0) * inner;
    std::copy(p, p + inner, acc);
    for (int64_t j = j0 + 1; j < j1; j++) {
      p += inner;
      int64_t i = 0;
      for (; i + 16 <= inner; i += 16) store(acc + i, load(acc + i) + load(p + i));
      for (; i < inner; i++) acc[i] += p[i];
    }
  });
  parallel_for(outer, outer * chunks * inner, [&](int64_t o) {
    std::vector<double> s(size_t(inner), 0.0);
    for (int64_t c = 0; c < chunks; c++) {
      const float* p = part.data() + (o * chunks + c) * inner;
      for (int64_t i = 0; i < inner; i++) s[size_t(i)] += p[i];
    }
    for (int64_t i = 0; i < inner; i++) y[o * inner + i] = float(s[size_t(i)] * scale);
  });
}

}  // namespace

void reduce(const Heap& heap, const Offsets& o, const std::vector<int64_t>& shape, const std::vector<int64_t>& axes, bool mean) {
  std::vector<bool> reduced(shape.size(), false);
  for (int64_t a : axes) {
    if (a < 0 || a >= int64_t(shape.size())) throw Error("reduce: axis " + std::to_string(a) + " out of range");
    reduced[size_t(a)] = true;
  }
  int64_t n = 1, count = 1;
  for (size_t i = 0; i < shape.size(); i++) {
    n *= shape[i];
    if (reduced[i]) count *= shape[i];
  }
  int64_t kept = 1;
  for (size_t i = 0; i < shape.size(); i++) kept *= reduced[i] ? 1 : shape[i];
  const float* x = heap.f32(o[0], n, "reduce x");
  float* y = heap.f32(o[1], kept, "reduce out");
  if (n == 0) {
    // Nothing to sum: 0, and tfjs' mean of nothing is NaN.
    std::fill(y, y + kept, mean ? NAN : 0.f);
    return;
  }
  // Groups of neighbouring dimensions of one kind (size-1 dimensions dropped).
  std::vector<std::pair<int64_t, bool>> groups;
  for (size_t i = 0; i < shape.size(); i++) {
    if (shape[i] == 1) continue;
    if (!groups.empty() && groups.back().second == reduced[i]) groups.back().first *= shape[i];
    else groups.push_back({shape[i], reduced[i]});
  }
  int64_t passes = 0;
  for (auto& g : groups) passes += g.second;
  if (passes == 0) {
    parallel_for((n + 16383) / 16384, n, [&](int64_t u) {
      const int64_t j0 = u * 16384, j1 = std::min(n, j0 + 16384);
      std::copy(x + j0, x + j1, y + j0);
    });
    return;
  }
  // Innermost reduced group first; the last pass writes the output (and scales for a mean).
  std::vector<float> bufs[2];
  const float* src = x;
  int64_t done = 0;
  for (int64_t g = int64_t(groups.size()) - 1; g >= 0; g--) {
    if (!groups[size_t(g)].second) continue;
    int64_t outer = 1, inner = 1;
    for (int64_t k = 0; k < g; k++) outer *= groups[size_t(k)].first;
    for (size_t k = size_t(g) + 1; k < groups.size(); k++) inner *= groups[k].first;
    const int64_t r = groups[size_t(g)].first;
    done++;
    float* dst;
    if (done == passes) {
      dst = y;
    } else {
      bufs[done % 2].resize(size_t(outer * inner));
      dst = bufs[done % 2].data();
    }
    reduce_pass(src, dst, outer, r, inner, done == passes && mean ? 1.0 / double(count) : 1.0);
    src = dst;
    groups[size_t(g)].first = 1;
  }
}

void sum_of_squares(const Heap& heap, const Offsets& o, int64_t n) {
  const float* x = heap.f32(o[0], n, "sumOfSquares x");
  float* y = heap.f32(o[1], 1, "sumOfSquares out");
  const int64_t chunks = (n + kRowChunk - 1) / kRowChunk;
  std::vector<double> part(static_cast<size_t>(chunks));
  parallel_for(chunks, n, [&](int64_t c) {
    const int64_t j0 = c * kRowChunk, j1 = std::min(n, j0 + kRowChunk);
    double s = 0;
    for (int64_t j = j0; j < j1; j++) s += double(x[j]) * double(x[j]);
    part[size_t(c)] = s;
  });
  double s = 0;
  for (double p : part) s += p;
  y[0] = float(s);
}

}  // namespace ptp
