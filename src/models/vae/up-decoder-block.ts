import type * as tf from '@tensorflow/tfjs-core';
import { Module } from '../../nn/module.js';
import { resnetChain, type ResnetBlock2D } from '../../nn/resnet.js';
import { Upsample2D } from '../../nn/sampling.js';
import { runStages } from './stages.js';

export interface UpDecoderBlockOptions {
  inChannels: number;
  outChannels: number;
  /** layers_per_block + 1 in the VAE decoder. */
  numLayers: number;
  groups: number;
  eps: number;
  act: string;
  /** Double the resolution at the end (every block but the last). */
  upsample: boolean;
}

/** diffusers UpDecoderBlock2D: `resnets.N`, then `upsamplers.0` (nearest ×2 + 3×3 conv). */
export class UpDecoderBlock2D extends Module {
  readonly resnets: ResnetBlock2D[];
  readonly upsamplers: Upsample2D[];

  constructor(o: UpDecoderBlockOptions) {
    super();
    this.resnets = this.addModules('resnets', resnetChain(o.numLayers, { inChannels: o.inChannels, outChannels: o.outChannels, groups: o.groups, eps: o.eps, act: o.act }));
    this.upsamplers = this.addModules('upsamplers', o.upsample ? [new Upsample2D(o.outChannels)] : []);
  }

  /** x [B, H, W, in] → [B, 2H, 2W, out] (or [B, H, W, out] without upsampling). */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return runStages(x, [...this.resnets, ...this.upsamplers].map((m) => (t: tf.Tensor4D) => m.forward(t)));
  }
}
