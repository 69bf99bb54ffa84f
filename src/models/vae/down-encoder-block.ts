import type * as tf from '@tensorflow/tfjs-core';
import { Module } from '../../nn/module.js';
import { resnetChain, type ResnetBlock2D } from '../../nn/resnet.js';
import { Downsample2D } from '../../nn/sampling.js';
import { runStages } from './stages.js';

export interface DownEncoderBlockOptions {
  inChannels: number;
  outChannels: number;
  numLayers: number;
  groups: number;
  eps: number;
  act: string;
  /** Halve the resolution at the end (every block but the last). */
  downsample: boolean;
}

/** diffusers DownEncoderBlock2D: `resnets.N`, then `downsamplers.0` (3×3 stride 2, right/bottom pad). */
export class DownEncoderBlock2D extends Module {
  readonly resnets: ResnetBlock2D[];
  readonly downsamplers: Downsample2D[];

  constructor(o: DownEncoderBlockOptions) {
    super();
    this.resnets = this.addModules('resnets', resnetChain(o.numLayers, { inChannels: o.inChannels, outChannels: o.outChannels, groups: o.groups, eps: o.eps, act: o.act }));
    this.downsamplers = this.addModules('downsamplers', o.downsample ? [new Downsample2D(o.outChannels, o.outChannels, 0)] : []);
  }

  /** x [B, H, W, in] → [B, H/2, W/2, out] (or [B, H, W, out] without downsampling). */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return runStages(x, [...this.resnets, ...this.downsamplers].map((m) => (t: tf.Tensor4D) => m.forward(t)));
  }
}
