/**
 * The VAE's encoder and decoder and their blocks (diffusers `Encoder`, `Decoder`,
 * DownEncoderBlock2D, UpDecoderBlock2D, UNetMidBlock2D without time embedding). Activations are
 * NHWC; stages run through `runStages`, so at most two block outputs are alive at a time.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Module } from '../../nn/module.js';
import { Conv2d } from '../../nn/conv2d.js';
import { GroupNorm } from '../../nn/norm.js';
import { Attention } from '../../nn/attention.js';
import { ResnetBlock2D, resnetChain } from '../../nn/resnet.js';
import { Downsample2D, Upsample2D } from '../../nn/sampling.js';
import { VAE_EPS, type VaeConfig } from './config.js';

/**
 * Runs `stages` one after another, disposing each intermediate result as soon as the next one
 * exists (never the input `x`). Unlike one enclosing tf.tidy, which frees everything only at the
 * end, this keeps at most two block outputs alive: at 512×512 a decoder activation is 128 MiB.
 */
export function runStages<T extends tf.Tensor>(x: T, stages: readonly ((t: T) => T)[]): T {
  let cur = x;
  for (const stage of stages) {
    const next = stage(cur);
    if (cur !== x && next !== cur) cur.dispose();
    cur = next;
  }
  return cur;
}

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
 * `attentions.0` (one head of all channels, with its group norm), `resnets.1`.
 */
export class VaeMidBlock extends Module {
  readonly resnets: ResnetBlock2D[];
  readonly attentions: Attention[];

  constructor(o: VaeMidBlockOptions) {
    super();
    const c = o.channels;
    const resnet = () => new ResnetBlock2D({ inChannels: c, outChannels: c, groups: o.groups, eps: o.eps, act: o.act });
    this.resnets = this.addModules('resnets', [resnet(), resnet()]);
    this.attentions = this.addModules(
      'attentions',
      o.attention === false ? [] : [new Attention({ queryDim: c, heads: 1, dimHead: c, qkvBias: true, groupNorm: { groups: o.groups, eps: o.eps } })],
    );
  }

  /** x [B, H, W, C] → [B, H, W, C]. */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    const [r0, r1] = this.resnets;
    const attn = this.attentions[0];
    return runStages(x, [
      (t) => r0.forward(t),
      ...(attn ? [(t: tf.Tensor4D) => attn.forwardImage(t)] : []),
      (t) => r1.forward(t),
    ]);
  }
}

export interface DownEncoderBlockOptions {
  inChannels: number;
  outChannels: number;
  numLayers: number;
  groups: number;
  eps: number;
  act: string;
  /** Halve the resolution at the end (every block but the last). */
  addDownsample: boolean;
}

/** diffusers DownEncoderBlock2D: `resnets.N`, then `downsamplers.0` (3×3 stride 2, right/bottom pad). */
export class DownEncoderBlock2D extends Module {
  readonly resnets: ResnetBlock2D[];
  readonly downsampler?: Downsample2D;

  constructor(o: DownEncoderBlockOptions) {
    super();
    this.resnets = this.addModules('resnets', resnetChain(o.numLayers, { inChannels: o.inChannels, outChannels: o.outChannels, groups: o.groups, eps: o.eps, act: o.act }));
    if (o.addDownsample) this.downsampler = this.addModule('downsamplers.0', new Downsample2D(o.outChannels, o.outChannels, 0));
  }

  /** x [B, H, W, in] → [B, H/2, W/2, out] (or [B, H, W, out] without downsampling). */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    const layers: { forward(t: tf.Tensor4D): tf.Tensor4D }[] = [...this.resnets, ...(this.downsampler ? [this.downsampler] : [])];
    return runStages(x, layers.map((m) => (t: tf.Tensor4D) => m.forward(t)));
  }
}

export interface UpDecoderBlockOptions {
  inChannels: number;
  outChannels: number;
  /** layers_per_block + 1 in the VAE decoder. */
  numLayers: number;
  groups: number;
  eps: number;
  act: string;
  /** Double the resolution at the end (every block but the last). */
  addUpsample: boolean;
}

/** diffusers UpDecoderBlock2D: `resnets.N`, then `upsamplers.0` (nearest ×2 + 3×3 conv). */
export class UpDecoderBlock2D extends Module {
  readonly resnets: ResnetBlock2D[];
  readonly upsampler?: Upsample2D;

  constructor(o: UpDecoderBlockOptions) {
    super();
    this.resnets = this.addModules('resnets', resnetChain(o.numLayers, { inChannels: o.inChannels, outChannels: o.outChannels, groups: o.groups, eps: o.eps, act: o.act }));
    if (o.addUpsample) this.upsampler = this.addModule('upsamplers.0', new Upsample2D(o.outChannels));
  }

  /** x [B, H, W, in] → [B, 2H, 2W, out] (or [B, H, W, out] without upsampling). */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    const layers: { forward(t: tf.Tensor4D): tf.Tensor4D }[] = [...this.resnets, ...(this.upsampler ? [this.upsampler] : [])];
    return runStages(x, layers.map((m) => (t: tf.Tensor4D) => m.forward(t)));
  }
}

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
        addDownsample: i < ch.length - 1,
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
      (t) => tf.tidy(() => this.convOut.forward(this.convNormOut.forward(t, { silu: true }))),
    ]);
  }
}

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
        addUpsample: i < rev.length - 1,
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
      (t) => tf.tidy(() => this.convOut.forward(this.convNormOut.forward(t, { silu: true }))),
    ]);
  }
}
