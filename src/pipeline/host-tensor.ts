/**
 * Plain host-side tensors at the API edge (no backend memory to dispose) and layout helpers.
 * Reads from the backend are awaited (`tensor.data()`), never synchronous: on WebGL and WebGPU a
 * synchronous read stalls the GPU queue, and tfjs-webgpu's is unreliable on some adapters.
 */
import * as tf from '@tensorflow/tfjs-core';

/** A float32 tensor held in JS memory, PyTorch layout (latents are NCHW). */
export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

/** A host copy of `t` (float32), read asynchronously; `t` is not disposed. */
export async function readHost(t: tf.Tensor): Promise<HostTensor> {
  return { shape: [...t.shape], data: (await t.data()) as Float32Array };
}

/** NCHW host tensor → NHWC backend tensor. */
export function nchwToNhwc(x: HostTensor | tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const t = x instanceof tf.Tensor ? x : tf.tensor4d(x.data, x.shape as [number, number, number, number]);
    return tf.transpose(t, [0, 2, 3, 1]);
  });
}

/** NHWC backend tensor → NCHW host tensor (read asynchronously; `x` is not disposed). */
export async function nhwcToNchwHost(x: tf.Tensor4D): Promise<HostTensor> {
  const t = tf.transpose(x, [0, 3, 1, 2]);
  try {
    return await readHost(t);
  } finally {
    t.dispose();
  }
}
