/**
 * BatchMatMul and _FusedMatMul (transposeA/B, bias per output column, activations) as native
 * kernels over the wasm heap. The wasm kernels run transposed and batched products as a scalar
 * loop; here every form is one oneDNN call. Unsupported cases (a batch broadcast other than
 * "equal or 1", prelu, other bias shapes, non-float32) run the wasm kernel they replace. A `b`
 * that is a model weight is packed into oneDNN's layout once and kept (packed-weights.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NativeAddon } from './addon.js';
import type { Kernel } from './conv-kernels.js';
import { allFloat32, offsetOf, withOutputs, type WasmBackendLike } from './wasm-io.js';
import { weightKeyOf } from '../../backend/packed-weights.js';

export function matMul(addon: NativeAddon, fallback: Kernel | undefined): Kernel {
  return (args) => {
    const { a, b, bias, preluActivationWeights } = args.inputs;
    const ta = !!args.attrs.transposeA;
    const tb = !!args.attrs.transposeB;
    const act = (args.attrs.activation as string | undefined) ?? 'linear';
    const ra = a!.shape.length;
    const rb = b!.shape.length;
    const [m, k] = ta ? [a!.shape[ra - 1], a!.shape[ra - 2]] : [a!.shape[ra - 2], a!.shape[ra - 1]];
    const [k2, n] = tb ? [b!.shape[rb - 1], b!.shape[rb - 2]] : [b!.shape[rb - 2], b!.shape[rb - 1]];
    const outerA = a!.shape.slice(0, -2);
    const outerB = b!.shape.slice(0, -2);
    const batchA = tf.util.sizeFromShape(outerA);
    const batchB = tf.util.sizeFromShape(outerB);
    let outer: number[] | undefined;
    try {
      outer = tf.backend_util.assertAndGetBroadcastShape(outerA, outerB);
    } catch {
      outer = undefined; // the wasm kernel reports it
    }
    const batch = outer ? tf.util.sizeFromShape(outer) : 0;
    const supported =
      ra >= 2 &&
      rb >= 2 &&
      k === k2 &&
      act !== 'prelu' &&
      !preluActivationWeights &&
      allFloat32(a, b, bias) &&
      outer !== undefined &&
      (batchA === batch || batchA === 1) &&
      (batchB === batch || batchB === 1) &&
      (!bias || tf.util.sizeFromShape(bias.shape) === n) &&
      m * n * k > 0;
    if (!supported) {
      if (!fallback) throw new Error('native MatMul: unsupported case and no wasm kernel to fall back to');
      return fallback(args);
    }
    const backend = args.backend as WasmBackendLike;
    return withOutputs(backend, [[...outer!, m, n]], (heap, [c]) => {
      addon.matmul(
        heap,
        [offsetOf(backend, a), offsetOf(backend, b), offsetOf(backend, bias), c],
        [batchA, batchB, m, k, n, ta ? 1 : 0, tb ? 1 : 0],
        act,
        (args.attrs.leakyreluAlpha as number | undefined) ?? 0.2,
        weightKeyOf(b),
      );
    })[0];
  };
}
