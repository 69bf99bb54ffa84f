import * as tf from '@tensorflow/tfjs-core';
import { Module } from './module.js';
import type { Param } from './param.js';
import { recordingGradients } from '../backend/fused-ops.js';

/**
 * Whether a layer with these weights should use plain ops instead of tfjs's fused conv/matmul:
 * the fused ops compute the gradients of all their inputs together, so while gradients are
 * recorded through frozen weights (e.g. null-text inversion's gradient of the text embedding)
 * the plain ops run and tfjs skips the weight gradients.
 */
export function unfusedForGradients(...weights: (Param | undefined)[]): boolean {
  return recordingGradients() && weights.every((w) => !w?.trainable);
}

/** x·w + bias (fused unless `unfusedForGradients`). */
export function dense(x: tf.Tensor2D, w: tf.Tensor2D, bias: tf.Tensor | undefined, unfused: boolean): tf.Tensor2D {
  if (!unfused) return tf.fused.matMul({ a: x, b: w, bias }) as tf.Tensor2D;
  const y = tf.matMul(x, w);
  return bias ? (tf.add(y, bias) as tf.Tensor2D) : (y as tf.Tensor2D);
}

/** torch.nn.Linear: y = x·Wᵀ + b over the last axis (weights stored as [in, out]). */
export class Linear extends Module {
  readonly weight: Param;
  readonly bias?: Param;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    bias = true,
  ) {
    super();
    this.weight = this.addParam('weight', [outFeatures, inFeatures], 'linear');
    if (bias) this.bias = this.addParam('bias', [outFeatures]);
  }

  /** x [..., in] → [..., out]. */
  forward<T extends tf.Tensor>(x: T): T {
    return tf.tidy(() => {
      const lead = x.shape.slice(0, -1);
      const x2 = tf.reshape(x, [-1, this.inFeatures]) as tf.Tensor2D;
      const y = dense(
        x2,
        this.weight.tensor() as tf.Tensor2D,
        this.bias?.tensor(),
        unfusedForGradients(this.weight, this.bias),
      );
      return tf.reshape(y, [...lead, this.outFeatures]) as T;
    });
  }
}
