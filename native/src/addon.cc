// The N-API module: argument decoding for each kernel (kernels.h) plus set-up functions.
#include <node_api.h>

#include "args.h"
#include "engine.h"
#include "kernels.h"
#include "packed.h"

namespace ptp {
namespace {

napi_value Info(napi_env env, napi_callback_info info) {
  return guard(env, "info", [&] {
    napi_value o;
    napi_create_object(env, &o);
    napi_set_named_property(env, o, "library", string(env, library_info()));
    napi_set_named_property(env, o, "threads", number(env, threads()));
    napi_set_named_property(env, o, "precision", string(env, precision() == Precision::bf16 ? "bf16" : "fp32"));
    napi_value native;
    napi_get_boolean(env, bf16_native(), &native);
    napi_set_named_property(env, o, "bf16Native", native);
    napi_value attention;
    napi_get_boolean(env, attention_bf16_available(), &attention);
    napi_set_named_property(env, o, "attentionBf16", attention);
    return o;
  });
}

napi_value SetThreads(napi_env env, napi_callback_info info) {
  return guard(env, "setThreads", [&] {
    Args a(env, info);
    const int64_t n = a.i64(0);
    if (n < 1) throw Error("thread count must be ≥ 1");
    set_threads(int(n));
    return undefined(env);
  });
}

napi_value SetPrecision(napi_env env, napi_callback_info info) {
  return guard(env, "setPrecision", [&] {
    Args a(env, info);
    const std::string p = a.str(0);
    if (p != "fp32" && p != "bf16") throw Error("precision must be fp32 or bf16, got " + p);
    set_precision(p == "bf16" ? Precision::bf16 : Precision::f32);
    return undefined(env);
  });
}

// conv2d(heap, [x, filter, bias|-1, y], shape[17], activation, leakyAlpha, packKey = -1)
napi_value Conv2d(napi_env env, napi_callback_info info) {
  return guard(env, "conv2d", [&] {
    Args a(env, info);
    conv2d(a.heap(0), a.ints(1), a.ints(2), a.str(3), float(a.f64(4)), a.size() > 5 ? a.i64(5) : -1);
    return undefined(env);
  });
}

// conv2dBackpropInput(heap, [dy, filter, dx], shape[17])
napi_value Conv2dBackpropInput(napi_env env, napi_callback_info info) {
  return guard(env, "conv2dBackpropInput", [&] {
    Args a(env, info);
    conv2d_backprop_input(a.heap(0), a.ints(1), a.ints(2));
    return undefined(env);
  });
}

// conv2dBackpropFilter(heap, [x, dy, dfilter], shape[17])
napi_value Conv2dBackpropFilter(napi_env env, napi_callback_info info) {
  return guard(env, "conv2dBackpropFilter", [&] {
    Args a(env, info);
    conv2d_backprop_filter(a.heap(0), a.ints(1), a.ints(2));
    return undefined(env);
  });
}

// matmul(heap, [a, b, bias|-1, c], [batchA, batchB, M, K, N, transposeA, transposeB], activation, leakyAlpha, packKey = -1)
napi_value Matmul(napi_env env, napi_callback_info info) {
  return guard(env, "matmul", [&] {
    Args a(env, info);
    matmul(a.heap(0), a.ints(1), a.ints(2), a.str(3), float(a.f64(4)), a.size() > 5 ? a.i64(5) : -1);
    return undefined(env);
  });
}

// attentionProbs(heap, [q, k, mask|-1, probs], dims, scale)
napi_value AttentionProbs(napi_env env, napi_callback_info info) {
  return guard(env, "attentionProbs", [&] {
    Args a(env, info);
    attention_probs(a.heap(0), a.ints(1), a.ints(2), float(a.f64(3)));
    return undefined(env);
  });
}

// attentionApply(heap, [probs, v, out], dims)
napi_value AttentionApply(napi_env env, napi_callback_info info) {
  return guard(env, "attentionApply", [&] {
    Args a(env, info);
    attention_apply(a.heap(0), a.ints(1), a.ints(2));
    return undefined(env);
  });
}

// attentionFused(heap, [q, k, v, mask|-1, out], dims, scale)
napi_value AttentionFused(napi_env env, napi_callback_info info) {
  return guard(env, "attentionFused", [&] {
    Args a(env, info);
    attention_fused(a.heap(0), a.ints(1), a.ints(2), float(a.f64(3)));
    return undefined(env);
  });
}

// attentionGrad(heap, [q, k, v, mask|-1, dy, dq, dk, dv], dims, scale)
napi_value AttentionGrad(napi_env env, napi_callback_info info) {
  return guard(env, "attentionGrad", [&] {
    Args a(env, info);
    attention_grad(a.heap(0), a.ints(1), a.ints(2), float(a.f64(3)));
    return undefined(env);
  });
}

// groupNorm(heap, [x, gamma|-1, beta|-1, y, stats|-1], [B, pixels, C, G], eps, silu)
napi_value GroupNorm(napi_env env, napi_callback_info info) {
  return guard(env, "groupNorm", [&] {
    Args a(env, info);
    group_norm(a.heap(0), a.ints(1), a.ints(2), float(a.f64(3)), a.i64(4) != 0);
    return undefined(env);
  });
}

// groupNormGrad(heap, [dy, x, stats, gamma|-1, beta|-1, dx, dgamma, dbeta], [B, pixels, C, G], silu)
napi_value GroupNormGrad(napi_env env, napi_callback_info info) {
  return guard(env, "groupNormGrad", [&] {
    Args a(env, info);
    group_norm_grad(a.heap(0), a.ints(1), a.ints(2), a.i64(3) != 0);
    return undefined(env);
  });
}

// layerNormGrad(heap, [dy, x, stats, gamma, dx, dgamma, dbeta], [rows, C])
napi_value LayerNormGrad(napi_env env, napi_callback_info info) {
  return guard(env, "layerNormGrad", [&] {
    Args a(env, info);
    layer_norm_grad(a.heap(0), a.ints(1), a.ints(2));
    return undefined(env);
  });
}

// activation(heap, [x, y], n, kind) / activationGrad(heap, [x, dy, dx], n, kind)
napi_value Activation(napi_env env, napi_callback_info info) {
  return guard(env, "activation", [&] {
    Args a(env, info);
    activation(a.heap(0), a.ints(1), a.i64(2), a.str(3));
    return undefined(env);
  });
}
napi_value ActivationGrad(napi_env env, napi_callback_info info) {
  return guard(env, "activationGrad", [&] {
    Args a(env, info);
    activation_grad(a.heap(0), a.ints(1), a.i64(2), a.str(3));
    return undefined(env);
  });
}

// geglu(heap, [x, y], rows, dim) / gegluGrad(heap, [x, dy, dx], rows, dim)
napi_value Geglu(napi_env env, napi_callback_info info) {
  return guard(env, "geglu", [&] {
    Args a(env, info);
    geglu(a.heap(0), a.ints(1), a.i64(2), a.i64(3));
    return undefined(env);
  });
}
napi_value GegluGrad(napi_env env, napi_callback_info info) {
  return guard(env, "gegluGrad", [&] {
    Args a(env, info);
    geglu_grad(a.heap(0), a.ints(1), a.i64(2), a.i64(3));
    return undefined(env);
  });
}

// layerNorm(heap, [x, gamma, beta, y, stats|-1], [rows, C], eps)
napi_value LayerNorm(napi_env env, napi_callback_info info) {
  return guard(env, "layerNorm", [&] {
    Args a(env, info);
    layer_norm(a.heap(0), a.ints(1), a.ints(2), float(a.f64(3)));
    return undefined(env);
  });
}

// binary(heap, [a, b, out], aShape, bShape, op)
napi_value Binary(napi_env env, napi_callback_info info) {
  return guard(env, "binary", [&] {
    Args a(env, info);
    binary(a.heap(0), a.ints(1), a.ints(2), a.ints(3), a.str(4));
    return undefined(env);
  });
}

// unary(heap, [x, out], n, op)
napi_value Unary(napi_env env, napi_callback_info info) {
  return guard(env, "unary", [&] {
    Args a(env, info);
    unary(a.heap(0), a.ints(1), a.i64(2), a.str(3));
    return undefined(env);
  });
}

// copy(heap, [src, dst], dims, srcStrides, dstStrides, srcCount, dstCount)
napi_value Copy(napi_env env, napi_callback_info info) {
  return guard(env, "copy", [&] {
    Args a(env, info);
    copy_strided(a.heap(0), a.ints(1), a.ints(2), a.ints(3), a.ints(4), a.i64(5), a.i64(6));
    return undefined(env);
  });
}

// upload(heap, dstOffset, values: Float32Array | Uint16Array (float16 bits))
napi_value Upload(napi_env env, napi_callback_info info) {
  return guard(env, "upload", [&] {
    Args a(env, info);
    const HostArray src = a.host(2);
    if (src.type != napi_float32_array && src.type != napi_uint16_array)
      throw Error("upload: values must be a Float32Array or a Uint16Array of float16 bits");
    upload(a.heap(0), a.i64(1), src.data, src.type == napi_uint16_array, int64_t(src.length));
    return undefined(env);
  });
}

// fill(heap, [dst], n, value)
napi_value Fill(napi_env env, napi_callback_info info) {
  return guard(env, "fill", [&] {
    Args a(env, info);
    fill(a.heap(0), a.ints(1), a.i64(2), float(a.f64(3)));
    return undefined(env);
  });
}

// reduce(heap, [x, out], shape, axes, mean)
napi_value Reduce(napi_env env, napi_callback_info info) {
  return guard(env, "reduce", [&] {
    Args a(env, info);
    reduce(a.heap(0), a.ints(1), a.ints(2), a.ints(3), a.i64(4) != 0);
    return undefined(env);
  });
}

// sumOfSquares(heap, [x, out], n)
napi_value SumOfSquares(napi_env env, napi_callback_info info) {
  return guard(env, "sumOfSquares", [&] {
    Args a(env, info);
    sum_of_squares(a.heap(0), a.ints(1), a.i64(2));
    return undefined(env);
  });
}

// adamUpdate(heap, [p, m, v, g, p', m', v'], n, coefficients[8])
napi_value AdamUpdate(napi_env env, napi_callback_info info) {
  return guard(env, "adamUpdate", [&] {
    Args a(env, info);
    adam_update(a.heap(0), a.ints(1), a.i64(2), a.doubles(3));
    return undefined(env);
  });
}

// releasePacked(key): frees a weight's packed copy (every one when key < 0).
napi_value ReleasePacked(napi_env env, napi_callback_info info) {
  return guard(env, "releasePacked", [&] {
    Args a(env, info);
    release_packed(a.i64(0));
    return undefined(env);
  });
}

// packedInfo() → { count, bytes } of the packed weights held.
napi_value PackedInfo(napi_env env, napi_callback_info info) {
  return guard(env, "packedInfo", [&] {
    napi_value o;
    napi_create_object(env, &o);
    napi_set_named_property(env, o, "count", number(env, double(packed_count())));
    napi_set_named_property(env, o, "bytes", number(env, double(packed_bytes())));
    return o;
  });
}

// Plain writable, enumerable properties (a profiler may wrap them).
constexpr napi_property_attributes kMethod = static_cast<napi_property_attributes>(napi_writable | napi_enumerable | napi_configurable);

napi_value Init(napi_env env, napi_value exports) {
  const napi_property_descriptor fns[] = {
      {"info", nullptr, Info, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"setPrecision", nullptr, SetPrecision, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"conv2d", nullptr, Conv2d, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"conv2dBackpropInput", nullptr, Conv2dBackpropInput, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"conv2dBackpropFilter", nullptr, Conv2dBackpropFilter, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"matmul", nullptr, Matmul, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"attentionProbs", nullptr, AttentionProbs, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"attentionApply", nullptr, AttentionApply, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"attentionFused", nullptr, AttentionFused, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"attentionGrad", nullptr, AttentionGrad, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"groupNorm", nullptr, GroupNorm, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"groupNormGrad", nullptr, GroupNormGrad, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"layerNorm", nullptr, LayerNorm, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"layerNormGrad", nullptr, LayerNormGrad, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"activation", nullptr, Activation, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"activationGrad", nullptr, ActivationGrad, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"geglu", nullptr, Geglu, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"gegluGrad", nullptr, GegluGrad, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"binary", nullptr, Binary, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"unary", nullptr, Unary, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"copy", nullptr, Copy, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"upload", nullptr, Upload, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"fill", nullptr, Fill, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"reduce", nullptr, Reduce, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"sumOfSquares", nullptr, SumOfSquares, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"adamUpdate", nullptr, AdamUpdate, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"releasePacked", nullptr, ReleasePacked, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"packedInfo", nullptr, PackedInfo, nullptr, nullptr, nullptr, kMethod, nullptr},
  };
  napi_define_properties(env, exports, sizeof(fns) / sizeof(fns[0]), fns);
  return exports;
}

}  // namespace
}  // namespace ptp

NAPI_MODULE(NODE_GYP_MODULE_NAME, ptp::Init)
