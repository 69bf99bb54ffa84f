/** Plain host-side tensors at the API edge (no backend memory to dispose) and layout helpers. */
import * as tf from '@tensorflow/tfjs-core';

/** A float32 tensor held in JS memory, PyTorch layout (latents are NCHW). */
export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

export function hostFromTensor(t: tf.Tensor): HostTensor {
  return { shape: [...t.shape], data: t.dataSync() as Float32Array };
}

/** NCHW host tensor → NHWC backend tensor. */
export function nchwToNhwc(x: HostTensor | tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const t = x instanceof tf.Tensor ? x : tf.tensor4d(x.data, x.shape as [number, number, number, number]);
    return tf.transpose(t, [0, 2, 3, 1]);
  });
}

/** NHWC backend tensor → NCHW host tensor. */
export function nhwcToNchwHost(x: tf.Tensor4D): HostTensor {
  const t = tf.transpose(x, [0, 3, 1, 2]);
  const h = hostFromTensor(t);
  t.dispose();
  return h;
}
