/**
 * The UNet's down, mid and up blocks (diffusers unet_2d_blocks): resnets, optional
 * Transformer2DModels, down/upsamplers. Every forward runs in its own tf.tidy, so with streaming
 * residency a block's weights are freed when the block ends.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Module } from '../../nn/module.js';
import { ResnetBlock2D, resnetChain } from '../../nn/resnet.js';
import { Transformer2DModel } from '../../nn/transformer.js';
import { Downsample2D, Upsample2D } from '../../nn/sampling.js';
import type { AttentionCall } from '../../nn/attention-control.js';

/** What every block receives besides its input. */
export interface BlockInputs {
  /** Time embedding [B, tembChannels]. */
  temb: tf.Tensor2D;
  /** Text encoder states [B, M, crossAttentionDim]. */
  context: tf.Tensor3D;
  call: AttentionCall;
}

/** Shared resnet settings. */
export interface ResnetSettings {
  tembChannels: number;
  groups: number;
  eps: number;
  act: string;
}

/** Cross-attention settings of a block; absent for blocks without attention. */
export interface CrossAttnSettings {
  heads: number;
  /** BasicTransformerBlocks per Transformer2DModel. */
  transformerLayers: number;
  crossAttentionDim: number;
  useLinearProjection: boolean;
  onlyCrossAttention: boolean;
}

function transformer(channels: number, groups: number, a: CrossAttnSettings): Transformer2DModel {
  return new Transformer2DModel({
    heads: a.heads,
    dimHead: Math.floor(channels / a.heads),
    inChannels: channels,
    numLayers: a.transformerLayers,
    crossAttentionDim: a.crossAttentionDim,
    normNumGroups: groups,
    useLinearProjection: a.useLinearProjection,
    onlyCrossAttention: a.onlyCrossAttention,
  });
}

export interface DownBlockOptions {
  inChannels: number;
  outChannels: number;
  numLayers: number;
  addDownsample: boolean;
  downsamplePadding: number;
  resnet: ResnetSettings;
  attention?: CrossAttnSettings;
}

/** CrossAttnDownBlock2D (with `attention`) or DownBlock2D: keys resnets.i, attentions.i, downsamplers.0. */
export class UNetDownBlock extends Module {
  readonly resnets: ResnetBlock2D[];
  readonly attentions: Transformer2DModel[];
  readonly downsampler?: Downsample2D;

  constructor(readonly opts: DownBlockOptions) {
    super();
    const { inChannels, outChannels, numLayers, resnet: r } = opts;
    // diffusers registers attentions before resnets (state_dict order).
    const a = opts.attention;
    this.attentions = a ? this.addModules('attentions', Array.from({ length: numLayers }, () => transformer(outChannels, r.groups, a))) : [];
    this.resnets = this.addModules('resnets', resnetChain(numLayers, { inChannels, outChannels, tembChannels: r.tembChannels, groups: r.groups, eps: r.eps, act: r.act }));
    if (opts.addDownsample) this.downsampler = this.addModule('downsamplers.0', new Downsample2D(outChannels, outChannels, opts.downsamplePadding));
  }

  /** The hidden state after every layer and after the downsampler (skip connections); the last one is the block's output. */
  forward(x: tf.Tensor4D, inp: BlockInputs): tf.Tensor4D[] {
    return tf.tidy(() => {
      const states: tf.Tensor4D[] = [];
      let h = x;
      this.resnets.forEach((resnet, i) => {
        h = resnet.forward(h, inp.temb);
        if (this.attentions.length) h = this.attentions[i].forward(h, inp.context, inp.call);
        states.push(h);
      });
      if (this.downsampler) states.push(this.downsampler.forward(h));
      return states;
    });
  }
}

export interface MidBlockOptions {
  channels: number;
  /** Number of (attention, resnet) pairs after the first resnet. Default 1. */
  numLayers?: number;
  outputScaleFactor: number;
  resnet: ResnetSettings;
  attention: CrossAttnSettings;
}

/** UNetMidBlock2DCrossAttn: resnets.0, then attentions.i and resnets.i+1 alternately. */
export class UNetMidBlock2DCrossAttn extends Module {
  readonly resnets: ResnetBlock2D[];
  readonly attentions: Transformer2DModel[];

  constructor(readonly opts: MidBlockOptions) {
    super();
    const { channels, resnet: r } = opts;
    const n = opts.numLayers ?? 1;
    const res = () => new ResnetBlock2D({ inChannels: channels, outChannels: channels, tembChannels: r.tembChannels, groups: r.groups, eps: r.eps, act: r.act, outputScaleFactor: opts.outputScaleFactor });
    this.attentions = this.addModules('attentions', Array.from({ length: n }, () => transformer(channels, r.groups, { ...opts.attention, onlyCrossAttention: false })));
    this.resnets = this.addModules('resnets', Array.from({ length: n + 1 }, res));
  }

  forward(x: tf.Tensor4D, inp: BlockInputs): tf.Tensor4D {
    return tf.tidy(() => {
      let h = this.resnets[0].forward(x, inp.temb);
      this.attentions.forEach((attn, i) => {
        h = attn.forward(h, inp.context, inp.call);
        h = this.resnets[i + 1].forward(h, inp.temb);
      });
      return h;
    });
  }
}

export interface UpBlockOptions {
  /** Channels of the matching down block's input (the last skip). */
  inChannels: number;
  outChannels: number;
  /** Channels coming from the previous up block (or the mid block). */
  prevOutputChannels: number;
  numLayers: number;
  addUpsample: boolean;
  resnet: ResnetSettings;
  attention?: CrossAttnSettings;
}

/** CrossAttnUpBlock2D (with `attention`) or UpBlock2D: keys resnets.i, attentions.i, upsamplers.0. */
export class UNetUpBlock extends Module {
  readonly resnets: ResnetBlock2D[];
  readonly attentions: Transformer2DModel[];
  readonly upsampler?: Upsample2D;

  constructor(readonly opts: UpBlockOptions) {
    super();
    const { inChannels, outChannels, prevOutputChannels, numLayers, resnet: r } = opts;
    const a = opts.attention;
    this.attentions = a ? this.addModules('attentions', Array.from({ length: numLayers }, () => transformer(outChannels, r.groups, a))) : [];
    this.resnets = this.addModules(
      'resnets',
      Array.from({ length: numLayers }, (_, i) => {
        const skip = i === numLayers - 1 ? inChannels : outChannels;
        const input = i === 0 ? prevOutputChannels : outChannels;
        return new ResnetBlock2D({ inChannels: input + skip, outChannels, tembChannels: r.tembChannels, groups: r.groups, eps: r.eps, act: r.act });
      }),
    );
    if (opts.addUpsample) this.upsampler = this.addModule('upsamplers.0', new Upsample2D(outChannels));
  }

  /**
   * `skips` are this block's skip connections in the order the down path produced them (one per
   * resnet; consumed from the end). `upsampleSize` is the [h, w] to upsample to (default ×2):
   * the next skip's size, which differs from ×2 for odd sizes.
   */
  forward(x: tf.Tensor4D, skips: readonly tf.Tensor4D[], inp: BlockInputs, upsampleSize?: [number, number]): tf.Tensor4D {
    if (skips.length !== this.resnets.length) throw new Error(`up block: expected ${this.resnets.length} skip connections, got ${skips.length}`);
    return tf.tidy(() => {
      let h = x;
      this.resnets.forEach((resnet, i) => {
        h = resnet.forward(tf.concat([h, skips[skips.length - 1 - i]], 3), inp.temb);
        if (this.attentions.length) h = this.attentions[i].forward(h, inp.context, inp.call);
      });
      return this.upsampler ? this.upsampler.forward(h, upsampleSize) : h;
    });
  }
}

/** diffusers CrossAttnDownBlock2D. */
export class CrossAttnDownBlock2D extends UNetDownBlock {
  constructor(opts: DownBlockOptions & { attention: CrossAttnSettings }) {
    super(opts);
  }
}

/** diffusers DownBlock2D (no attention). */
export class DownBlock2D extends UNetDownBlock {
  constructor(opts: Omit<DownBlockOptions, 'attention'>) {
    super({ ...opts, attention: undefined });
  }
}

/** diffusers CrossAttnUpBlock2D. */
export class CrossAttnUpBlock2D extends UNetUpBlock {
  constructor(opts: UpBlockOptions & { attention: CrossAttnSettings }) {
    super(opts);
  }
}

/** diffusers UpBlock2D (no attention). */
export class UpBlock2D extends UNetUpBlock {
  constructor(opts: Omit<UpBlockOptions, 'attention'>) {
    super({ ...opts, attention: undefined });
  }
}
