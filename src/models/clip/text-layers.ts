/**
 * The layers of CLIP's text transformer (transformers `CLIPAttention`, `CLIPMLP`,
 * `CLIPEncoderLayer`), named like their state-dict keys.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Module } from '../../nn/module.js';
import { Linear } from '../../nn/linear.js';
import { LayerNorm } from '../../nn/norm.js';
import { activation } from '../../nn/activations.js';
import { attend, type SliceableAttention } from '../../nn/attention-core.js';
import type { ClipTextConfig } from './config.js';

/** Multi-head self-attention with q/k/v/out projections (all with bias). */
export class ClipAttention extends Module implements SliceableAttention {
  readonly kProj: Linear;
  readonly vProj: Linear;
  readonly qProj: Linear;
  readonly outProj: Linear;
  attentionSlice: number | undefined = undefined;

  constructor(readonly dim: number, readonly heads: number) {
    super();
    this.kProj = this.addModule('k_proj', new Linear(dim, dim));
    this.vProj = this.addModule('v_proj', new Linear(dim, dim));
    this.qProj = this.addModule('q_proj', new Linear(dim, dim));
    this.outProj = this.addModule('out_proj', new Linear(dim, dim));
  }

  /** x [B, T, D], additive mask [T, T] → [B, T, D]. */
  forward(x: tf.Tensor3D, mask?: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      const out = attend(this.qProj.forward(x), this.kProj.forward(x), this.vProj.forward(x), { heads: this.heads, mask, sliceSize: this.attentionSlice });
      return this.outProj.forward(out);
    });
  }
}

/** fc1 → activation → fc2. */
export class ClipMlp extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  private readonly act: <T extends tf.Tensor>(x: T) => T;

  constructor(dim: number, hidden: number, act: string) {
    super();
    this.act = activation(act);
    this.fc1 = this.addModule('fc1', new Linear(dim, hidden));
    this.fc2 = this.addModule('fc2', new Linear(hidden, dim));
  }

  forward(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => this.fc2.forward(this.act(this.fc1.forward(x))));
  }
}

/** Pre-LayerNorm transformer block: x + attn(ln1(x)), then h + mlp(ln2(h)). */
export class ClipEncoderLayer extends Module {
  readonly selfAttn: ClipAttention;
  readonly layerNorm1: LayerNorm;
  readonly mlp: ClipMlp;
  readonly layerNorm2: LayerNorm;

  constructor(cfg: ClipTextConfig) {
    super();
    this.selfAttn = this.addModule('self_attn', new ClipAttention(cfg.hiddenSize, cfg.numAttentionHeads));
    this.layerNorm1 = this.addModule('layer_norm1', new LayerNorm(cfg.hiddenSize, cfg.layerNormEps));
    this.mlp = this.addModule('mlp', new ClipMlp(cfg.hiddenSize, cfg.intermediateSize, cfg.hiddenAct));
    this.layerNorm2 = this.addModule('layer_norm2', new LayerNorm(cfg.hiddenSize, cfg.layerNormEps));
  }

  forward(x: tf.Tensor3D, mask: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      const h = tf.add(x, this.selfAttn.forward(this.layerNorm1.forward(x), mask)) as tf.Tensor3D;
      return tf.add(h, this.mlp.forward(this.layerNorm2.forward(h))) as tf.Tensor3D;
    });
  }
}
