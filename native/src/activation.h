// tfjs fused activations as oneDNN post-ops: linear, relu, relu6, leakyrelu, sigmoid, elu.
// (prelu needs a weights tensor; the JS side keeps the wasm kernel for it.)
#pragma once
#include <dnnl.hpp>
#include <string>

namespace ptp {

dnnl::primitive_attr activation_attr(const std::string& activation, float leaky_alpha);

}  // namespace ptp
