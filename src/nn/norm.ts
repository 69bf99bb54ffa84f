import * as tf from '@tensorflow/tfjs-core';
import { Module } from './module.js';
import type { Param } from './param.js';

/** torch.nn.GroupNorm on NHWC activations. */
export class GroupNorm extends Module {
  readonly weight?: Param;
  readonly bias?: Param;

  constructor(readonly numGroups: number, readonly numChannels: number, readonly eps = 1e-5, affine = true) {
    super();
    if (numChannels % numGroups !== 0) {
      throw new Error(`GroupNorm: ${numChannels} channels are not divisible into ${numGroups} groups`);
    }
    if (affine) {
      this.weight = this.addParam('weight', [numChannels]);
      this.bias = this.addParam('bias', [numChannels]);
    }
  }

  /** x [B, H, W, C] (or [B, N, C]) → same shape. */
  forward<T extends tf.Tensor>(x: T): T {
    return tf.tidy(() => {
      const shape = x.shape;
      const b = shape[0];
      const c = shape[shape.length - 1];
      const g = this.numGroups;
      const grouped = tf.reshape(x, [b, -1, g, c / g]);
      const { mean, variance } = tf.moments(grouped, [1, 3], true);
      let y = tf.reshape(tf.mul(tf.sub(grouped, mean), tf.rsqrt(tf.add(variance, this.eps))), shape);
      if (this.weight) y = tf.add(tf.mul(y, this.weight.tensor()), this.bias!.tensor());
      return y as T;
    });
  }
}

/** torch.nn.LayerNorm over the last axis. */
export class LayerNorm extends Module {
  readonly weight: Param;
  readonly bias: Param;

  constructor(readonly dim: number, readonly eps = 1e-5) {
    super();
    this.weight = this.addParam('weight', [dim]);
    this.bias = this.addParam('bias', [dim]);
  }

  forward<T extends tf.Tensor>(x: T): T {
    return tf.tidy(() => {
      const { mean, variance } = tf.moments(x, -1, true);
      const y = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, this.eps)));
      return tf.add(tf.mul(y, this.weight.tensor()), this.bias.tensor()) as T;
    });
  }
}
