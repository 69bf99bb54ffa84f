/** CLIP's input embeddings: token embedding + learned absolute position embedding. */
import * as tf from '@tensorflow/tfjs-core';
import { Module } from '../../nn/module.js';
import type { Param } from '../../nn/param.js';

/** torch.nn.Embedding: a lookup table `weight` [num, dim]. */
export class Embedding extends Module {
  readonly weight: Param;

  constructor(readonly num: number, readonly dim: number) {
    super();
    this.weight = this.addParam('weight', [num, dim]);
  }

  /** ids (int32, any shape) → [...ids.shape, dim]. */
  forward(ids: tf.Tensor): tf.Tensor {
    return tf.tidy(() => tf.gather(this.weight.tensor(), ids));
  }
}

/** `CLIPTextEmbeddings`: token_embedding(ids) + position_embedding(0..T−1). */
export class ClipTextEmbeddings extends Module {
  readonly tokenEmbedding: Embedding;
  readonly positionEmbedding: Embedding;

  constructor(vocabSize: number, maxPositions: number, dim: number) {
    super();
    this.tokenEmbedding = this.addModule('token_embedding', new Embedding(vocabSize, dim));
    this.positionEmbedding = this.addModule('position_embedding', new Embedding(maxPositions, dim));
  }

  /** ids int32 [B, T] → [B, T, D]. */
  forward(ids: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      const [, t] = ids.shape;
      const pos = tf.slice(this.positionEmbedding.weight.tensor(), [0, 0], [t, this.positionEmbedding.dim]);
      return tf.add(this.tokenEmbedding.forward(ids), pos) as tf.Tensor3D;
    });
  }
}
