// Batched matmul with transposes, bias and activation over oneDNN's matmul primitive.
// A transposed `a` is described by strides (no copy); batch 1 broadcasts. `b` is reordered per
// call into the blocked layout oneDNN picks ("any"): on plain weights oneDNN re-packs them inside
// the kernel, 3× slower at the UNet's 512×1280×5120 (measured 46 vs 136 GFLOP/s per core).
// A `b` with a packing key (a weight, packed.h) is reordered once and kept.
#include <dnnl.hpp>

#include "activation.h"
#include "args.h"
#include "engine.h"
#include "kernels.h"
#include "packed.h"

namespace ptp {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

void matmul(const Heap& heap, const Offsets& o, const std::vector<int64_t>& dims, const std::string& act, float alpha,
            int64_t key) {
  if (dims.size() != 7) throw Error("matmul dims must be [batchA, batchB, M, K, N, transposeA, transposeB]");
  const memory::dim ba = dims[0], bb = dims[1], m = dims[2], k = dims[3], n = dims[4];
  const bool ta = dims[5] != 0, tb = dims[6] != 0;
  if (ba != bb && ba != 1 && bb != 1) throw Error("matmul batches " + std::to_string(ba) + " and " + std::to_string(bb) + " do not broadcast");
  const memory::dim batch = std::max(ba, bb);
  // One weight matrix and a plain `a`: a single 2-D product of (batch·M) rows (oneDNN blocks
  // 2-D weights only). Otherwise logical [batch, rows, cols] over the stored matrices.
  const bool flat = bb == 1 && !ta;
  const memory::dim rows = flat ? ba * m : m, nb = flat ? 1 : batch;
  auto desc = [&](memory::dim b, memory::dim r, memory::dim c, dt t, memory::dims strides) {
    return flat ? memory::desc({r, c}, t, memory::dims{strides[1], strides[2]}) : memory::desc({b, r, c}, t, strides);
  };
  auto any = [&](memory::dim b, memory::dim r, memory::dim c, dt t) {
    return flat ? memory::desc({r, c}, t, tag::any) : memory::desc({b, r, c}, t, tag::any);
  };
  const memory::desc a_user = desc(ba, rows, k, dt::f32, ta ? memory::dims{m * k, 1, m} : memory::dims{m * k, k, 1});
  const memory::desc b_user = desc(bb, k, n, dt::f32, tb ? memory::dims{k * n, 1, k} : memory::dims{k * n, n, 1});
  const memory::desc c_desc = desc(nb, rows, n, dt::f32, {rows * n, n, 1});
  const memory::desc bias_desc = desc(1, 1, n, dt::f32, {n, n, 1});
  const bool has_bias = o[2] >= 0;

  const dt t = operand_type();
  // bf16 operands: `a` is converted to a plain row-major copy.
  const memory::desc a_op = t == dt::f32 ? a_user : desc(ba, rows, k, t, {rows * k, k, 1});
  const memory::desc b_op = any(bb, k, n, t);
  dnnl::matmul::desc d = has_bias ? dnnl::matmul::desc(a_op, b_op, bias_desc, c_desc) : dnnl::matmul::desc(a_op, b_op, c_desc);
  dnnl::matmul::primitive_desc pd(d, activation_attr(act, alpha), engine());

  memory a(a_user, engine(), heap.f32(o[0], ba * m * k, "matmul a"));
  memory b(b_user, engine(), heap.f32(o[1], bb * k * n, "matmul b"));
  memory c(c_desc, engine(), heap.f32(o[3], batch * m * n, "matmul c"));
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, convert(a, pd.src_desc())},
                                       {DNNL_ARG_WEIGHTS, packed_weight(key, b, pd.weights_desc())},
                                       {DNNL_ARG_DST, c}};
  if (has_bias) args[DNNL_ARG_BIAS] = memory(bias_desc, engine(), heap.f32(o[2], n, "matmul bias"));
  dnnl::matmul(pd).execute(stream(), args);
  stream().wait();
}

}  // namespace ptp
