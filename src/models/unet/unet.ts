/**
 * diffusers UNet2DConditionModel (SD-1.x / SD-2.x / SD-XL layouts) on NHWC latents, with every
 * attention layer placed for the Prompt-to-Prompt controller seam. SD-XL adds the "text_time"
 * conditioning: `add_embedding(cat(text_embeds, sinusoid(time_ids)))` is added to the time embedding.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Module } from '../../nn/module.js';
import { Conv2d } from '../../nn/conv2d.js';
import { GroupNorm } from '../../nn/norm.js';
import { Attention } from '../../nn/attention.js';
import { activation } from '../../nn/activations.js';
import { Timesteps, TimestepEmbedding } from '../../nn/embeddings.js';
import type { AttentionCall, Place } from '../../nn/attention-control.js';
import type { SegmentTape } from '../../nn/segment-tape.js';
import { parseUNetConfig, type UNetConfig } from './config.js';
import {
  CrossAttnDownBlock2D, CrossAttnUpBlock2D, DownBlock2D, UNetMidBlock2DCrossAttn, UpBlock2D,
  type BlockInputs, type CrossAttnSettings, type ResnetSettings, type UNetDownBlock, type UNetUpBlock,
} from './blocks.js';

/**
 * SD-XL's added conditioning (diffusers' `added_cond_kwargs`), one row per sample of the UNet
 * batch; required by a UNet with `addition_embed_type: "text_time"` and refused by others.
 */
export interface AddedConditioning {
  /** Pooled text embedding [B, D] (text_encoder_2's projected output, `text_embeds`). */
  textEmbeds: tf.Tensor2D;
  /**
   * Micro-conditioning ids of each row (`time_ids`), SD-XL base: [original height, original width,
   * crop top, crop left, target height, target width]; each id gets its own sinusoid.
   */
  timeIds: readonly (readonly number[])[];
}

export interface UNetForwardOptions {
  /** SD-XL's pooled text embedding and time ids (see {@link AddedConditioning}). */
  added?: AddedConditioning;
  /** Also return every stage's output (names as in the reference's unet_blocks case). */
  returnIntermediates?: boolean;
  /**
   * Run block by block on this tape (gradient checkpointing): gradients with respect to a
   * watched `encoderHiddenStates` then come from `tape.backward`, recomputing one block at a time.
   * No attention controller may be set (the recomputation would call it twice).
   */
  tape?: SegmentTape;
}

export interface UNetForwardResult {
  sample: tf.Tensor4D;
  /**
   * time_proj_out, time_embedding_out [B, C] (SD-XL also add_time_proj_out [B·ids, dim], add_embeds,
   * add_embedding_out and emb, the sum every resnet receives); conv_in_out, down_blocks.i.out,
   * mid_block_out, up_blocks.i.out, conv_out_out (NHWC), in forward order. The caller disposes them.
   */
  intermediates: Record<string, tf.Tensor>;
}

/** A timestep per call (broadcast), per sample, or as a 1-D tensor of length 1 or batch. */
export type TimestepInput = number | readonly number[] | tf.Tensor1D;

export class UNet2DConditionModel extends Module {
  readonly config: UNetConfig;
  readonly convIn: Conv2d;
  readonly timeProj: Timesteps;
  readonly timeEmbedding: TimestepEmbedding;
  /** SD-XL ("text_time"): the sinusoid of each time id and the MLP over [text_embeds, sinusoids]. */
  readonly addTimeProj?: Timesteps;
  readonly addEmbedding?: TimestepEmbedding;
  readonly downBlocks: UNetDownBlock[];
  readonly upBlocks: UNetUpBlock[];
  readonly midBlock?: UNetMidBlock2DCrossAttn;
  readonly convNormOut: GroupNorm;
  readonly convOut: Conv2d;
  private readonly act: <T extends tf.Tensor>(x: T) => T;
  private readonly attention: Attention[];

  /** Builds the model from a parsed config; weights stay unallocated until loaded. */
  constructor(config: UNetConfig) {
    super();
    const c = (this.config = config);
    const boc = c.blockOutChannels;
    const n = boc.length;
    const resnet: ResnetSettings = { tembChannels: c.timeEmbedDim, groups: c.normNumGroups, eps: c.normEps, act: c.actFn };
    const attn = (i: number, onlyCross: boolean): CrossAttnSettings => ({
      heads: c.attentionHeads[i],
      transformerLayers: c.transformerLayersPerBlock[i],
      crossAttentionDim: c.crossAttentionDim[i],
      useLinearProjection: c.useLinearProjection,
      onlyCrossAttention: onlyCross,
    });

    // Registration order follows diffusers, so namedParams() lists keys in state_dict order.
    this.convIn = this.addModule('conv_in', new Conv2d(c.inChannels, boc[0], c.convInKernel, 1, (c.convInKernel - 1) >> 1));
    this.timeProj = this.addModule('time_proj', new Timesteps(boc[0], { flipSinToCos: c.flipSinToCos, downscaleFreqShift: c.freqShift }));
    this.timeEmbedding = this.addModule('time_embedding', new TimestepEmbedding(boc[0], c.timeEmbedDim, c.actFn));
    if (c.additionEmbedType === 'text_time') {
      this.addTimeProj = this.addModule('add_time_proj', new Timesteps(c.additionTimeEmbedDim, { flipSinToCos: c.flipSinToCos, downscaleFreqShift: c.freqShift }));
      this.addEmbedding = this.addModule('add_embedding', new TimestepEmbedding(c.projectionClassEmbeddingsInputDim, c.timeEmbedDim, c.actFn));
    }

    this.downBlocks = this.addModules(
      'down_blocks',
      c.downBlockTypes.map((type, i) => {
        const o = {
          inChannels: i === 0 ? boc[0] : boc[i - 1],
          outChannels: boc[i],
          numLayers: c.layersPerBlock[i],
          addDownsample: i < n - 1,
          downsamplePadding: c.downsamplePadding,
          resnet,
        };
        return type === 'CrossAttnDownBlock2D' ? new CrossAttnDownBlock2D({ ...o, attention: attn(i, c.onlyCrossAttention[i]) }) : new DownBlock2D(o);
      }),
    );

    // Up path: the per-block lists reversed (diffusers reversed_*).
    const rev = (i: number) => n - 1 - i;
    this.upBlocks = this.addModules(
      'up_blocks',
      c.upBlockTypes.map((type, i) => {
        const o = {
          inChannels: boc[rev(Math.min(i + 1, n - 1))],
          outChannels: boc[rev(i)],
          prevOutputChannels: boc[rev(Math.max(i - 1, 0))],
          numLayers: c.layersPerBlock[rev(i)] + 1,
          addUpsample: i < n - 1,
          resnet,
        };
        return type === 'CrossAttnUpBlock2D' ? new CrossAttnUpBlock2D({ ...o, attention: attn(rev(i), c.onlyCrossAttention[rev(i)]) }) : new UpBlock2D(o);
      }),
    );

    if (c.midBlockType) {
      this.midBlock = this.addModule(
        'mid_block',
        new UNetMidBlock2DCrossAttn({ channels: boc[n - 1], outputScaleFactor: c.midBlockScaleFactor, resnet, attention: attn(n - 1, false) }),
      );
    }
    this.convNormOut = this.addModule('conv_norm_out', new GroupNorm(c.normNumGroups, boc[0], c.normEps));
    this.act = activation(c.actFn);
    this.convOut = this.addModule('conv_out', new Conv2d(boc[0], c.outChannels, c.convOutKernel, 1, (c.convOutKernel - 1) >> 1));
    this.attention = this.placeAttention();
  }

  /** From a parsed unet/config.json (`source` names it in errors). Load the weights with `loadWeights(unet, source)`. */
  static fromConfig(json: unknown, source?: string): UNet2DConditionModel {
    return new UNet2DConditionModel(parseUNetConfig(json, source));
  }

  /** Gives every Attention its place, block index, forward-order layer index and module name. */
  private placeAttention(): Attention[] {
    const found: { a: Attention; place: Place; blockIndex: number; name: string }[] = [];
    const collect = (block: Module, prefix: string, place: Place, blockIndex: number) => {
      // Within a block, registration order is forward order (attentions.i → transformer_blocks.j → attn1, attn2).
      for (const [name, m] of block.namedModules(`${prefix}.`)) if (m instanceof Attention) found.push({ a: m, place, blockIndex, name });
    };
    this.downBlocks.forEach((b, i) => collect(b, `down_blocks.${i}`, 'down', i));
    if (this.midBlock) collect(this.midBlock, 'mid_block', 'mid', 0);
    this.upBlocks.forEach((b, i) => collect(b, `up_blocks.${i}`, 'up', i));
    found.forEach(({ a, place, blockIndex, name }, layerIndex) => {
      a.placement = { place, blockIndex, layerIndex, numLayers: found.length, name };
    });
    return found.map((f) => f.a);
  }

  /** Every attention layer in forward order (the order a controller sees them); `placement` says where. */
  attentionLayers(): readonly Attention[] {
    return this.attention;
  }

  /** Factor the latent height and width must be divisible by (2^number of downsamplers). */
  get sizeFactor(): number {
    return 2 ** this.downBlocks.filter((b) => b.downsampler).length;
  }

  private timestepsFor(t: TimestepInput, batch: number): number[] {
    const values = typeof t === 'number' ? [t] : t instanceof tf.Tensor ? Array.from(t.dataSync()) : [...t];
    if (t instanceof tf.Tensor && t.rank > 1) throw new Error(`UNet: timestep tensor must be 1-D, got shape [${t.shape.join(', ')}]`);
    if (values.length === 1) return new Array<number>(batch).fill(values[0]);
    if (values.length !== batch) throw new Error(`UNet: ${values.length} timesteps for a batch of ${batch} (give 1 or ${batch})`);
    return values;
  }

  /** Throws unless `added` is what this UNet takes for a batch of `batch` (one-line errors). */
  private checkAdded(added: AddedConditioning | undefined, batch: number): void {
    const c = this.config;
    if (!c.additionEmbedType) {
      if (added) throw new Error('UNet: added conditioning (text embeds, time ids) given to a model without addition_embed_type "text_time"');
      return;
    }
    if (!added) throw new Error('UNet: this model (addition_embed_type "text_time", SD-XL) needs the added conditioning: pooled text embeds and time ids');
    const s = added.textEmbeds.shape;
    if (s.length !== 2 || s[0] !== batch) throw new Error(`UNet: text embeds must be [${batch}, channels], got [${s.join(', ')}]`);
    const ids = added.timeIds;
    if (ids.length !== batch) throw new Error(`UNet: ${ids.length} rows of time ids for a batch of ${batch}`);
    const n = ids[0]?.length ?? 0;
    const bad = ids.findIndex((row) => row.length !== n || row.some((v) => !Number.isFinite(v)));
    if (bad >= 0) throw new Error(`UNet: time ids row ${bad} is not ${n} finite numbers like row 0`);
    const want = c.projectionClassEmbeddingsInputDim;
    if (s[1] + n * c.additionTimeEmbedDim !== want) {
      throw new Error(`UNet: text embeds of ${s[1]} channels and ${n} time ids × ${c.additionTimeEmbedDim} make ${s[1] + n * c.additionTimeEmbedDim} inputs; add_embedding takes ${want} (projection_class_embeddings_input_dim)`);
    }
  }

  /** diffusers "text_time": add_embedding(cat(text_embeds, sinusoid of every time id)) [B, timeEmbedDim]. */
  private addedEmbedding(added: AddedConditioning, rec: <T extends tf.Tensor>(name: string, t: T) => T): tf.Tensor2D {
    const b = added.timeIds.length;
    const proj = rec('add_time_proj_out', this.addTimeProj!.forward(added.timeIds.flat()));
    const embeds = rec('add_embeds', tf.concat([added.textEmbeds, tf.reshape(proj, [b, -1])], 1) as tf.Tensor2D);
    return rec('add_embedding_out', this.addEmbedding!.forward(embeds));
  }

  private check(sample: tf.Tensor4D, context: tf.Tensor3D): void {
    const c = this.config;
    const s = sample.shape;
    if (s.length !== 4 || s[3] !== c.inChannels) {
      throw new Error(`UNet: sample must be NHWC [batch, height, width, ${c.inChannels}], got [${s.join(', ')}]`);
    }
    const f = this.sizeFactor;
    if (s[1] % f !== 0 || s[2] % f !== 0) {
      throw new Error(`UNet: latent height and width must be multiples of ${f}, got ${s[1]}×${s[2]}`);
    }
    const e = context.shape;
    if (e.length !== 3) throw new Error(`UNet: encoderHiddenStates must be [batch, tokens, channels], got [${e.join(', ')}]`);
    if (e[0] !== s[0]) throw new Error(`UNet: encoderHiddenStates batch ${e[0]} differs from sample batch ${s[0]}`);
    const dims = new Set(c.crossAttentionDim);
    if (dims.size === 1 && !dims.has(e[2])) {
      throw new Error(`UNet: encoderHiddenStates have ${e[2]} channels, the model expects cross_attention_dim ${c.crossAttentionDim[0]}`);
    }
  }

  /**
   * Predicts the noise (or v) for NHWC latents [B, h, w, in_channels] at `timestep`, conditioned
   * on `encoderHiddenStates` [B, tokens, cross_attention_dim]. `call` carries the attention
   * controller and step index. Returns NHWC [B, h, w, out_channels].
   */
  forward(sample: tf.Tensor4D, timestep: TimestepInput, encoderHiddenStates: tf.Tensor3D, call?: AttentionCall, opts?: UNetForwardOptions & { returnIntermediates?: false }): tf.Tensor4D;
  forward(sample: tf.Tensor4D, timestep: TimestepInput, encoderHiddenStates: tf.Tensor3D, call: AttentionCall | undefined, opts: UNetForwardOptions & { returnIntermediates: true }): UNetForwardResult;
  forward(sample: tf.Tensor4D, timestep: TimestepInput, encoderHiddenStates: tf.Tensor3D, call?: AttentionCall, opts?: UNetForwardOptions): tf.Tensor4D | UNetForwardResult;
  forward(sample: tf.Tensor4D, timestep: TimestepInput, encoderHiddenStates: tf.Tensor3D, call: AttentionCall = {}, opts: UNetForwardOptions = {}): tf.Tensor4D | UNetForwardResult {
    this.check(sample, encoderHiddenStates);
    this.checkAdded(opts.added, sample.shape[0]);
    const timesteps = this.timestepsFor(timestep, sample.shape[0]);
    const tape = opts.tape;
    if (tape && call.controller) throw new Error('UNet: an attention controller cannot run on a gradient tape (the backward pass recomputes every block)');
    /** One block: recorded on the tape when there is one, else run directly. */
    const seg = <T extends tf.Tensor | tf.Tensor[]>(inputs: tf.Tensor[], fn: (xs: tf.Tensor[]) => T): T => (tape ? tape.run(inputs, fn) : fn(inputs));
    return tf.tidy(() => {
      const inter: Record<string, tf.Tensor> = {};
      const rec = <T extends tf.Tensor>(name: string, t: T): T => {
        if (opts.returnIntermediates) inter[name] = t;
        return t;
      };
      const tEmb = rec('time_proj_out', this.timeProj.forward(timesteps));
      const timeEmb = rec('time_embedding_out', this.timeEmbedding.forward(tEmb));
      const temb = opts.added ? rec('emb', tf.add(timeEmb, this.addedEmbedding(opts.added, rec)) as tf.Tensor2D) : timeEmb;
      const context = encoderHiddenStates;
      const blockCall: AttentionCall = { ...call, latent: { height: sample.shape[1], width: sample.shape[2] } };
      const inputs = (t: tf.Tensor, c: tf.Tensor): BlockInputs => ({ temb: t as tf.Tensor2D, context: c as tf.Tensor3D, call: blockCall });

      let x = seg([sample], ([s]) => {
        const centred = this.config.centerInputSample ? tf.sub(tf.mul(s, 2), 1) : s;
        return this.convIn.forward(centred as tf.Tensor4D);
      });
      rec('conv_in_out', x);
      const skips: tf.Tensor4D[] = [x];
      this.downBlocks.forEach((block, i) => {
        const states = seg([x, temb, context], ([h, t, c]) => block.forward(h as tf.Tensor4D, inputs(t, c)));
        skips.push(...states);
        x = rec(`down_blocks.${i}.out`, states[states.length - 1]);
      });
      const mid = this.midBlock;
      if (mid) x = rec('mid_block_out', seg([x, temb, context], ([h, t, c]) => mid.forward(h as tf.Tensor4D, inputs(t, c))));
      this.upBlocks.forEach((block, i) => {
        const own = skips.splice(skips.length - block.resnets.length);
        const next = skips[skips.length - 1];
        const size: [number, number] | undefined = block.upsampler && next ? [next.shape[1], next.shape[2]] : undefined;
        x = rec(`up_blocks.${i}.out`, seg([x, ...own, temb, context], ([h, ...rest]) => {
          const [t, c] = rest.splice(rest.length - 2);
          return block.forward(h as tf.Tensor4D, rest as tf.Tensor4D[], inputs(t, c), size);
        }));
      });
      x = seg([x], ([h]) => tf.tidy(() => {
        const silu = ['silu', 'swish'].includes(this.config.actFn);
        const normed = silu ? this.convNormOut.forward(h as tf.Tensor4D, { silu }) : this.act(this.convNormOut.forward(h as tf.Tensor4D));
        return this.convOut.forward(normed);
      }));
      rec('conv_out_out', x);
      return opts.returnIntermediates ? { sample: x, intermediates: inter } : x;
    });
  }
}
