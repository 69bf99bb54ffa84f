/**
 * The library's attention kernels (src/backend/attention-ops.ts: PtpFusedAttention,
 * PtpAttentionProbs, PtpApplyAttentionProbs) as native kernels over the wasm heap: no copies
 * in or out, all cores, any head size.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { NativeAddon } from './addon.js';
import type { Kernel } from './conv-kernels.js';
import { allFloat32, offsetOf, withOutputs, type WasmBackendLike } from './wasm-io.js';

/** [B, N, M, H, d, maskRowStride] for q [B, N, H·d], keys [B, M, H·d] and a [1 or N, M] mask. */
function dims(q: tf.TensorInfo, keys: number, heads: number, mask: tf.TensorInfo | undefined): number[] {
  const [b, n, c] = q.shape;
  if (c % heads !== 0) throw new Error(`native attention: ${c} channels do not split into ${heads} heads`);
  return [b, n, keys, heads, c / heads, mask && mask.shape[0] !== 1 ? mask.shape[1] : 0];
}

function float32(...ts: (tf.TensorInfo | undefined)[]): void {
  if (!allFloat32(...ts)) throw new Error('native attention: inputs must be float32');
}

export function fusedAttention(addon: NativeAddon): Kernel {
  return ({ inputs, attrs, backend }) => {
    const { q, k, v, mask } = inputs;
    float32(q, k, v, mask);
    const b = backend as WasmBackendLike;
    return withOutputs(b, [q!.shape], (heap, [out]) => {
      addon.attentionFused(
        heap,
        [offsetOf(b, q), offsetOf(b, k), offsetOf(b, v), offsetOf(b, mask), out],
        dims(q!, k!.shape[1], attrs.heads as number, mask),
        attrs.scale as number,
      );
    })[0];
  };
}

export function attentionProbs(addon: NativeAddon): Kernel {
  return ({ inputs, attrs, backend }) => {
    const { q, k, mask } = inputs;
    float32(q, k, mask);
    const heads = attrs.heads as number;
    const b = backend as WasmBackendLike;
    return withOutputs(b, [[q!.shape[0] * heads, q!.shape[1], k!.shape[1]]], (heap, [probs]) => {
      addon.attentionProbs(
        heap,
        [offsetOf(b, q), offsetOf(b, k), offsetOf(b, mask), probs],
        dims(q!, k!.shape[1], heads, mask),
        attrs.scale as number,
      );
    })[0];
  };
}

export function applyAttentionProbs(addon: NativeAddon): Kernel {
  return ({ inputs, attrs, backend }) => {
    const { probs, v } = inputs;
    float32(probs, v);
    const heads = attrs.heads as number;
    const [bh, n, m] = probs!.shape;
    const [batch, keys, c] = v!.shape;
    if (bh !== batch * heads || keys !== m)
      throw new Error(`applyAttentionProbs: probs [${probs!.shape}] do not fit v [${v!.shape}] with ${heads} heads`);
    const b = backend as WasmBackendLike;
    return withOutputs(b, [[batch, n, c]], (heap, [out]) => {
      addon.attentionApply(heap, [offsetOf(b, probs), offsetOf(b, v), out], [batch, n, m, heads, c / heads, 0]);
    })[0];
  };
}

/** PtpFusedAttentionGrad: {q, k, v, mask?, dy} → [dq, dk, dv]. */
export function fusedAttentionGrad(addon: NativeAddon): Kernel {
  return ({ inputs, attrs, backend }) => {
    const { q, k, v, mask, dy } = inputs;
    float32(q, k, v, mask, dy);
    const b = backend as WasmBackendLike;
    return withOutputs(b, [q!.shape, k!.shape, v!.shape], (heap, [dq, dk, dv]) => {
      addon.attentionGrad(
        heap,
        [offsetOf(b, q), offsetOf(b, k), offsetOf(b, v), offsetOf(b, mask), offsetOf(b, dy), dq, dk, dv],
        dims(q!, k!.shape[1], attrs.heads as number, mask),
        attrs.scale as number,
      );
    });
  };
}
