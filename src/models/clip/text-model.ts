/**
 * transformers `CLIPTextModel`: embeddings, causal pre-LN transformer, final LayerNorm, and the
 * pooled output at the end-of-text token. Keys mirror the state dict (`text_model.embeddings.*`,
 * `text_model.encoder.layers.N.*`, `text_model.final_layer_norm.*`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { Module } from '../../nn/module.js';
import { LayerNorm } from '../../nn/norm.js';
import type { CheckpointAdapter } from '../../nn/load-weights.js';
import { parseClipTextConfig, type ClipTextConfig } from './config.js';
import { ClipTextEmbeddings } from './text-embeddings.js';
import { ClipEncoderLayer } from './text-layers.js';

export interface ClipTextOutput {
  /** [B, T, D] after the final LayerNorm (what the UNet's cross-attention reads). */
  lastHiddenState: tf.Tensor3D;
  /** Pooled output [B, D]: lastHiddenState at each row's end-of-text position. */
  poolerOutput: tf.Tensor2D;
  /** With `outputHiddenStates`: the embeddings, then each layer's output (before the final LayerNorm; the layers that ran). */
  hiddenStates?: tf.Tensor3D[];
}

export interface ClipTextForwardOptions {
  outputHiddenStates?: boolean;
  /**
   * Clip skip (diffusers' `clip_skip`): run only the first `numHiddenLayers − clipSkip` layers, so
   * `lastHiddenState` is the final LayerNorm of hidden_states[−(clipSkip + 1)] (and the pooled output
   * is taken from it). 0 (default) = the whole model. diffusers' clip_skip 1 is "Clip skip 2" in
   * A1111-style UIs, which count the last layer as 1.
   */
  clipSkip?: number;
}

/** transformers' causal-mask fill value: the most negative float32. */
const MASKED = -3.4028234663852886e38;

/** Additive causal mask [T, T]: 0 on and below the diagonal, MASKED above. */
function causalMask(t: number): tf.Tensor2D {
  const m = new Float32Array(t * t);
  for (let i = 0; i < t; i++) m.fill(MASKED, i * t + i + 1, (i + 1) * t);
  return tf.tensor2d(m, [t, t]);
}

/** `CLIPTextTransformer` (the `text_model` sub-tree). */
export class ClipTextTransformer extends Module {
  readonly embeddings: ClipTextEmbeddings;
  readonly layers: ClipEncoderLayer[];
  readonly finalLayerNorm: LayerNorm;

  constructor(readonly config: ClipTextConfig) {
    super();
    this.embeddings = this.addModule('embeddings', new ClipTextEmbeddings(config.vocabSize, config.maxPositionEmbeddings, config.hiddenSize));
    this.layers = this.addModules('encoder.layers', Array.from({ length: config.numHiddenLayers }, () => new ClipEncoderLayer(config)));
    this.finalLayerNorm = this.addModule('final_layer_norm', new LayerNorm(config.hiddenSize, config.layerNormEps));
  }
}

/**
 * transformers `CLIPTextModel`. Build with `ClipTextModel.fromConfig(json)`, then
 * `loadWeights(model, source)` (e.g. text_encoder/model.safetensors).
 */
export class ClipTextModel extends Module implements CheckpointAdapter {
  readonly textModel: ClipTextTransformer;

  /** Builds the module tree; weights stay unallocated until loaded. */
  constructor(readonly config: ClipTextConfig) {
    super();
    this.textModel = this.addModule('text_model', new ClipTextTransformer(config));
  }

  /** From a parsed text_encoder/config.json (errors name `source` and the field at fault). */
  static fromConfig(json: unknown, source?: string): ClipTextModel {
    return new ClipTextModel(parseClipTextConfig(json, source));
  }

  /** Checkpoints may carry the `position_ids` buffer, which the model does not use. */
  isUnusedKey(key: string): boolean {
    return key.endsWith('embeddings.position_ids');
  }

  /** Row-wise pooling positions: the first argmax(ids) (legacy configs) or the first `eosTokenId` (else 0). */
  private poolPositions(ids: number[][]): number[] {
    const eos = this.config.eosTokenId;
    return ids.map((row) => {
      if (eos !== undefined) return Math.max(0, row.indexOf(eos));
      let best = 0;
      for (let j = 1; j < row.length; j++) if (row[j] > row[best]) best = j;
      return best;
    });
  }

  private checkIds(ids: number[][]): void {
    const { vocabSize, maxPositionEmbeddings } = this.config;
    if (ids.length === 0) throw new Error('CLIPTextModel: empty batch of input ids');
    const t = ids[0].length;
    if (t === 0 || t > maxPositionEmbeddings) throw new Error(`CLIPTextModel: sequence length ${t} is not in 1..${maxPositionEmbeddings}`);
    ids.forEach((row, b) => {
      if (row.length !== t) throw new Error(`CLIPTextModel: input ids row ${b} has ${row.length} tokens, row 0 has ${t}`);
      const bad = row.findIndex((v) => !Number.isInteger(v) || v < 0 || v >= vocabSize);
      if (bad >= 0) throw new Error(`CLIPTextModel: input id ${row[bad]} at [${b}, ${bad}] is outside the vocabulary (0..${vocabSize - 1})`);
    });
  }

  /** Throws unless `n` is a valid clip skip for this model (0 ≤ n < numHiddenLayers). */
  checkClipSkip(n: number): void {
    const layers = this.config.numHiddenLayers;
    if (!Number.isInteger(n) || n < 0 || n >= layers) {
      throw new Error(`clip skip must be an integer in 0..${layers - 1} (the text encoder has ${layers} layers), got ${n}`);
    }
  }

  /** input ids [B, T] (T ≤ max_position_embeddings; usually the tokenizer's padded `inputIds`) → encoder outputs. */
  forward(inputIds: number[][] | tf.Tensor2D, opts: ClipTextForwardOptions = {}): ClipTextOutput {
    const ids = inputIds instanceof tf.Tensor ? (inputIds.arraySync() as number[][]) : inputIds;
    this.checkIds(ids);
    const skip = opts.clipSkip ?? 0;
    this.checkClipSkip(skip);
    const pool = this.poolPositions(ids);
    const tm = this.textModel;
    return tf.tidy(() => {
      const [b, t, d] = [ids.length, ids[0].length, this.config.hiddenSize];
      const mask = causalMask(t);
      let h = tm.embeddings.forward(tf.tensor2d(ids, [b, t], 'int32'));
      const hiddenStates: tf.Tensor3D[] = [h];
      for (const layer of tm.layers.slice(0, tm.layers.length - skip)) {
        h = layer.forward(h, mask);
        hiddenStates.push(h);
      }
      const last = tm.finalLayerNorm.forward(h);
      const rows = tf.tensor1d(pool.map((p, i) => i * t + p), 'int32');
      const pooled = tf.gather(tf.reshape(last, [b * t, d]), rows) as tf.Tensor2D;
      const out: ClipTextOutput = { lastHiddenState: last, poolerOutput: pooled };
      if (opts.outputHiddenStates) out.hiddenStates = hiddenStates;
      return out as unknown as tf.TensorContainer;
    }) as unknown as ClipTextOutput;
  }
}
