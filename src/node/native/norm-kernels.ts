/**
 * The fused kernels of src/backend/fused-ops.ts (PtpNativeGroupNorm with optional SiLU,
 * PtpNativeLayerNorm and its gradient, the activations GELU/quick_gelu/SiLU and GEGLU with
 * their gradients) and the differentiable group norm of
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
      addon.groupNorm(
        heap,
        [offsetOf(b, x), offsetOf(b, gamma), offsetOf(b, beta), y, st ?? -1],
        d,
        attrs.eps as number,
        attrs.silu ? 1 : 0,
      );
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
      addon.groupNormGrad(
        heap,
        [offsetOf(b, dy), offsetOf(b, x), offsetOf(b, stats), offsetOf(b, gamma), offsetOf(b, beta), dx, dg, db],
        d,
        attrs.silu ? 1 : 0,
      );
    });
  };
}

/** PtpNativeLayerNorm → y, or [y, stats [rows, 2]] with attrs.withStats. */
export function layerNorm(addon: NativeAddon): Kernel {
  return ({ inputs, attrs, backend }) => {
    const { x, gamma, beta } = inputs;
    const b = backend as WasmBackendLike;
    const c = x!.shape[x!.shape.length - 1];
    const rows = tf.util.sizeFromShape(x!.shape) / c;
    const outs = withOutputs(b, attrs.withStats ? [x!.shape, [rows, 2]] : [x!.shape], (heap, [y, st]) => {
      addon.layerNorm(
        heap,
        [offsetOf(b, x), offsetOf(b, gamma), offsetOf(b, beta), y, st ?? -1],
        [rows, c],
        attrs.eps as number,
      );
    });
    return attrs.withStats ? outs : outs[0];
  };
}

/** PtpNativeLayerNormGrad: {dy, x, stats, gamma} → [dx, dgamma, dbeta]. */
export function layerNormGrad(addon: NativeAddon): Kernel {
  return ({ inputs, backend }) => {
    const { dy, x, stats, gamma } = inputs;
    const b = backend as WasmBackendLike;
    const c = x!.shape[x!.shape.length - 1];
    return withOutputs(b, [x!.shape, [c], [c]], (heap, [dx, dg, db]) => {
      addon.layerNormGrad(
        heap,
        [offsetOf(b, dy), offsetOf(b, x), offsetOf(b, stats), offsetOf(b, gamma), dx, dg, db],
        [tf.util.sizeFromShape(x!.shape) / c, c],
      );
    });
  };
}

/** PtpNativeActivation (attrs.kind: gelu, quick_gelu, silu). */
export function activation(addon: NativeAddon): Kernel {
  return ({ inputs, attrs, backend }) => {
    const b = backend as WasmBackendLike;
    return withOutputs(b, [inputs.x!.shape], (heap, [y]) => {
      addon.activation(heap, [offsetOf(b, inputs.x), y], tf.util.sizeFromShape(inputs.x!.shape), attrs.kind as string);
    })[0];
  };
}

/** PtpNativeActivationGrad: {x, dy} → dx. */
export function activationGrad(addon: NativeAddon): Kernel {
  return ({ inputs, attrs, backend }) => {
    const b = backend as WasmBackendLike;
    return withOutputs(b, [inputs.x!.shape], (heap, [dx]) => {
      addon.activationGrad(
        heap,
        [offsetOf(b, inputs.x), offsetOf(b, inputs.dy), dx],
        tf.util.sizeFromShape(inputs.x!.shape),
        attrs.kind as string,
      );
    })[0];
  };
}

/** [rows, D] of GEGLU's input x [..., 2·D]. */
function gegluDims(x: tf.TensorInfo): [number, number] {
  const c = x.shape[x.shape.length - 1];
  if (c % 2 !== 0) throw new Error(`GEGLU: the last axis (${c}) must have an even size`);
  return [tf.util.sizeFromShape(x.shape) / c, c / 2];
}

/** PtpNativeGeglu: x [..., 2·D] → [..., D]. */
export function geglu(addon: NativeAddon): Kernel {
  return ({ inputs, backend }) => {
    const b = backend as WasmBackendLike;
    const [rows, d] = gegluDims(inputs.x!);
    return withOutputs(b, [[...inputs.x!.shape.slice(0, -1), d]], (heap, [y]) =>
      addon.geglu(heap, [offsetOf(b, inputs.x), y], rows, d),
    )[0];
  };
}

/** PtpNativeGegluGrad: {x, dy} → dx. */
export function gegluGrad(addon: NativeAddon): Kernel {
  return ({ inputs, backend }) => {
    const b = backend as WasmBackendLike;
    const [rows, d] = gegluDims(inputs.x!);
    return withOutputs(b, [inputs.x!.shape], (heap, [dx]) =>
      addon.gegluGrad(heap, [offsetOf(b, inputs.x), offsetOf(b, inputs.dy), dx], rows, d),
    )[0];
  };
}
