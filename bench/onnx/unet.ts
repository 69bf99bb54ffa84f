/**
 * Our UNet2DConditionModel as an ONNX graph (NCHW, static shapes), the graph torch.onnx.export
 * makes of diffusers' model (../shared/notes/ort-peer.md): Conv, MatMul + Add for the linear
 * layers, GroupNorm as Reshape → InstanceNormalization → Reshape → affine, SiLU as x·sigmoid(x),
 * exact GELU through Erf, attention as MatMul(q, kᵀ)·scale → Softmax → MatMul, nearest ×2
 * Resize. The weights are the model's own (so ORT and our backends compute the same function);
 * onnxruntime fuses these patterns itself at graphOptimizationLevel 'all'.
 */
import type { UNet2DConditionModel } from '../../src/models/unet/unet.js';
import type { UNetDownBlock, UNetMidBlock2DCrossAttn, UNetUpBlock } from '../../src/models/unet/blocks.js';
import type { ResnetBlock2D } from '../../src/nn/resnet.js';
import type { Transformer2DModel } from '../../src/nn/transformer.js';
import type { BasicTransformerBlock } from '../../src/nn/transformer-block.js';
import type { Attention } from '../../src/nn/attention.js';
import type { GroupNorm, LayerNorm } from '../../src/nn/norm.js';
import { Conv2d } from '../../src/nn/conv2d.js';
import type { Linear } from '../../src/nn/linear.js';
import { timestepFrequencies } from '../../src/nn/embeddings.js';
import { OnnxGraph } from './graph.js';

export interface UNetExportShapes {
  batch: number;
  /** Latent height = width. */
  size: number;
  /** Context tokens (77 for CLIP). */
  tokens: number;
}

/** Input names: sample [B, C, H, W], timestep [B], encoder_hidden_states [B, tokens, D]; output out_sample. */
export function exportUNet(m: UNet2DConditionModel, s: UNetExportShapes): OnnxGraph {
  const c = m.config;
  if (!['silu', 'swish'].includes(c.actFn))
    throw new Error(`exportUNet: act_fn "${c.actFn}" is not supported (silu only)`);
  if (s.size % m.sizeFactor) throw new Error(`exportUNet: latent size ${s.size} is not a multiple of ${m.sizeFactor}`);
  if (new Set(c.crossAttentionDim).size !== 1)
    throw new Error('exportUNet: per-block cross_attention_dim is not supported');
  const e = new UNetExporter(new OnnxGraph(), m);
  return e.build(s);
}

class UNetExporter {
  private weights = 0;

  constructor(
    readonly g: OnnxGraph,
    readonly m: UNet2DConditionModel,
  ) {}

  /** A weight initializer whose values `values` gives when the model is written. */
  private param(dims: number[], values: () => Float32Array): string {
    return this.g.weight(`w${this.weights++}`, dims, values);
  }

  private silu(x: string): string {
    return this.g.op('Mul', [x, this.g.op('Sigmoid', [x])]);
  }

  conv(conv: Conv2d, x: string): string {
    const k = conv.kernelSize;
    const w = this.param([conv.outChannels, conv.inChannels, k, k], () => conv.weight.torchValues());
    const inputs = [x, w];
    if (conv.bias) inputs.push(this.param([conv.outChannels], () => conv.bias!.values()));
    const p = conv.padding;
    return this.g.op('Conv', inputs, { kernel_shape: [k, k], pads: [p, p, p, p], strides: [conv.stride, conv.stride] });
  }

  /** x [..., in] → [..., out] (MatMul on the [in, out] weight, then the bias). */
  linear(l: Linear, x: string): string {
    const y = this.g.op('MatMul', [x, this.param([l.inFeatures, l.outFeatures], () => l.weight.values())]);
    return l.bias ? this.g.op('Add', [y, this.param([l.outFeatures], () => l.bias!.values())]) : y;
  }

  /** NCHW GroupNorm, optionally followed by SiLU. */
  groupNorm(n: GroupNorm, x: string, silu: boolean): string {
    const g = this.g;
    const grouped = g.op('Reshape', [x, g.ints([0, n.numGroups, -1])]);
    const ones = g.floats(new Array<number>(n.numGroups).fill(1));
    const zeros = g.floats(new Array<number>(n.numGroups).fill(0));
    const normed = g.op('InstanceNormalization', [grouped, ones, zeros], { epsilon: { f: n.eps } });
    let y = g.op('Reshape', [normed, g.op('Shape', [x])]);
    if (n.weight && n.bias) {
      const w = n.weight;
      const b = n.bias;
      y = g.op('Add', [
        g.op('Mul', [y, this.param([n.numChannels, 1, 1], () => w.values())]),
        this.param([n.numChannels, 1, 1], () => b.values()),
      ]);
    }
    return silu ? this.silu(y) : y;
  }

  layerNorm(n: LayerNorm, x: string): string {
    return this.g.op(
      'LayerNormalization',
      [x, this.param([n.dim], () => n.weight.values()), this.param([n.dim], () => n.bias.values())],
      {
        axis: -1,
        epsilon: { f: n.eps },
      },
    );
  }

  resnet(r: ResnetBlock2D, x: string, temb: string, scale: number): string {
    const g = this.g;
    let h = this.conv(r.conv1, this.groupNorm(r.norm1, x, true));
    if (r.timeEmbProj) {
      const t = this.linear(r.timeEmbProj, this.silu(temb));
      h = g.op('Add', [h, g.op('Unsqueeze', [t, g.ints([2, 3])])]);
    }
    h = this.conv(r.conv2, this.groupNorm(r.norm2, h, true));
    const skip = r.convShortcut ? this.conv(r.convShortcut, x) : x;
    const y = g.op('Add', [skip, h]);
    return scale === 1 ? y : g.op('Div', [y, g.floats([scale], [])]);
  }

  /** [B, N, C] tokens → heads [B, heads, N, d] (or [B, heads, d, N] with `keys`). */
  private heads(x: string, heads: number, dimHead: number, keys = false): string {
    const split = this.g.op('Reshape', [x, this.g.ints([0, 0, heads, dimHead])]);
    return this.g.op('Transpose', [split], { perm: keys ? [0, 2, 3, 1] : [0, 2, 1, 3] });
  }

  attention(a: Attention, x: string, context: string | undefined): string {
    const g = this.g;
    const { heads } = a;
    const d = a.opts.dimHead;
    const kv = context ?? x;
    const q = this.heads(this.linear(a.toQ, x), heads, d);
    const kT = this.heads(this.linear(a.toK, kv), heads, d, true);
    const v = this.heads(this.linear(a.toV, kv), heads, d);
    const scores = g.op('Mul', [g.op('MatMul', [q, kT]), g.floats([1 / Math.sqrt(d)], [])]);
    const out = g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), v]);
    const merged = g.op('Reshape', [g.op('Transpose', [out], { perm: [0, 2, 1, 3] }), g.ints([0, 0, heads * d])]);
    return this.linear(a.toOut, merged);
  }

  /** exact GELU: 0.5·x·(1 + erf(x/√2)). */
  private gelu(x: string): string {
    const g = this.g;
    const erf = g.op('Erf', [g.op('Div', [x, g.floats([Math.SQRT2], [])])]);
    return g.op('Mul', [g.op('Mul', [x, g.op('Add', [erf, g.floats([1], [])])]), g.floats([0.5], [])]);
  }

  block(b: BasicTransformerBlock, x: string, context: string): string {
    const g = this.g;
    const selfCtx = b.opts.onlyCrossAttention ? context : undefined;
    let h = g.op('Add', [this.attention(b.attn1, this.layerNorm(b.norm1, x), selfCtx), x]);
    h = g.op('Add', [this.attention(b.attn2, this.layerNorm(b.norm2, h), context), h]);
    const ff = b.ff;
    const inner = ff.act.dimOut;
    const [value, gate] = g.opN(
      'Split',
      [this.linear(ff.act.proj, this.layerNorm(b.norm3, h)), g.ints([inner, inner])],
      2,
      { axis: -1 },
    );
    const y = this.linear(ff.out, g.op('Mul', [value, this.gelu(gate)]));
    return g.op('Add', [y, h]);
  }

  transformer(t: Transformer2DModel, x: string, context: string): string {
    const g = this.g;
    if (t.innerDim !== t.opts.inChannels)
      throw new Error('exportUNet: a Transformer2DModel whose inner size differs from its channels is not supported');
    const shape = g.op('Shape', [x]);
    const toTokens = (y: string) =>
      g.op('Transpose', [g.op('Reshape', [y, g.ints([0, t.innerDim, -1])])], { perm: [0, 2, 1] });
    const toMap = (y: string) => g.op('Reshape', [g.op('Transpose', [y], { perm: [0, 2, 1] }), shape]);
    const normed = this.groupNorm(t.norm, x, false);
    // proj_in/proj_out: a 1×1 conv on the map (SD-1) or a linear layer on the tokens (SD-2).
    let h =
      t.projIn instanceof Conv2d ? toTokens(this.conv(t.projIn, normed)) : this.linear(t.projIn, toTokens(normed));
    for (const b of t.transformerBlocks) h = this.block(b, h, context);
    const out = t.projOut instanceof Conv2d ? this.conv(t.projOut, toMap(h)) : toMap(this.linear(t.projOut, h));
    return g.op('Add', [out, x]);
  }

  down(b: UNetDownBlock, x: string, temb: string, context: string): string[] {
    const states: string[] = [];
    let h = x;
    b.resnets.forEach((r, i) => {
      h = this.resnet(r, h, temb, 1);
      if (b.attentions.length) h = this.transformer(b.attentions[i], h, context);
      states.push(h);
    });
    if (b.downsampler) states.push(this.conv(b.downsampler.conv, h));
    return states;
  }

  mid(b: UNetMidBlock2DCrossAttn, x: string, temb: string, context: string): string {
    const scale = this.m.config.midBlockScaleFactor;
    let h = this.resnet(b.resnets[0], x, temb, scale);
    b.attentions.forEach((a, i) => {
      h = this.transformer(a, h, context);
      h = this.resnet(b.resnets[i + 1], h, temb, scale);
    });
    return h;
  }

  up(b: UNetUpBlock, x: string, skips: string[], temb: string, context: string): string {
    const g = this.g;
    let h = x;
    b.resnets.forEach((r, i) => {
      h = this.resnet(r, g.op('Concat', [h, skips[skips.length - 1 - i]], { axis: 1 }), temb, 1);
      if (b.attentions.length) h = this.transformer(b.attentions[i], h, context);
    });
    if (!b.upsampler) return h;
    const up = g.op('Resize', [h, '', g.floats([1, 1, 2, 2])], {
      mode: 'nearest',
      coordinate_transformation_mode: 'asymmetric',
      nearest_mode: 'floor',
    });
    return this.conv(b.upsampler.conv, up);
  }

  build(s: UNetExportShapes): OnnxGraph {
    const g = this.g;
    const m = this.m;
    const c = m.config;
    const sample = g.input('sample', [s.batch, c.inChannels, s.size, s.size]);
    const timestep = g.input('timestep', [s.batch]);
    const context = g.input('encoder_hidden_states', [s.batch, s.tokens, c.crossAttentionDim[0]]);

    const dim = m.timeProj.numChannels;
    if (dim % 2) throw new Error('exportUNet: an odd timestep embedding size is not supported');
    const o = m.timeProj.options;
    const freqs = timestepFrequencies(dim, o);
    const args = g.op('Mul', [g.op('Unsqueeze', [timestep, g.ints([1])]), g.floats(Array.from(freqs), [1, dim / 2])]);
    const scaled = (o.scale ?? 1) === 1 ? args : g.op('Mul', [args, g.floats([o.scale!], [])]);
    const [cos, sin] = [g.op('Cos', [scaled]), g.op('Sin', [scaled])];
    const proj = g.op('Concat', o.flipSinToCos ? [cos, sin] : [sin, cos], { axis: 1 });
    const te = m.timeEmbedding;
    const temb = this.linear(te.linear2, this.silu(this.linear(te.linear1, proj)));

    const centred = c.centerInputSample
      ? g.op('Sub', [g.op('Mul', [sample, g.floats([2], [])]), g.floats([1], [])])
      : sample;
    let x = this.conv(m.convIn, centred);
    const skips = [x];
    for (const b of m.downBlocks) {
      const states = this.down(b, x, temb, context);
      skips.push(...states);
      x = states[states.length - 1];
    }
    if (m.midBlock) x = this.mid(m.midBlock, x, temb, context);
    for (const b of m.upBlocks) x = this.up(b, x, skips.splice(skips.length - b.resnets.length), temb, context);
    x = this.conv(m.convOut, this.groupNorm(m.convNormOut, x, true));
    g.output(x, 'out_sample', [s.batch, c.outChannels, s.size, s.size]);
    return g;
  }
}
