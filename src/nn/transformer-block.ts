/** diffusers BasicTransformerBlock (norm_type "layer_norm", GEGLU feed-forward). */
import * as tf from '@tensorflow/tfjs-core';
import { Module } from './module.js';
import { LayerNorm } from './norm.js';
import { Attention } from './attention.js';
import { FeedForward } from './feed-forward.js';
import type { AttentionCall } from './attention-control.js';

export interface BasicTransformerBlockOptions {
  dim: number;
  heads: number;
  dimHead: number;
  /** Size of the context for attn2; omitted = attn2 is self-attention too. */
  crossAttentionDim?: number;
  /** attn1 attends to the context as well (diffusers only_cross_attention). */
  onlyCrossAttention?: boolean;
  /** LayerNorm eps (diffusers default 1e-5). */
  normEps?: number;
}

/**
 * x + attn1(norm1(x)) → + attn2(norm2(·), context) → + ff(norm3(·)). Keys norm1, attn1, norm2,
 * attn2, norm3, ff. attn1 is self-attention, attn2 cross-attention.
 */
export class BasicTransformerBlock extends Module {
  readonly norm1: LayerNorm;
  readonly attn1: Attention;
  readonly norm2: LayerNorm;
  readonly attn2: Attention;
  readonly norm3: LayerNorm;
  readonly ff: FeedForward;

  constructor(readonly opts: BasicTransformerBlockOptions) {
    super();
    const { dim, heads, dimHead, crossAttentionDim } = opts;
    const eps = opts.normEps ?? 1e-5;
    this.norm1 = this.addModule('norm1', new LayerNorm(dim, eps));
    this.attn1 = this.addModule(
      'attn1',
      new Attention({
        queryDim: dim,
        heads,
        dimHead,
        crossAttentionDim: opts.onlyCrossAttention ? crossAttentionDim : undefined,
      }),
    );
    this.norm2 = this.addModule('norm2', new LayerNorm(dim, eps));
    this.attn2 = this.addModule('attn2', new Attention({ queryDim: dim, heads, dimHead, crossAttentionDim }));
    this.norm3 = this.addModule('norm3', new LayerNorm(dim, eps));
    this.ff = this.addModule('ff', new FeedForward(dim));
  }

  /**
   * x [B, N, dim], context [B, M, crossAttentionDim] → [B, N, dim]. `spatial` is the query map
   * size (N = height·width) handed to the attention controller.
   */
  forward(
    x: tf.Tensor3D,
    context?: tf.Tensor3D,
    call: AttentionCall = {},
    spatial?: { height: number; width: number },
  ): tf.Tensor3D {
    return tf.tidy(() => {
      const selfCtx = this.opts.onlyCrossAttention ? context : undefined;
      let h = tf.add(this.attn1.forward(this.norm1.forward(x), selfCtx, call, spatial), x) as tf.Tensor3D;
      h = tf.add(this.attn2.forward(this.norm2.forward(h), context, call, spatial), h);
      return tf.add(this.ff.forward(this.norm3.forward(h)), h);
    });
  }
}
