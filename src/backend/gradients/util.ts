/** Helpers shared by the gradient definitions. */
import * as tf from '@tensorflow/tfjs-core';

/** A kernel's gradient: `gradFunc` returns, per input name (or index), a thunk giving its gradient. */
export type GradConfig = tf.GradConfig;

/** Sums `dy` over the axes that broadcasting added or stretched, back to `shape`. */
export function sumToShape(dy: tf.Tensor, shape: readonly number[]): tf.Tensor {
  if (dy.shape.length === shape.length && dy.shape.every((d, i) => d === shape[i])) return dy;
  const axes = tf.backend_util.getReductionAxes(shape as number[], dy.shape);
  const summed = axes.length ? tf.sum(dy, axes) : dy;
  return tf.reshape(summed, shape as number[]);
}

/** `dy` of a reduction (kept dims restored) broadcast back to `shape`. */
export function expandReduced(dy: tf.Tensor, shape: readonly number[], axis: number | number[]): tf.Tensor {
  const axes = tf.util.parseAxisParam(axis, shape as number[]);
  const kept = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  // A broadcasting multiply: tfjs-wasm's Tile (broadcastTo) is ~14× slower.
  return tf.mul(tf.reshape(dy, kept), tf.ones(shape as number[]));
}

/** The size of the reduced part of `shape` over `axis`. */
export function reducedSize(shape: readonly number[], axis: number | number[]): number {
  return tf.util.parseAxisParam(axis, shape as number[]).reduce((n, a) => n * shape[a], 1);
}
