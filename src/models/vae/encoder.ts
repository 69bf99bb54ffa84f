import * as tf from '@tensorflow/tfjs-core';
import { Module } from '../../nn/module.js';
import { Conv2d } from '../../nn/conv2d.js';
import { GroupNorm } from '../../nn/norm.js';
import { VAE_EPS, type VaeConfig } from './config.js';
import { DownEncoderBlock2D } from './down-encoder-block.js';
import { VaeMidBlock } from './mid-block.js';
import { runStages } from './stages.js';

/**
 * diffusers VAE `Encoder`: conv_in, down_blocks.N, mid_block, conv_norm_out, SiLU, conv_out
 * (→ 2·latent_channels: mean and log-variance).
 */
export class VaeEncoder extends Module {
  readonly convIn: Conv2d;
  readonly downBlocks: DownEncoderBlock2D[];
  readonly midBlock: VaeMidBlock;
  readonly convNormOut: GroupNorm;
  readonly convOut: Conv2d;

  constructor(readonly config: VaeConfig) {
    super();
    const ch = config.blockOutChannels;
    const g = config.normNumGroups;
    const last = ch[ch.length - 1];
    this.convIn = this.addModule('conv_in', new Conv2d(config.inChannels, ch[0], 3, 1, 1));
    this.downBlocks = this.addModules(
      'down_blocks',
      ch.map((out, i) => new DownEncoderBlock2D({
        inChannels: i === 0 ? ch[0] : ch[i - 1],
        outChannels: out,
        numLayers: config.layersPerBlock,
        groups: g,
        eps: VAE_EPS,
        act: config.actFn,
        downsample: i < ch.length - 1,
      })),
    );
    this.midBlock = this.addModule('mid_block', new VaeMidBlock({ channels: last, groups: g, eps: VAE_EPS, act: config.actFn, attention: config.midBlockAddAttention }));
    this.convNormOut = this.addModule('conv_norm_out', new GroupNorm(g, last, VAE_EPS));
    this.convOut = this.addModule('conv_out', new Conv2d(last, 2 * config.latentChannels, 3, 1, 1));
  }

  /** image [B, H, W, in_channels] → moments [B, H/f, W/f, 2·latent_channels] (f = 2^(blocks−1)). */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    if (x.rank !== 4 || x.shape[3] !== this.config.inChannels) {
      throw new Error(`VAE encoder: expected an NHWC image [B, H, W, ${this.config.inChannels}], got [${x.shape.join(', ')}]`);
    }
    return runStages(x, [
      (t) => this.convIn.forward(t),
      ...this.downBlocks.map((b) => (t: tf.Tensor4D) => b.forward(t)),
      (t) => this.midBlock.forward(t),
      (t) => tf.tidy(() => this.convOut.forward(this.convNormOut.forward(t, true))),
    ]);
  }
}
