import * as tf from '@tensorflow/tfjs-core';
import { Module } from './module.js';
import type { Param } from './param.js';

/** torch.nn.Linear: y = x·Wᵀ + b over the last axis (weights stored as [in, out]). */
export class Linear extends Module {
  readonly weight: Param;
  readonly bias?: Param;

  constructor(readonly inFeatures: number, readonly outFeatures: number, bias = true) {
    super();
    this.weight = this.addParam('weight', [outFeatures, inFeatures], 'linear');
    if (bias) this.bias = this.addParam('bias', [outFeatures]);
  }

  /** x [..., in] → [..., out]. */
  forward<T extends tf.Tensor>(x: T): T {
    return tf.tidy(() => {
      const lead = x.shape.slice(0, -1);
      const x2 = tf.reshape(x, [-1, this.inFeatures]) as tf.Tensor2D;
      const y = tf.fused.matMul({ a: x2, b: this.weight.tensor() as tf.Tensor2D, bias: this.bias?.tensor() });
      return tf.reshape(y, [...lead, this.outFeatures]) as T;
    });
  }
}
