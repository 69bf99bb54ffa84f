/**
 * Classifier-free guidance and its rescale (Lin et al. 2023 §3.4, diffusers' `guidance_rescale`):
 * with a large guidance scale on a zero-terminal-SNR model the guided prediction's spread grows past
 * the conditional one's (over-exposed images); φ mixes in the guided prediction rescaled to the
 * conditional prediction's standard deviation.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Per batch element: the unbiased standard deviation over all other axes (torch `std(dim=1..)`), shaped to broadcast. */
function rowStd(x: tf.Tensor): tf.Tensor {
  const axes = x.shape.map((_, i) => i).slice(1);
  const n = x.size / x.shape[0];
  const centred = tf.sub(x, tf.mean(x, axes, true));
  return tf.sqrt(tf.div(tf.sum(tf.square(centred), axes, true), n - 1));
}

/**
 * u + g·(c − u), then with φ > 0: φ·guided·std(c)/std(guided) + (1 − φ)·guided (diffusers 0.25
 * `rescale_noise_cfg`, std per batch element). Call inside tf.tidy.
 */
export function guide(uncond: tf.Tensor, cond: tf.Tensor, scale: number, rescale = 0): tf.Tensor {
  const guided = tf.add(uncond, tf.mul(tf.sub(cond, uncond), scale));
  if (rescale <= 0) return guided;
  const rescaled = tf.mul(guided, tf.div(rowStd(cond), rowStd(guided)));
  return tf.add(tf.mul(rescaled, rescale), tf.mul(guided, 1 - rescale));
}

/** Throws unless φ is a number in [0, 1] (`what` names the option). */
export function checkGuidanceRescale(phi: number, what = 'guidance rescale'): void {
  if (typeof phi !== 'number' || !(phi >= 0 && phi <= 1))
    throw new Error(`${what} must be a number in [0, 1], got ${phi}`);
}
