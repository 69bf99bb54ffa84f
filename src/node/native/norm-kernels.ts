/**
 * The fused normalisation and GELU kernels of src/backend/fused-ops.ts (PtpNativeGroupNorm with
 * optional SiLU, PtpNativeLayerNorm, PtpNativeGelu) and the differentiable group norm of
 * src/backend/group-norm-kernel.ts (PtpGroupNorm → y and per-group statistics,
 * PtpGroupNormGrad) as native kernels over the wasm heap: one pass per statistic on all cores
 * instead of a dozen single-threaded wasm kernels or a JS loop.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NativeAddon } from './addon.js';
import type { Kernel } from './conv-kernels.js';
import { offsetOf, withOutputs, type WasmBackendLike } from './wasm-io.js';

/** [B, pixels, C, G] of x [B, …, C] in `groups` groups. */
function groupDims(x: tf.TensorInfo, groups: number): number[] {
  const c = x.shape[x.shape.length - 1];
  if (c % groups !== 0) throw new Error(`GroupNorm: ${c} channels are not divisible into ${groups} groups`);
  return [x.shape[0], tf.util.sizeFromShape(x.shape) / (x.shape[0] * c), c, groups];
}

/** GroupNorm (+ SiLU) → y, or [y, stats [B, G, 2]] with `stats`. */
export function groupNorm(addon: NativeAddon, stats = false): Kernel {
  return ({ inputs, attrs, backend }) => {
    const { x, gamma, beta } = inputs;
    const b = backend as WasmBackendLike;
    const d = groupDims(x!, attrs.groups as number);
    const outs = withOutputs(b, stats ? [x!.shape, [d[0], d[3], 2]] : [x!.shape], (heap, [y, st]) => {
      addon.groupNorm(heap, [offsetOf(b, x), offsetOf(b, gamma), offsetOf(b, beta), y, st ?? -1], d, attrs.eps as number, attrs.silu ? 1 : 0);
    });
    return stats ? outs : outs[0];
  };
}

/** PtpGroupNormGrad: {dy, x, stats, gamma?, beta?} → [dx, dgamma [C], dbeta [C]]. */
export function groupNormGrad(addon: NativeAddon): Kernel {
  return ({ inputs, attrs, backend }) => {
    const { dy, x, stats, gamma, beta } = inputs;
    const b = backend as WasmBackendLike;
    const d = groupDims(x!, attrs.groups as number);
    return withOutputs(b, [x!.shape, [d[2]], [d[2]]], (heap, [dx, dg, db]) => {
      addon.groupNormGrad(heap, [offsetOf(b, dy), offsetOf(b, x), offsetOf(b, stats), offsetOf(b, gamma), offsetOf(b, beta), dx, dg, db], d, attrs.silu ? 1 : 0);
    });
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
