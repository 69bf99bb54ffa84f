import * as tf from '@tensorflow/tfjs-core';
import { Module } from './module.js';
import { Linear } from './linear.js';
import { GroupNorm } from './norm.js';
import { attend, checkSliceSize, type SliceableAttention } from './attention-core.js';
import type { AttentionCall, AttentionContext, Place } from './attention-control.js';

/**
 * Sliced attention as an option of a model: queries per chunk for every attention layer of
 * `model` (undefined = automatic; see `AttendOptions.sliceSize`).
 */
export function setAttentionSlice(model: Module, n: number | undefined): void {
  checkSliceSize(n);
  for (const [, m] of model.namedModules())
    if ('attentionSlice' in m) (m as Module & SliceableAttention).attentionSlice = n;
}

/** Where an Attention layer sits in its model; assigned by the model after construction. */
export interface AttentionPlacement {
  place: Place;
  blockIndex: number;
  layerIndex: number;
  numLayers: number;
  name: string;
}

export interface AttentionOptions {
  queryDim: number;
  /** Key/value input size for cross-attention; omitted = self-attention only. */
  crossAttentionDim?: number;
  heads: number;
  dimHead: number;
  /** Bias on to_q/to_k/to_v (false in the UNet, true in the VAE). */
  qkvBias?: boolean;
  /** A GroupNorm (key `group_norm`) applied to the input of `forwardImage` (the VAE mid-block attention). */
  groupNorm?: { groups: number; eps: number };
}

/**
 * diffusers `Attention` (keys group_norm when configured, to_q, to_k, to_v, to_out.0) with the
 * controller seam: the probabilities of every call go through `call.controller` when one is given.
 */
export class Attention extends Module implements SliceableAttention {
  readonly groupNorm?: GroupNorm;
  readonly toQ: Linear;
  readonly toK: Linear;
  readonly toV: Linear;
  readonly toOut: Linear;
  readonly heads: number;
  placement: AttentionPlacement = { place: 'down', blockIndex: 0, layerIndex: 0, numLayers: 1, name: 'attn' };
  attentionSlice: number | undefined = undefined;

  constructor(readonly opts: AttentionOptions) {
    super();
    const inner = opts.heads * opts.dimHead;
    const kvDim = opts.crossAttentionDim ?? opts.queryDim;
    const bias = opts.qkvBias ?? false;
    this.heads = opts.heads;
    // diffusers registers group_norm first (state-dict order).
    if (opts.groupNorm)
      this.groupNorm = this.addModule(
        'group_norm',
        new GroupNorm(opts.groupNorm.groups, opts.queryDim, opts.groupNorm.eps),
      );
    this.toQ = this.addModule('to_q', new Linear(opts.queryDim, inner, bias));
    this.toK = this.addModule('to_k', new Linear(kvDim, inner, bias));
    this.toV = this.addModule('to_v', new Linear(kvDim, inner, bias));
    this.toOut = this.addModule('to_out.0', new Linear(inner, opts.queryDim));
  }

  /**
   * x [B, N, queryDim]; `context` [B, M, crossAttentionDim] makes it cross-attention.
   * `spatial` gives the query map size (default: square N).
   */
  forward(
    x: tf.Tensor3D,
    context?: tf.Tensor3D,
    call: AttentionCall = {},
    spatial?: { height: number; width: number },
  ): tf.Tensor3D {
    return tf.tidy(() => {
      const [b, n] = x.shape;
      const kv = context ?? x;
      if (kv.shape[0] !== b)
        throw new Error(`Attention ${this.placement.name}: batch of x (${b}) and context (${kv.shape[0]}) differ`);
      const side = Math.round(Math.sqrt(n));
      const height = spatial?.height ?? side;
      const width = spatial?.width ?? Math.round(n / height);
      let ctx: AttentionContext | undefined;
      if (call.controller) {
        ctx = {
          ...this.placement,
          isCross: context !== undefined,
          step: call.step ?? -1,
          height,
          width,
          latent: call.latent ?? { height, width },
          queries: n,
          keys: kv.shape[1],
          heads: this.heads,
          batch: b,
        };
      }
      const out = attend(this.toQ.forward(x), this.toK.forward(kv), this.toV.forward(kv), {
        heads: this.heads,
        controller: call.controller,
        ctx,
        sliceSize: this.attentionSlice,
      });
      return this.toOut.forward(out);
    });
  }

  /**
   * diffusers' 4-D path (the VAE mid-block attention): x [B, H, W, C] → group norm (when
   * configured) → self-attention over the H·W positions → + x.
   */
  forwardImage(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [b, h, w, c] = x.shape;
      const normed = this.groupNorm ? this.groupNorm.forward(x) : x;
      const attended = this.forward(
        tf.reshape(normed, [b, h * w, c]) as tf.Tensor3D,
        undefined,
        {},
        { height: h, width: w },
      );
      return tf.add(tf.reshape(attended, [b, h, w, c]), x) as tf.Tensor4D;
    });
  }
}
