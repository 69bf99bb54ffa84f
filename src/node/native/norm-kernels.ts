/**
 * The fused normalisation and GELU kernels of src/backend/fused-ops.ts (PtpGroupNorm with
 * optional SiLU, PtpLayerNorm, PtpGelu) as native kernels over the wasm heap: one pass per
 * statistic on all cores instead of a dozen single-threaded wasm kernels.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NativeAddon } from './addon.js';
import type { Kernel } from './conv-kernels.js';
import { offsetOf, withOutputs, type WasmBackendLike } from './wasm-io.js';

export function groupNorm(addon: NativeAddon): Kernel {
  return ({ inputs, attrs, backend }) => {
    const { x, gamma, beta } = inputs;
    const b = backend as WasmBackendLike;
    const c = x!.shape[x!.shape.length - 1];
    const groups = attrs.groups as number;
    if (c % groups !== 0) throw new Error(`GroupNorm: ${c} channels are not divisible into ${groups} groups`);
    const pixels = tf.util.sizeFromShape(x!.shape) / (x!.shape[0] * c);
    return withOutputs(b, [x!.shape], (heap, [y]) => {
      addon.groupNorm(heap, [offsetOf(b, x), offsetOf(b, gamma), offsetOf(b, beta), y], [x!.shape[0], pixels, c, groups], attrs.eps as number, attrs.silu ? 1 : 0);
    })[0];
  };
}

export function layerNorm(addon: NativeAddon): Kernel {
  return ({ inputs, attrs, backend }) => {
    const { x, gamma, beta } = inputs;
    const b = backend as WasmBackendLike;
    const c = x!.shape[x!.shape.length - 1];
    return withOutputs(b, [x!.shape], (heap, [y]) => {
      addon.layerNorm(heap, [offsetOf(b, x), offsetOf(b, gamma), offsetOf(b, beta), y], [tf.util.sizeFromShape(x!.shape) / c, c], attrs.eps as number);
    })[0];
  };
}

export function gelu(addon: NativeAddon): Kernel {
  return ({ inputs, backend }) => {
    const b = backend as WasmBackendLike;
    return withOutputs(b, [inputs.x!.shape], (heap, [y]) => {
      addon.gelu(heap, [offsetOf(b, inputs.x), y], tf.util.sizeFromShape(inputs.x!.shape));
    })[0];
  };
}
