import type * as tf from '@tensorflow/tfjs-core';
import { Module } from '../../nn/module.js';
import { ResnetBlock2D } from '../../nn/resnet.js';
import { VaeAttentionBlock } from './attention-block.js';
import { runStages } from './stages.js';

export interface VaeMidBlockOptions {
  channels: number;
  groups: number;
  eps: number;
  act: string;
  /** Self-attention between the two resnets (default true). */
  attention?: boolean;
}

/**
 * diffusers UNetMidBlock2D as used by the VAE (no time embedding): `resnets.0`,
 * `attentions.0` (one head of all channels), `resnets.1`.
 */
export class VaeMidBlock extends Module {
  readonly resnets: ResnetBlock2D[];
  readonly attentions: VaeAttentionBlock[];

  constructor(o: VaeMidBlockOptions) {
    super();
    const resnet = () => new ResnetBlock2D({ inChannels: o.channels, outChannels: o.channels, groups: o.groups, eps: o.eps, act: o.act });
    this.resnets = this.addModules('resnets', [resnet(), resnet()]);
    this.attentions = this.addModules(
      'attentions',
      o.attention === false ? [] : [new VaeAttentionBlock({ channels: o.channels, groups: o.groups, eps: o.eps })],
    );
  }

  /** x [B, H, W, C] → [B, H, W, C]. */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    const [r0, r1] = this.resnets;
    const attn = this.attentions[0];
    return runStages(x, [
      (t) => r0.forward(t),
      ...(attn ? [(t: tf.Tensor4D) => attn.forward(t)] : []),
      (t) => r1.forward(t),
    ]);
  }
}
