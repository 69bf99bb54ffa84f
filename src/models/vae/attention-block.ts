import * as tf from '@tensorflow/tfjs-core';
import { Module } from '../../nn/module.js';
import { GroupNorm } from '../../nn/norm.js';
import { Linear } from '../../nn/linear.js';
import { attend } from '../../nn/attention-core.js';

export interface VaeAttentionOptions {
  channels: number;
  groups: number;
  eps: number;
  /** Channels per head; default all channels (one head), as in the SD VAE. */
  headDim?: number;
  /** Output divided by this after the residual add (diffusers `rescale_output_factor`). */
  rescaleOutputFactor?: number;
}

/**
 * The VAE mid-block self-attention: diffusers `Attention` with an inner GroupNorm (keys
 * `group_norm`, `to_q`, `to_k`, `to_v` with bias, `to_out.0`) and a residual connection.
 * Legacy key names are handled by `legacyVaeAttentionSource` (legacy-keys.ts).
 */
export class VaeAttentionBlock extends Module {
  readonly groupNorm: GroupNorm;
  readonly toQ: Linear;
  readonly toK: Linear;
  readonly toV: Linear;
  readonly toOut: Linear;
  readonly heads: number;
  private readonly rescale: number;

  constructor(o: VaeAttentionOptions) {
    super();
    const c = o.channels;
    const headDim = o.headDim ?? c;
    if (c % headDim !== 0) throw new Error(`VaeAttentionBlock: ${c} channels do not split into heads of ${headDim}`);
    this.heads = c / headDim;
    this.rescale = o.rescaleOutputFactor ?? 1;
    this.groupNorm = this.addModule('group_norm', new GroupNorm(o.groups, c, o.eps));
    this.toQ = this.addModule('to_q', new Linear(c, c));
    this.toK = this.addModule('to_k', new Linear(c, c));
    this.toV = this.addModule('to_v', new Linear(c, c));
    this.toOut = this.addModule('to_out.0', new Linear(c, c));
  }

  /** x [B, H, W, C] → [B, H, W, C]. */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [b, h, w, c] = x.shape;
      const tokens = tf.reshape(this.groupNorm.forward(x), [b, h * w, c]) as tf.Tensor3D;
      const attended = attend(this.toQ.forward(tokens), this.toK.forward(tokens), this.toV.forward(tokens), { heads: this.heads });
      const out = tf.add(tf.reshape(this.toOut.forward(attended), [b, h, w, c]), x) as tf.Tensor4D;
      return this.rescale === 1 ? out : (tf.div(out, this.rescale) as tf.Tensor4D);
    });
  }
}
