/**
 * The autoencoder objective (a plain KL-regularised autoencoder, no adversarial or perceptual
 * term: flat-coloured worlds need neither): L1 reconstruction of a posterior sample plus a weak
 * KL(q(z|x) ‖ N(0, 1)), both as means per element.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { AutoencoderKL } from '../models/vae/autoencoder-kl.js';

export interface VaeLoss {
  loss: tf.Scalar;
  reconstruction: tf.Scalar;
  kl: tf.Scalar;
}

/** images NHWC in [−1, 1]; `noise` samples the posterior (shape of the latents). */
export function vaeLoss(
  vae: Pick<AutoencoderKL, 'encode' | 'decode'>,
  images: tf.Tensor4D,
  noise: tf.Tensor4D,
  klWeight: number,
): VaeLoss {
  return tf.tidy(() => {
    const dist = vae.encode(images);
    const z = dist.sample(noise);
    const rec = vae.decode(z);
    const reconstruction = tf.mean(tf.abs(tf.sub(rec, images))) as tf.Scalar;
    const kl = tf.mul(
      tf.mean(tf.sub(tf.add(tf.square(dist.mean), tf.exp(dist.logvar)), tf.add(dist.logvar, 1))),
      0.5,
    ) as tf.Scalar;
    dist.dispose();
    return { loss: tf.add(reconstruction, tf.mul(kl, klWeight)) as tf.Scalar, reconstruction, kl };
  }) as unknown as VaeLoss;
}
