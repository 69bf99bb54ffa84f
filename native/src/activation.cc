#include "activation.h"

#include "args.h"

namespace ptp {

dnnl::primitive_attr activation_attr(const std::string& activation, float leaky_alpha) {
  using dnnl::algorithm;
  dnnl::primitive_attr attr;
  if (activation.empty() || activation == "linear") return attr;
  dnnl::post_ops ops;
  if (activation == "relu") {
    ops.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
  } else if (activation == "leakyrelu") {
    ops.append_eltwise(1.f, algorithm::eltwise_relu, leaky_alpha, 0.f);
  } else if (activation == "relu6") {
    ops.append_eltwise(1.f, algorithm::eltwise_clip, 0.f, 6.f);
  } else if (activation == "sigmoid") {
    ops.append_eltwise(1.f, algorithm::eltwise_logistic, 0.f, 0.f);
  } else if (activation == "elu") {
    ops.append_eltwise(1.f, algorithm::eltwise_elu, 1.f, 0.f);
  } else {
    throw Error("unsupported fused activation '" + activation + "'");
  }
  attr.set_post_ops(ops);
  return attr;
}

}  // namespace ptp
