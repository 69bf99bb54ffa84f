/**
 * The denoising objective of latent diffusion (DDPM, ε-prediction as SD-1.x):
 *   x_t = √ᾱ_t·x₀ + √(1 − ᾱ_t)·ε,  loss = mean over the batch of w_t·‖ε̂(x_t, t, c) − ε‖²
 * with the min-SNR weighting w_t = min(SNR_t, γ)/SNR_t (Hang et al. 2023; γ = ∞ is the plain
 * loss), which weights the many nearly noise-free timesteps down and trains faster.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { UNet2DConditionModel } from '../models/unet/unet.js';

export interface DiffusionBatch {
  /** Clean latents (already × scaling factor), NHWC [B, h, w, c]. */
  latents: tf.Tensor4D;
  /** Text embeddings [B, T, D] (T: the text context length). */
  context: tf.Tensor3D;
  /** One integer timestep per item. */
  timesteps: readonly number[];
  /** Standard-normal noise of the latents' shape. */
  noise: tf.Tensor4D;
}

/**
 * A training timestep from a uniform draw `u` in [0, 1): density ∝ (t + 1)^power over
 * 0..steps−1 (power 0: uniform). power 1 draws high noise levels more often, where the caption
 * decides what the image holds (at low noise the noisy image itself tells the model).
 */
export function sampleTimestep(u: number, power: number, steps = 1000): number {
  if (!(u >= 0 && u < 1)) throw new Error(`sampleTimestep: u must be in [0, 1), got ${u}`);
  if (!(power >= 0)) throw new Error(`sampleTimestep: power must be ≥ 0, got ${power}`);
  return Math.min(steps - 1, Math.floor(steps * u ** (1 / (power + 1))));
}

/** Per-timestep min-SNR weights for ᾱ (γ = Infinity gives 1 everywhere). */
export function minSnrWeights(alphasCumprod: Float32Array, timesteps: readonly number[], gamma: number): number[] {
  return timesteps.map((t) => {
    const a = alphasCumprod[t];
    const snr = a / (1 - a);
    return Math.min(snr, gamma) / snr;
  });
}

/** The weighted ε-prediction loss of one batch (a scalar; differentiable in the UNet and the context). */
export function diffusionLoss(unet: UNet2DConditionModel, batch: DiffusionBatch, alphasCumprod: Float32Array, minSnrGamma = 5): tf.Scalar {
  const { latents, noise, timesteps, context } = batch;
  const b = latents.shape[0];
  if (timesteps.length !== b || noise.shape[0] !== b || context.shape[0] !== b) {
    throw new Error(`diffusion loss: batch sizes differ (latents ${b}, noise ${noise.shape[0]}, context ${context.shape[0]}, timesteps ${timesteps.length})`);
  }
  for (const t of timesteps) {
    if (!Number.isInteger(t) || t < 0 || t >= alphasCumprod.length) throw new Error(`diffusion loss: timestep ${t} outside 0..${alphasCumprod.length - 1}`);
  }
  return tf.tidy(() => {
    const col = (v: number[]) => tf.tensor4d(v, [b, 1, 1, 1]);
    const sa = col(timesteps.map((t) => Math.sqrt(alphasCumprod[t])));
    const s1a = col(timesteps.map((t) => Math.sqrt(1 - alphasCumprod[t])));
    const noisy = tf.add(tf.mul(latents, sa), tf.mul(noise, s1a)) as tf.Tensor4D;
    const pred = unet.forward(noisy, timesteps, context);
    const perItem = tf.mean(tf.square(tf.sub(pred, noise)), [1, 2, 3]);
    const w = tf.tensor1d(minSnrWeights(alphasCumprod, timesteps, minSnrGamma));
    return tf.mean(tf.mul(perItem, w)) as tf.Scalar;
  });
}
