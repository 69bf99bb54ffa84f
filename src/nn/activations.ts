import * as tf from '@tensorflow/tfjs-core';
import { fusedActivation, fusedGelu } from '../backend/fused-ops.js';

export type ActivationName = 'silu' | 'swish' | 'gelu' | 'gelu_tanh' | 'quick_gelu' | 'relu';

export function silu<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => fusedActivation(x, 'silu') ?? (tf.mul(x, tf.sigmoid(x)) as T));
}

/**
 * x·Φ(x) as tf ops with the closed-form gradient Φ(x) + x·φ(x) (a few ops instead of autograd
 * through erf and three products).
 */
const geluOps = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
  save([x]);
  return {
    value: tf.mul(tf.mul(x, tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)), 0.5),
    gradFunc: (dy: tf.Tensor, [xs]: tf.Tensor[]) => {
      const cdf = tf.mul(tf.add(tf.erf(tf.mul(xs, Math.SQRT1_2)), 1), 0.5);
      const pdf = tf.mul(tf.exp(tf.mul(tf.square(xs), -0.5)), 1 / Math.sqrt(2 * Math.PI));
      return [tf.mul(dy, tf.add(cdf, tf.mul(xs, pdf)))];
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor) => tf.Tensor;

/** Exact GELU: x·Φ(x) = x/2·(1 + erf(x/√2)) (PyTorch default). */
export function gelu<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => fusedGelu(x) ?? (geluOps(x) as T));
}

/** GELU, tanh approximation (PyTorch approximate="tanh", HF "gelu_new"). */
export function geluTanh<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => {
    const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
    return tf.mul(tf.mul(x, tf.add(tf.tanh(inner), 1)), 0.5) as T;
  });
}

/** CLIP's quick_gelu: x·σ(1.702x). */
export function quickGelu<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => fusedActivation(x, 'quick_gelu') ?? (tf.mul(x, tf.sigmoid(tf.mul(x, 1.702))) as T));
}

/** Activation by its diffusers/transformers config name. */
export function activation(name: string): <T extends tf.Tensor>(x: T) => T {
  switch (name) {
    case 'silu':
    case 'swish':
      return silu;
    case 'gelu':
      return gelu;
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
    case 'gelu_tanh':
      return geluTanh;
    case 'quick_gelu':
      return quickGelu;
    case 'relu':
      return (x) => tf.relu(x);
    default:
      throw new Error(`unknown activation function "${name}"`);
  }
}
