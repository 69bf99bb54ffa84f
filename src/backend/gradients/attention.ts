/**
 * Backward passes of the fused attention ops (src/backend/attention-ops.ts wraps them with
 * tf.customGrad: the optional mask input rules out kernel-level gradient configs). The
 * probabilities are recomputed from q and k (nothing of size queries × keys is kept):
 *   P = softmax(s·QKᵀ + mask), O = P·V
 *   dV = Pᵀ·dO,  dP = dO·Vᵀ,  dS = P ⊙ (dP − rowsum(dP ⊙ P)),  dQ = s·dS·K,  dK = s·dSᵀ·Q
 * per (batch item, head), with heads folded into the batch of a batched matmul. The fused op's
 * backward runs over chunks of queries (a bounded slice of P at a time: SD's 4096-token
 * self-attention would need 512 MiB per image and head group otherwise), and products with a
 * transposed P or dS are computed as (thinᵀ·P)ᵀ, so that only thin [n, d] operands are ever
 * transposed (transposing P is slow on wasm).
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
  return tf.reshape(tf.transpose(tf.reshape(x, [b, n, heads, inner / heads]), [0, 2, 1, 3]), [
    b * heads,
    n,
    inner / heads,
  ]);
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

/** thinᵀ·big as [B, d, M] for thin [B, n, d] and big [B, n, M] (Pᵀ·X is its transpose). */
function thinTBig(thin: tf.Tensor, big: tf.Tensor): tf.Tensor3D {
  return tf.matMul(thin as tf.Tensor3D, big as tf.Tensor3D, true, false);
}

/** [B, d, M] → [B, M, d]. */
const swap = (x: tf.Tensor) => tf.transpose(x, [0, 2, 1]);

/** dQ, dK ([B, N|M, H·d]) from dS [B·H, N, M]. */
function scoreInputGrads(ds: tf.Tensor, q: tf.Tensor, k: tf.Tensor, a: Attrs): { dq: tf.Tensor; dk: tf.Tensor } {
  const qh = splitHeads(q, a.heads);
  const kh = splitHeads(k, a.heads);
  return {
    dq: mergeHeads(tf.mul(tf.matMul(ds as tf.Tensor3D, kh), a.scale), a.heads),
    dk: mergeHeads(tf.mul(swap(thinTBig(qh, ds)), a.scale), a.heads),
  };
}

/** Default bytes of one [B·H, chunk, M] float32 tensor in the chunked backward. */
export const BACKWARD_CHUNK_BYTES = 64 * 2 ** 20;

/**
 * Gradients [dq, dk, dv] of fusedAttention. `probsOf(rows)` recomputes the probabilities
 * [B·H, rows, M] of queries `rows` = [begin, end) (the caller's kernel, mask rows included);
 * `chunkBytes` bounds each chunk's [B·H, rows, M] tensors.
 */
export function fusedAttentionBackward(
  dy: tf.Tensor,
  probsOf: (begin: number, end: number) => tf.Tensor3D,
  q: tf.Tensor,
  k: tf.Tensor,
  v: tf.Tensor,
  a: Attrs,
  chunkBytes = BACKWARD_CHUNK_BYTES,
): tf.Tensor[] {
  return tf.tidy(() => {
    const [b, n] = q.shape as [number, number];
    const m = k.shape[1] as number;
    const chunk = Math.max(1, Math.min(n, Math.floor(chunkBytes / (4 * b * a.heads * m))));
    const vhT = tf.transpose(splitHeads(v, a.heads), [0, 2, 1]);
    const kh = splitHeads(k, a.heads);
    const dqParts: tf.Tensor[] = [];
    let dvT: tf.Tensor | undefined; // [B·H, d, M]
    let dkT: tf.Tensor | undefined;
    const acc = (sum: tf.Tensor | undefined, x: tf.Tensor) => {
      if (!sum) return x;
      const r = tf.add(sum, x);
      tf.dispose([sum, x]);
      return r;
    };
    for (let r0 = 0; r0 < n; r0 += chunk) {
      const rows = Math.min(chunk, n - r0);
      const part = (x: tf.Tensor) => (rows === n ? x : tf.slice(x, [0, r0, 0], [b, rows, x.shape[2] as number]));
      const [dqc, dvc, dkc] = tf.tidy(() => {
        const p = probsOf(r0, r0 + rows);
        const doh = splitHeads(part(dy), a.heads);
        const qh = splitHeads(part(q), a.heads);
        const ds = softmaxBackward(p, tf.matMul(doh, vhT));
        return [
          mergeHeads(tf.mul(tf.matMul(ds as tf.Tensor3D, kh), a.scale), a.heads),
          thinTBig(doh, p),
          thinTBig(qh, ds),
        ];
      });
      dqParts.push(dqc);
      dvT = acc(dvT, dvc);
      dkT = acc(dkT, dkc);
    }
    const dq = dqParts.length === 1 ? dqParts[0] : tf.concat(dqParts, 1);
    return [dq, mergeHeads(tf.mul(swap(dkT!), a.scale), a.heads), mergeHeads(swap(dvT!), a.heads)];
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
    return [tf.matMul(doh, splitHeads(v, heads), false, true), mergeHeads(swap(thinTBig(doh, p)), heads)];
  });
}
