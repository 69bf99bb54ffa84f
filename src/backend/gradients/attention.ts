/**
 * Backward passes of the fused attention ops (src/backend/attention-ops.ts wraps them with
 * tf.customGrad: the optional mask input rules out kernel-level gradient configs). The
 * probabilities are recomputed from q and k (nothing of size queries × keys is kept):
 *   P = softmax(s·QKᵀ + mask), O = P·V
 *   dV = Pᵀ·dO,  dP = dO·Vᵀ,  dS = P ⊙ (dP − rowsum(dP ⊙ P)),  dQ = s·dS·K,  dK = s·dSᵀ·Q
 * per (batch item, head), with heads folded into the batch of a batched matmul.
 */
import * as tf from '@tensorflow/tfjs-core';

export interface AttentionAttrs {
  heads: number;
  scale: number;
}
type Attrs = AttentionAttrs;

/** [B, N, H·d] → [B·H, N, d]. */
function splitHeads(x: tf.Tensor, heads: number): tf.Tensor3D {
  const [b, n, inner] = x.shape;
  return tf.reshape(tf.transpose(tf.reshape(x, [b, n, heads, inner / heads]), [0, 2, 1, 3]), [b * heads, n, inner / heads]);
}

/** [B·H, N, d] → [B, N, H·d]. */
function mergeHeads(x: tf.Tensor, heads: number): tf.Tensor3D {
  const [bh, n, d] = x.shape;
  return tf.reshape(tf.transpose(tf.reshape(x, [bh / heads, heads, n, d]), [0, 2, 1, 3]), [bh / heads, n, heads * d]);
}

/** dS from P and dP: the softmax backward, row by row. */
function softmaxBackward(p: tf.Tensor, dp: tf.Tensor): tf.Tensor {
  return tf.mul(p, tf.sub(dp, tf.sum(tf.mul(dp, p), -1, true)));
}

/** dQ, dK ([B, N|M, H·d]) from dS [B·H, N, M]. */
function scoreInputGrads(ds: tf.Tensor, q: tf.Tensor, k: tf.Tensor, a: Attrs): { dq: tf.Tensor; dk: tf.Tensor } {
  const qh = splitHeads(q, a.heads);
  const kh = splitHeads(k, a.heads);
  return {
    dq: mergeHeads(tf.mul(tf.matMul(ds as tf.Tensor3D, kh), a.scale), a.heads),
    dk: mergeHeads(tf.mul(tf.matMul(ds as tf.Tensor3D, qh, true, false), a.scale), a.heads),
  };
}

/** Gradients [dq, dk, dv] of fusedAttention, given its probabilities p (recomputed by the caller). */
export function fusedAttentionBackward(dy: tf.Tensor, p: tf.Tensor3D, q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, a: Attrs): tf.Tensor[] {
  return tf.tidy(() => {
    const doh = splitHeads(dy, a.heads);
    const dv = mergeHeads(tf.matMul(p, doh, true, false), a.heads);
    const ds = softmaxBackward(p, tf.matMul(doh, splitHeads(v, a.heads), false, true));
    const { dq, dk } = scoreInputGrads(ds, q, k, a);
    return [dq, dk, dv];
  });
}

/** Gradients [dq, dk] of attentionProbs given the probabilities p it returned. */
export function attentionProbsBackward(dp: tf.Tensor, p: tf.Tensor, q: tf.Tensor, k: tf.Tensor, a: Attrs): tf.Tensor[] {
  return tf.tidy(() => {
    const { dq, dk } = scoreInputGrads(softmaxBackward(p, dp), q, k, a);
    return [dq, dk];
  });
}

/** Gradients [dprobs, dv] of applyAttentionProbs(p, v). */
export function applyAttentionProbsBackward(dy: tf.Tensor, p: tf.Tensor, v: tf.Tensor, heads: number): tf.Tensor[] {
  return tf.tidy(() => {
    const doh = splitHeads(dy, heads);
    return [tf.matMul(doh, splitHeads(v, heads), false, true), mergeHeads(tf.matMul(p as tf.Tensor3D, doh, true, false), heads)];
  });
}
