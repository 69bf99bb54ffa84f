/**
 * Optional fused kernels for normalisation and GELU: when the active backend registers one
 * (the native backend does), the op runs it in one pass; otherwise, and while gradients are
 * being recorded (these kernels have no gradient functions), the callers use their other paths
 * (group norm: the JS kernels with a backward of src/backend/group-norm-kernel.ts on wasm/cpu).
 */
import * as tf from '@tensorflow/tfjs-core';

export const GROUP_NORM = 'PtpNativeGroupNorm';
export const LAYER_NORM = 'PtpNativeLayerNorm';
export const GELU = 'PtpNativeGelu';

/** Whether tfjs is recording operations for gradients right now (inside tf.grad and friends). */
export function recordingGradients(): boolean {
  return (tf.engine() as unknown as { isTapeOn(): boolean }).isTapeOn();
}

function usable(kernel: string, ...xs: (tf.Tensor | undefined)[]): boolean {
  if (!tf.getKernel(kernel, tf.getBackend())) return false;
  if (recordingGradients()) return false;
  return xs.every((x) => !x || x.dtype === 'float32');
}

/**
 * GroupNorm over NHWC `x` [B, …, C] in `groups` groups (then SiLU when `silu`), or undefined
 * when no fused kernel applies.
 */
export function fusedGroupNorm<T extends tf.Tensor>(x: T, groups: number, eps: number, gamma?: tf.Tensor, beta?: tf.Tensor, silu = false): T | undefined {
  if (!usable(GROUP_NORM, x, gamma, beta)) return undefined;
  const inputs = { x, ...(gamma ? { gamma } : {}), ...(beta ? { beta } : {}) } as unknown as tf.NamedTensorMap;
  return tf.engine().runKernel(GROUP_NORM, inputs, { groups, eps, silu } as unknown as tf.NamedAttrMap) as T;
}

/** LayerNorm over the last axis, or undefined when no fused kernel applies. */
export function fusedLayerNorm<T extends tf.Tensor>(x: T, gamma: tf.Tensor, beta: tf.Tensor, eps: number): T | undefined {
  if (!usable(LAYER_NORM, x, gamma, beta)) return undefined;
  return tf.engine().runKernel(LAYER_NORM, { x, gamma, beta } as unknown as tf.NamedTensorMap, { eps } as unknown as tf.NamedAttrMap) as T;
}

/** Exact GELU, or undefined when no fused kernel applies. */
export function fusedGelu<T extends tf.Tensor>(x: T): T | undefined {
  if (!usable(GELU, x)) return undefined;
  return tf.engine().runKernel(GELU, { x } as unknown as tf.NamedTensorMap) as T;
}
