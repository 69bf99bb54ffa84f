// Batched matmul with transposes, bias and activation over oneDNN's matmul primitive.
// Transposed operands are described by strides (no copy); batch 1 broadcasts.
#include <dnnl.hpp>

#include "activation.h"
#include "args.h"
#include "engine.h"
#include "kernels.h"

namespace ptp {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

void matmul(const Heap& heap, const Offsets& o, const std::vector<int64_t>& dims, const std::string& act, float alpha) {
  if (dims.size() != 7) throw Error("matmul dims must be [batchA, batchB, M, K, N, transposeA, transposeB]");
  const memory::dim ba = dims[0], bb = dims[1], m = dims[2], k = dims[3], n = dims[4];
  const bool ta = dims[5] != 0, tb = dims[6] != 0;
  if (ba != bb && ba != 1 && bb != 1) throw Error("matmul batches " + std::to_string(ba) + " and " + std::to_string(bb) + " do not broadcast");
  const memory::dim batch = std::max(ba, bb);
  // Logical [batch, rows, cols] over the stored (possibly transposed) matrices.
  memory::desc a_user({ba, m, k}, dt::f32, ta ? memory::dims{m * k, 1, m} : memory::dims{m * k, k, 1});
  memory::desc b_user({bb, k, n}, dt::f32, tb ? memory::dims{k * n, 1, k} : memory::dims{k * n, n, 1});
  memory::desc c_desc({batch, m, n}, dt::f32, tag::abc);
  const bool has_bias = o[2] >= 0;
  memory::desc bias_desc({1, 1, n}, dt::f32, tag::abc);

  const dt t = operand_type();
  // bf16 operands are converted to plain row-major copies.
  memory::desc a_op = t == dt::f32 ? a_user : memory::desc({ba, m, k}, t, tag::abc);
  memory::desc b_op = t == dt::f32 ? b_user : memory::desc({bb, k, n}, t, tag::abc);
  dnnl::matmul::desc d = has_bias ? dnnl::matmul::desc(a_op, b_op, bias_desc, c_desc) : dnnl::matmul::desc(a_op, b_op, c_desc);
  dnnl::matmul::primitive_desc pd(d, activation_attr(act, alpha), engine());

  memory a(a_user, engine(), heap.f32(o[0], ba * m * k, "matmul a"));
  memory b(b_user, engine(), heap.f32(o[1], bb * k * n, "matmul b"));
  memory c(c_desc, engine(), heap.f32(o[3], batch * m * n, "matmul c"));
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, convert(a, pd.src_desc())},
                                       {DNNL_ARG_WEIGHTS, convert(b, pd.weights_desc())},
                                       {DNNL_ARG_DST, c}};
  if (has_bias) args[DNNL_ARG_BIAS] = memory(bias_desc, engine(), heap.f32(o[2], n, "matmul bias"));
  dnnl::matmul(pd).execute(stream(), args);
  stream().wait();
}

}  // namespace ptp
