/** Images going into the VAE encoder: 8-bit or float RGB → NHWC in [−1, 1]. */
import * as tf from '@tensorflow/tfjs-core';
import type { FloatImage, RgbImage } from '../util/image.js';

/**
 * Image → [1, H, W, 3] in [−1, 1]: 8-bit values as v / 127.5 − 1 in float32 (the null-text
 * notebook's `image2latent`), float values in [0, 1] as 2v − 1.
 */
export function imageToModelInput(img: FloatImage | RgbImage): tf.Tensor4D {
  const { width, height, data } = img;
  if (data.length !== width * height * 3)
    throw new Error(`image: ${data.length} values for a ${width}×${height} RGB image`);
  return tf.tidy(() => {
    if (data instanceof Float32Array)
      return tf.sub(tf.mul(tf.tensor4d(data, [1, height, width, 3]), 2), 1) as tf.Tensor4D;
    const x = tf.tensor4d(Float32Array.from(data), [1, height, width, 3]);
    return tf.sub(tf.div(x, 127.5), 1) as tf.Tensor4D;
  });
}
