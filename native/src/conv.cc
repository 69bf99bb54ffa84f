// 2-D convolution, NHWC activations and HWIO filters (the tfjs layouts), over oneDNN:
// forward (bias, fused activation), and the two gradients (input, filter).
// Filters are reordered per call into the layout oneDNN's direct kernels want ("any"): 2×
// faster than the gemm-based kernel that runs on HWIO as stored at 64², 1.1× at 32². On small
// outputs (N·OH·OW ≤ 1024: the UNet's 16² and 8² layers at batch 2) the filter is large next to
// the work and its reorder costs more than it saves: those run on HWIO (measured per CPU-second
// at 16² × 1280 → 1280, batch 2: 130 vs 48 GFLOP; at 32² the blocked filter wins, 121 vs 96).
// A filter with a packing key (a weight, packed.h) is reordered once and kept: those run on
// the blocked layout at every size.
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

namespace {

// [N, H, W, CI, KH, KW, CO, SH, SW, DH, DW, padTop, padLeft, padBottom, padRight, OH, OW]
struct ConvShape {
  memory::dim n, h, w, ci, kh, kw, co, sh, sw, dh, dw, pt, pl, pb, pr, oh, ow;

  explicit ConvShape(const std::vector<int64_t>& s) {
    if (s.size() != 17) throw Error("conv shape must have 17 entries");
    for (int64_t v : s) {
      if (v < 0) throw Error("negative conv dimension");
    }
    n = s[0], h = s[1], w = s[2], ci = s[3], kh = s[4], kw = s[5], co = s[6], sh = s[7], sw = s[8];
    dh = s[9], dw = s[10], pt = s[11], pl = s[12], pb = s[13], pr = s[14], oh = s[15], ow = s[16];
  }
  memory::desc input(dt t) const { return {{n, ci, h, w}, t, tag::nhwc}; }
  memory::desc output(dt t) const { return {{n, co, oh, ow}, t, tag::nhwc}; }
  memory::desc filter(dt t, tag f) const { return {{co, ci, kh, kw}, t, f}; }
  memory::dims strides() const { return {sh, sw}; }
  memory::dims dilation() const { return {dh - 1, dw - 1}; }
  memory::dims pad_l() const { return {pt, pl}; }
  memory::dims pad_r() const { return {pb, pr}; }
  int64_t input_size() const { return n * h * w * ci; }
  int64_t output_size() const { return n * oh * ow * co; }
  int64_t filter_size() const { return kh * kw * ci * co; }
  bool small_output() const { return n * oh * ow <= 1024; }
};

// The forward descriptor every direction is derived from.
dnnl::convolution_forward::primitive_desc forward_pd(const ConvShape& s, dnnl::prop_kind prop, bool bias,
                                                     const dnnl::primitive_attr& attr = {}, bool packed = false) {
  const dt t = operand_type();
  const bool plain = prop == dnnl::prop_kind::forward_inference && t == dt::f32 && s.small_output() && !packed;
  const tag filter = plain ? tag::hwio : tag::any;
  dnnl::convolution_forward::desc d(prop, dnnl::algorithm::convolution_direct, s.input(t), s.filter(t, filter),
                                    bias ? memory::desc({s.co}, dt::f32, tag::a) : memory::desc(), s.output(dt::f32),
                                    s.strides(), s.dilation(), s.pad_l(), s.pad_r());
  return {d, attr, engine()};
}

}  // namespace

void conv2d(const Heap& heap, const Offsets& o, const std::vector<int64_t>& shape, const std::string& act, float alpha,
            int64_t key) {
  const ConvShape s(shape);
  const bool has_bias = o.size() > 3 && o[2] >= 0;
  auto pd = forward_pd(s, dnnl::prop_kind::forward_inference, has_bias, activation_attr(act, alpha), key >= 0);
  memory x(s.input(dt::f32), engine(), heap.f32(o[0], s.input_size(), "conv2d x"));
  memory w(s.filter(dt::f32, tag::hwio), engine(), heap.f32(o[1], s.filter_size(), "conv2d filter"));
  memory y(s.output(dt::f32), engine(), heap.f32(o[3], s.output_size(), "conv2d y"));
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, convert(x, pd.src_desc())},
                                       {DNNL_ARG_WEIGHTS, packed_weight(key, w, pd.weights_desc())},
                                       {DNNL_ARG_DST, y}};
  if (has_bias) args[DNNL_ARG_BIAS] = memory({{s.co}, dt::f32, tag::a}, engine(), heap.f32(o[2], s.co, "conv2d bias"));
  dnnl::convolution_forward(pd).execute(stream(), args);
  stream().wait();
}

void conv2d_backprop_input(const Heap& heap, const Offsets& o, const std::vector<int64_t>& shape) {
  const ConvShape s(shape);
  const dt t = operand_type();
  auto fwd = forward_pd(s, dnnl::prop_kind::forward_training, false);
  dnnl::convolution_backward_data::desc d(dnnl::algorithm::convolution_direct, s.input(dt::f32), s.filter(t, tag::any),
                                          s.output(t), s.strides(), s.dilation(), s.pad_l(), s.pad_r());
  dnnl::convolution_backward_data::primitive_desc pd(d, engine(), fwd);
  memory dy(s.output(dt::f32), engine(), heap.f32(o[0], s.output_size(), "conv2dBackpropInput dy"));
  memory w(s.filter(dt::f32, tag::hwio), engine(), heap.f32(o[1], s.filter_size(), "conv2dBackpropInput filter"));
  memory dx(s.input(dt::f32), engine(), heap.f32(o[2], s.input_size(), "conv2dBackpropInput dx"));
  dnnl::convolution_backward_data(pd).execute(stream(), {{DNNL_ARG_DIFF_DST, convert(dy, pd.diff_dst_desc())},
                                                         {DNNL_ARG_WEIGHTS, convert(w, pd.weights_desc())},
                                                         {DNNL_ARG_DIFF_SRC, dx}});
  stream().wait();
}

void conv2d_backprop_filter(const Heap& heap, const Offsets& o, const std::vector<int64_t>& shape) {
  const ConvShape s(shape);
  const dt t = operand_type();
  auto fwd = forward_pd(s, dnnl::prop_kind::forward_training, false);
  dnnl::convolution_backward_weights::desc d(dnnl::algorithm::convolution_direct, s.input(t), s.filter(dt::f32, tag::any),
                                             s.output(t), s.strides(), s.dilation(), s.pad_l(), s.pad_r());
  dnnl::convolution_backward_weights::primitive_desc pd(d, engine(), fwd);
  memory x(s.input(dt::f32), engine(), heap.f32(o[0], s.input_size(), "conv2dBackpropFilter x"));
  memory dy(s.output(dt::f32), engine(), heap.f32(o[1], s.output_size(), "conv2dBackpropFilter dy"));
  memory dw(s.filter(dt::f32, tag::hwio), engine(), heap.f32(o[2], s.filter_size(), "conv2dBackpropFilter dw"));
  memory dw_native = pd.diff_weights_desc() == dw.get_desc() ? dw : memory(pd.diff_weights_desc(), engine());
  dnnl::convolution_backward_weights(pd).execute(stream(), {{DNNL_ARG_SRC, convert(x, pd.src_desc())},
                                                            {DNNL_ARG_DIFF_DST, convert(dy, pd.diff_dst_desc())},
                                                            {DNNL_ARG_DIFF_WEIGHTS, dw_native}});
  if (dw_native != dw) copy(dw_native, dw);
  stream().wait();
}

}  // namespace ptp
