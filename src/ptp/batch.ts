/**
 * The classifier-free-guidance batch seen by attention layers: [uncond prompts..., cond prompts...].
 * Controllers read and edit only the conditional half (the official LOW_RESOURCE=False path);
 * a batch of exactly the prompts (no guidance) is taken whole.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { AttentionContext } from '../nn/attention-control.js';

/** The conditional items of a batch: items start .. start+count−1. */
export interface CondRange {
  start: number;
  count: number;
}

/**
 * Where the conditional prompts are. With `numPrompts`, the batch must hold 2·numPrompts items
 * (CFG) or numPrompts (no CFG); without it, the batch is taken to be a CFG batch (second half).
 */
export function condRange(ctx: AttentionContext, numPrompts?: number): CondRange {
  if (numPrompts !== undefined) {
    if (ctx.batch === 2 * numPrompts) return { start: numPrompts, count: numPrompts };
    if (ctx.batch === numPrompts) return { start: 0, count: numPrompts };
    throw new Error(
      `${ctx.name}: batch of ${ctx.batch} fits neither ${numPrompts} prompts nor their CFG batch of ${2 * numPrompts}`,
    );
  }
  if (ctx.batch % 2 !== 0) {
    throw new Error(
      `${ctx.name}: batch of ${ctx.batch} is not a CFG batch [uncond..., cond...]; give the controller numPrompts`,
    );
  }
  return { start: ctx.batch / 2, count: ctx.batch / 2 };
}

/** probs [batch·heads, q, k] → rows of the conditional items. */
export function sliceItems(probs: tf.Tensor3D, heads: number, r: CondRange): tf.Tensor3D {
  const [rows, q, k] = probs.shape;
  if (r.start === 0 && r.count * heads === rows) return probs;
  return tf.slice(probs, [r.start * heads, 0, 0], [r.count * heads, q, k]);
}

/** probs with the conditional rows replaced by `cond` (the unconditional rows untouched). */
export function replaceItems(probs: tf.Tensor3D, cond: tf.Tensor3D, heads: number, r: CondRange): tf.Tensor3D {
  const [, q, k] = probs.shape;
  const parts: tf.Tensor3D[] = [];
  if (r.start > 0) parts.push(tf.slice(probs, [0, 0, 0], [r.start * heads, q, k]));
  parts.push(cond);
  const end = (r.start + r.count) * heads;
  if (end < probs.shape[0]) parts.push(tf.slice(probs, [end, 0, 0], [probs.shape[0] - end, q, k]));
  return parts.length === 1 ? parts[0] : (tf.concat(parts, 0) as tf.Tensor3D);
}
