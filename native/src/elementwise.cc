// Element-wise kernels on float32 tensors in the tensor memory: binary operations with
// broadcasting (add, sub, mul, div, squared difference), unary ones (neg, square, sqrt, rsqrt,
// exp, sigmoid), and strided copies (slice, split, concat, pad, transpose, identity) and fills.
// Shapes are brought to a canonical form first: size-1 dimensions dropped, neighbours merged
// where both operands stay contiguous across them, so the innermost loop runs over a
// contiguous (or broadcast) row; rows (and blocks of long rows) are spread over the threads.
// Every output element is computed by one thread with one operation: bit-for-bit the result of
// the wasm kernels for add/sub/mul/div, whatever the thread count.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "args.h"
#include "kernels.h"
#include "parallel.h"
#include "simd.h"

namespace ptp {
namespace {

constexpr int64_t kBlock = 16384;  // floats of a row per work unit

// Dimensions with one stride per operand (in elements), outermost first.
struct Layout {
  std::vector<int64_t> dims;
  std::vector<std::vector<int64_t>> strides;  // [operand][dim]

  int64_t inner() const { return dims.empty() ? 1 : dims.back(); }
  int64_t rows() const {
    int64_t r = 1;
    for (size_t i = 0; i + 1 < dims.size(); i++) r *= dims[i];
    return r;
  }
  // Element offset of each operand at the start of row `row`.
  void row_offsets(int64_t row, int64_t* off) const {
    for (size_t k = 0; k < strides.size(); k++) off[k] = 0;
    for (int64_t i = int64_t(dims.size()) - 2; i >= 0; i--) {
      const int64_t idx = row % dims[size_t(i)];
      row /= dims[size_t(i)];
      for (size_t k = 0; k < strides.size(); k++) off[k] += idx * strides[k][size_t(i)];
    }
  }
  int64_t inner_stride(size_t k) const { return dims.empty() ? 0 : strides[k].back(); }
};

// Drops size-1 dimensions and merges neighbours that every operand walks contiguously.
Layout canonical(const std::vector<int64_t>& dims, const std::vector<std::vector<int64_t>>& strides) {
  Layout l;
  l.strides.resize(strides.size());
  for (size_t i = 0; i < dims.size(); i++) {
    if (dims[i] == 1) continue;
    bool merge = !l.dims.empty();
    for (size_t k = 0; merge && k < strides.size(); k++) merge = l.strides[k].back() == strides[k][i] * dims[i];
    if (merge) {
      l.dims.back() *= dims[i];
      for (size_t k = 0; k < strides.size(); k++) l.strides[k].back() = strides[k][i];
    } else {
      l.dims.push_back(dims[i]);
      for (size_t k = 0; k < strides.size(); k++) l.strides[k].push_back(strides[k][i]);
    }
  }
  return l;
}

// Strides of `shape` (right-aligned to `rank` dims) inside a tensor of `out` dims: 0 where broadcast.
std::vector<int64_t> broadcast_strides(const std::vector<int64_t>& shape, const std::vector<int64_t>& out) {
  const size_t rank = out.size();
  if (shape.size() > rank) throw Error("operand has more dimensions than the output");
  std::vector<int64_t> s(rank, 0);
  int64_t stride = 1;
  for (size_t i = 0; i < shape.size(); i++) {
    const size_t d = shape.size() - 1 - i, o = rank - 1 - i;
    if (shape[d] != out[o] && shape[d] != 1) throw Error("operand shape does not broadcast to the output");
    s[o] = shape[d] == 1 ? 0 : stride;
    stride *= shape[d];
  }
  return s;
}

int64_t product(const std::vector<int64_t>& v) {
  int64_t p = 1;
  for (int64_t x : v) p *= x;
  return p;
}

// Runs body(row, j0, j1, offsets) over rows × blocks of the inner dimension.
template <typename F>
void for_blocks(const Layout& l, F body) {
  const int64_t inner = l.inner(), rows = l.rows();
  const int64_t blocks = (inner + kBlock - 1) / kBlock;
  parallel_for(rows * blocks, rows * inner, [&](int64_t u) {
    const int64_t row = u / blocks, j0 = (u % blocks) * kBlock, j1 = std::min(inner, j0 + kBlock);
    int64_t off[3];
    l.row_offsets(row, off);
    body(j0, j1, off);
  });
}

enum class BinOp { add, sub, mul, div, sqdiff };

template <BinOp op, typename V>
inline V apply(V a, V b) {
  if constexpr (op == BinOp::add) return a + b;
  if constexpr (op == BinOp::sub) return a - b;
  if constexpr (op == BinOp::mul) return a * b;
  if constexpr (op == BinOp::div) return a / b;
  if constexpr (op == BinOp::sqdiff) return (a - b) * (a - b);
}

// out[j] = a[j or 0] op b[j or 0] for j in [j0, j1).
template <BinOp op, bool A, bool B>
void binary_row(const float* a, const float* b, float* out, int64_t j0, int64_t j1) {
  int64_t j = j0;
  const v16 as = splat(a[0]), bs = splat(b[0]);
  for (; j + 16 <= j1; j += 16) store(out + j, apply<op>(A ? load(a + j) : as, B ? load(b + j) : bs));
  for (; j < j1; j++) out[j] = apply<op>(A ? a[j] : a[0], B ? b[j] : b[0]);
}

template <BinOp op>
void binary_op(const float* a, const float* b, float* out, const Layout& l) {
  const bool sa = l.inner_stride(0) == 1, sb = l.inner_stride(1) == 1;
  for_blocks(l, [&](int64_t j0, int64_t j1, const int64_t* off) {
    const float *pa = a + off[0], *pb = b + off[1];
    float* po = out + off[2];
    if (sa && sb) binary_row<op, true, true>(pa, pb, po, j0, j1);
    else if (sa) binary_row<op, true, false>(pa, pb, po, j0, j1);
    else if (sb) binary_row<op, false, true>(pa, pb, po, j0, j1);
    else binary_row<op, false, false>(pa, pb, po, j0, j1);
  });
}

enum class UnOp { neg, square, sqrt, rsqrt, exp, sigmoid };

template <UnOp op>
void unary_op(const float* x, float* y, int64_t n) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  parallel_for(blocks, n, [&](int64_t u) {
    const int64_t j0 = u * kBlock, j1 = std::min(n, j0 + kBlock);
    int64_t j = j0;
    if constexpr (op == UnOp::exp || op == UnOp::sigmoid) {
      for (; j + 16 <= j1; j += 16) {
        const v16 v = load(x + j);
        store(y + j, op == UnOp::exp ? vexp(v) : 1.f / (1.f + vexp(-v)));
      }
      if (j < j1) {
        float tmp[16] = {};
        std::copy(x + j, x + j1, tmp);
        const v16 v = load(tmp);
        store(tmp, op == UnOp::exp ? vexp(v) : 1.f / (1.f + vexp(-v)));
        std::copy(tmp, tmp + (j1 - j), y + j);
      }
    } else {
      for (; j < j1; j++) {
        const float v = x[j];
        if constexpr (op == UnOp::neg) y[j] = -v;
        if constexpr (op == UnOp::square) y[j] = v * v;
        if constexpr (op == UnOp::sqrt) y[j] = std::sqrt(v);
        if constexpr (op == UnOp::rsqrt) y[j] = 1.f / std::sqrt(v);
      }
    }
  });
}

}  // namespace

void binary(const Heap& heap, const Offsets& o, const std::vector<int64_t>& a_shape, const std::vector<int64_t>& b_shape,
            const std::string& op) {
  const size_t rank = std::max(a_shape.size(), b_shape.size());
  std::vector<int64_t> out(rank, 1);
  for (size_t i = 0; i < rank; i++) {
    const int64_t da = i + a_shape.size() >= rank ? a_shape[i + a_shape.size() - rank] : 1;
    const int64_t db = i + b_shape.size() >= rank ? b_shape[i + b_shape.size() - rank] : 1;
    if (da != db && da != 1 && db != 1) throw Error("binary " + op + ": shapes do not broadcast");
    out[i] = std::max(da, db);
  }
  const int64_t n = product(out);
  const float* a = heap.f32(o[0], product(a_shape), "binary a");
  const float* b = heap.f32(o[1], product(b_shape), "binary b");
  float* y = heap.f32(o[2], n, "binary out");
  if (n == 0) return;
  const Layout l = canonical(out, {broadcast_strides(a_shape, out), broadcast_strides(b_shape, out), broadcast_strides(out, out)});
  if (op == "add") binary_op<BinOp::add>(a, b, y, l);
  else if (op == "sub") binary_op<BinOp::sub>(a, b, y, l);
  else if (op == "mul") binary_op<BinOp::mul>(a, b, y, l);
  else if (op == "div") binary_op<BinOp::div>(a, b, y, l);
  else if (op == "sqdiff") binary_op<BinOp::sqdiff>(a, b, y, l);
  else throw Error("unknown binary operation '" + op + "'");
}

void unary(const Heap& heap, const Offsets& o, int64_t n, const std::string& op) {
  const float* x = heap.f32(o[0], n, "unary x");
  float* y = heap.f32(o[1], n, "unary out");
  if (op == "neg") unary_op<UnOp::neg>(x, y, n);
  else if (op == "square") unary_op<UnOp::square>(x, y, n);
  else if (op == "sqrt") unary_op<UnOp::sqrt>(x, y, n);
  else if (op == "rsqrt") unary_op<UnOp::rsqrt>(x, y, n);
  else if (op == "exp") unary_op<UnOp::exp>(x, y, n);
  else if (op == "sigmoid") unary_op<UnOp::sigmoid>(x, y, n);
  else throw Error("unknown unary operation '" + op + "'");
}

void copy_strided(const Heap& heap, const Offsets& o, const std::vector<int64_t>& dims, const std::vector<int64_t>& src_strides,
                  const std::vector<int64_t>& dst_strides, int64_t src_count, int64_t dst_count) {
  if (src_strides.size() != dims.size() || dst_strides.size() != dims.size()) throw Error("copy: dims and strides differ in length");
  for (size_t i = 0; i < dims.size(); i++) {
    if (dims[i] < 0 || src_strides[i] < 0 || dst_strides[i] < 0) throw Error("copy: negative dimension or stride");
  }
  const float* src = heap.f32(o[0], src_count, "copy source");
  float* dst = heap.f32(o[1], dst_count, "copy destination");
  if (product(dims) == 0) return;
  // The last element each side reaches must lie inside it.
  int64_t src_last = 0, dst_last = 0;
  for (size_t i = 0; i < dims.size(); i++) src_last += (dims[i] - 1) * src_strides[i], dst_last += (dims[i] - 1) * dst_strides[i];
  if (src_last >= src_count || dst_last >= dst_count) throw Error("copy: the box reaches outside its tensor");
  const Layout l = canonical(dims, {src_strides, dst_strides});
  const int64_t ss = l.inner_stride(0), ds = l.inner_stride(1);
  for_blocks(l, [&](int64_t j0, int64_t j1, const int64_t* off) {
    const float* s = src + off[0];
    float* d = dst + off[1];
    if (ss == 1 && ds == 1) {
      std::memcpy(d + j0, s + j0, size_t(j1 - j0) * sizeof(float));
    } else {
      for (int64_t j = j0; j < j1; j++) d[j * ds] = s[j * ss];
    }
  });
}

void fill(const Heap& heap, const Offsets& o, int64_t n, float value) {
  float* y = heap.f32(o[0], n, "fill out");
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  parallel_for(blocks, n, [&](int64_t u) {
    const int64_t j0 = u * kBlock, j1 = std::min(n, j0 + kBlock);
    std::fill(y + j0, y + j1, value);
  });
}

}  // namespace ptp
