/** diffusers Transformer2DModel for continuous (image-like) input, as used in the SD UNet. */
import * as tf from '@tensorflow/tfjs-core';
import { Module } from './module.js';
import { GroupNorm } from './norm.js';
import { Conv2d } from './conv2d.js';
import { Linear } from './linear.js';
import { BasicTransformerBlock } from './transformer-block.js';
import type { AttentionCall } from './attention-control.js';

export interface Transformer2DOptions {
  heads: number;
  dimHead: number;
  inChannels: number;
  /** Number of BasicTransformerBlocks (diffusers num_layers / transformer_layers_per_block). */
  numLayers?: number;
  crossAttentionDim?: number;
  normNumGroups?: number;
  /** proj_in/proj_out as Linear (SD-2) instead of 1×1 Conv2d (SD-1). */
  useLinearProjection?: boolean;
  onlyCrossAttention?: boolean;
}

/**
 * x + proj_out(blocks(proj_in(norm(x)))) over the H·W tokens. Keys norm (GroupNorm, eps 1e-6),
 * proj_in, transformer_blocks.i, proj_out. Both projection variants are the same channel matmul
 * on NHWC activations; only the weight shape differs.
 */
export class Transformer2DModel extends Module {
  readonly norm: GroupNorm;
  readonly projIn: Conv2d | Linear;
  readonly transformerBlocks: BasicTransformerBlock[];
  readonly projOut: Conv2d | Linear;
  readonly innerDim: number;

  constructor(readonly opts: Transformer2DOptions) {
    super();
    const c = opts.inChannels;
    const inner = (this.innerDim = opts.heads * opts.dimHead);
    this.norm = this.addModule('norm', new GroupNorm(opts.normNumGroups ?? 32, c, 1e-6));
    this.projIn = this.addModule('proj_in', opts.useLinearProjection ? new Linear(c, inner) : new Conv2d(c, inner, 1));
    this.transformerBlocks = this.addModules(
      'transformer_blocks',
      Array.from(
        { length: opts.numLayers ?? 1 },
        () =>
          new BasicTransformerBlock({
            dim: inner,
            heads: opts.heads,
            dimHead: opts.dimHead,
            crossAttentionDim: opts.crossAttentionDim,
            onlyCrossAttention: opts.onlyCrossAttention,
          }),
      ),
    );
    this.projOut = this.addModule(
      'proj_out',
      opts.useLinearProjection ? new Linear(inner, c) : new Conv2d(inner, c, 1),
    );
  }

  /** x [B, H, W, C] (NHWC), context [B, M, crossAttentionDim] → [B, H, W, C]. */
  forward(x: tf.Tensor4D, context?: tf.Tensor3D, call: AttentionCall = {}): tf.Tensor4D {
    return tf.tidy(() => {
      const [b, height, width, c] = x.shape;
      if (c !== this.opts.inChannels) {
        throw new Error(
          `Transformer2DModel: expected ${this.opts.inChannels} channels, got shape [${x.shape.join(', ')}]`,
        );
      }
      const projected = this.projIn.forward(this.norm.forward(x));
      let h = tf.reshape(projected, [b, height * width, this.innerDim]) as tf.Tensor3D;
      for (const block of this.transformerBlocks) h = block.forward(h, context, call, { height, width });
      const out = this.projOut.forward(tf.reshape(h, [b, height, width, this.innerDim]) as tf.Tensor4D);
      return tf.add(out, x);
    });
  }
}
