/** Plain host-side tensors at the API edge (no backend memory to dispose) and layout helpers. */
import * as tf from '@tensorflow/tfjs-core';

/** A float32 tensor held in JS memory, PyTorch layout (latents are NCHW). */
export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

/** A decoded RGB image, rows top to bottom, float values in [0, 1]. */
export interface FloatImage {
  width: number;
  height: number;
  /** HWC, 3 channels. */
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

/** Image in [0,1] → 8-bit RGB. 'round' as diffusers' numpy_to_pil, 'floor' as prompt-to-prompt's astype(uint8). */
export function imageToUint8(img: FloatImage, mode: 'round' | 'floor' = 'round'): Uint8Array {
  const out = new Uint8Array(img.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = Math.min(1, Math.max(0, img.data[i])) * 255;
    out[i] = mode === 'round' ? Math.round(v) : Math.floor(v);
  }
  return out;
}
