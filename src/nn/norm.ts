import * as tf from '@tensorflow/tfjs-core';
import { fusedGroupNorm, fusedLayerNorm } from '../backend/fused-ops.js';
import { Module } from './module.js';
import type { Param } from './param.js';

/**
 * Mean over axes 1 and 3 of [b, n, g, c/g], kept as [b, 1, g, 1], in two levels (chunks of about
 * √n rows, then the chunk means). tfjs-wasm sums sequentially in float32, which on the VAE's
 * large groups (256² × 4 values) costs ~5e-5 relative error in the variance; two levels keep
 * it at fp32 rounding noise.
 */
function groupMean(x: tf.Tensor4D): tf.Tensor {
  const [b, n, g, cg] = x.shape;
  let rows = Math.floor(Math.sqrt(n));
  while (n % rows !== 0) rows--;
  if (rows === 1) return tf.mean(x, [1, 3], true);
  const chunks = tf.mean(tf.reshape(x, [b, rows, n / rows, g, cg]), [2, 4], true);
  return tf.reshape(tf.mean(chunks, 1, true), [b, 1, g, 1]);
}

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

  /** x [B, H, W, C] (or [B, N, C]) → same shape; `silu` applies SiLU to the result. */
  forward<T extends tf.Tensor>(x: T, silu = false): T {
    return tf.tidy(() => {
      const fused = fusedGroupNorm(x, this.numGroups, this.eps, this.weight?.tensor(), this.bias?.tensor(), silu);
      if (fused) return fused;
      const shape = x.shape;
      const b = shape[0];
      const c = shape[shape.length - 1];
      const g = this.numGroups;
      const grouped = tf.reshape(x, [b, -1, g, c / g]) as tf.Tensor4D;
      const dev = tf.sub(grouped, groupMean(grouped)) as tf.Tensor4D;
      const variance = groupMean(tf.square(dev));
      let y = tf.reshape(tf.mul(dev, tf.rsqrt(tf.add(variance, this.eps))), shape);
      if (this.weight) y = tf.add(tf.mul(y, this.weight.tensor()), this.bias!.tensor());
      return (silu ? tf.mul(y, tf.sigmoid(y)) : y) as T;
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
      const fused = fusedLayerNorm(x, this.weight.tensor(), this.bias.tensor(), this.eps);
      if (fused) return fused;
      const { mean, variance } = tf.moments(x, -1, true);
      const y = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, this.eps)));
      return tf.add(tf.mul(y, this.weight.tensor()), this.bias.tensor()) as T;
    });
  }
}
