import * as tf from '@tensorflow/tfjs-core';
import { Module } from '../../nn/module.js';
import { Conv2d } from '../../nn/conv2d.js';
import { GroupNorm } from '../../nn/norm.js';
import { VAE_EPS, type VaeConfig } from './config.js';
import { UpDecoderBlock2D } from './up-decoder-block.js';
import { VaeMidBlock } from './mid-block.js';
import { runStages } from './stages.js';

/**
 * diffusers VAE `Decoder`: conv_in, mid_block, up_blocks.N (layers_per_block + 1 resnets,
 * channels in reverse order), conv_norm_out, SiLU, conv_out.
 */
export class VaeDecoder extends Module {
  readonly convIn: Conv2d;
  readonly midBlock: VaeMidBlock;
  readonly upBlocks: UpDecoderBlock2D[];
  readonly convNormOut: GroupNorm;
  readonly convOut: Conv2d;

  constructor(readonly config: VaeConfig) {
    super();
    const rev = [...config.blockOutChannels].reverse();
    const g = config.normNumGroups;
    this.convIn = this.addModule('conv_in', new Conv2d(config.latentChannels, rev[0], 3, 1, 1));
    this.midBlock = this.addModule('mid_block', new VaeMidBlock({ channels: rev[0], groups: g, eps: VAE_EPS, act: config.actFn, attention: config.midBlockAddAttention }));
    this.upBlocks = this.addModules(
      'up_blocks',
      rev.map((out, i) => new UpDecoderBlock2D({
        inChannels: i === 0 ? rev[0] : rev[i - 1],
        outChannels: out,
        numLayers: config.layersPerBlock + 1,
        groups: g,
        eps: VAE_EPS,
        act: config.actFn,
        upsample: i < rev.length - 1,
      })),
    );
    const first = config.blockOutChannels[0];
    this.convNormOut = this.addModule('conv_norm_out', new GroupNorm(g, first, VAE_EPS));
    this.convOut = this.addModule('conv_out', new Conv2d(first, config.outChannels, 3, 1, 1));
  }

  /** z [B, h, w, latent_channels] (after post_quant_conv) → image [B, h·f, w·f, out_channels], roughly [-1, 1]. */
  forward(z: tf.Tensor4D): tf.Tensor4D {
    if (z.rank !== 4 || z.shape[3] !== this.config.latentChannels) {
      throw new Error(`VAE decoder: expected NHWC latents [B, h, w, ${this.config.latentChannels}], got [${z.shape.join(', ')}]`);
    }
    return runStages(z, [
      (t) => this.convIn.forward(t),
      (t) => this.midBlock.forward(t),
      ...this.upBlocks.map((b) => (t: tf.Tensor4D) => b.forward(t)),
      (t) => tf.tidy(() => this.convOut.forward(this.convNormOut.forward(t, true))),
    ]);
  }
}
