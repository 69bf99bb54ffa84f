/**
 * The denoising objective of latent diffusion (DDPM):
 *   x_t = √ᾱ_t·x₀ + √(1 − ᾱ_t)·ε,   loss = mean over the batch of w_t·mean‖f(x_t, t, c) − y_t‖²
 * where the UNet f predicts y_t = ε (SD-1.x), v = √ᾱ_t·ε − √(1 − ᾱ_t)·x₀ (SD-2.x, Salimans & Ho
 * 2022) or x₀ itself, as the scheduler config's `prediction_type` says.
 *
 * Weights: min-SNR (Hang et al. 2023) written as a weight on the x₀ error, min(SNR_t + k, γ), then
 * converted to the target's error (‖ε̂ − ε‖² = SNR·‖x̂₀ − x₀‖², ‖v̂ − v‖² = (SNR + 1)·‖x̂₀ − x₀‖²):
 *  - ε: min(SNR, γ)/SNR (k = 0, Hang et al.'s rule; undefined at SNR = 0, so refused there),
 *  - v: min(SNR + 1, γ)/(SNR + 1) (k = 1: weight 1 for every SNR ≤ γ − 1, so the pure-noise step
 *    of a zero-terminal-SNR schedule keeps its full share, where min(SNR, γ)/(SNR + 1) would give it 0),
 *  - x₀: min(SNR + 1, γ) (k = 1, as for v).
 * γ = Infinity gives the plain loss of each target.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { UNet2DConditionModel } from '../models/unet/unet.js';
import type { PredictionType } from '../models/schedulers/config.js';

export type { PredictionType };

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

/** What the UNet learns to predict and how timesteps are weighted. */
export interface DiffusionObjective {
  /** ᾱ_t of the training schedule, t = 0..T−1 (zero-terminal-SNR schedules end at 0). */
  alphasCumprod: Float32Array;
  prediction: PredictionType;
  /** min-SNR γ (Infinity: unweighted). */
  minSnrGamma: number;
}

/** The part of a UNet the loss calls (a model, or a stand-in in tests). */
export type Denoiser = Pick<UNet2DConditionModel, 'forward'>;

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

/** The loss weight of each timestep for a prediction type (see the file comment). */
export function minSnrWeights(
  alphasCumprod: Float32Array,
  timesteps: readonly number[],
  gamma: number,
  prediction: PredictionType = 'epsilon',
): number[] {
  if (!(gamma > 0)) throw new Error(`min-SNR gamma must be positive, got ${gamma}`);
  return timesteps.map((t) => {
    const a = alphasCumprod[t];
    if (a === undefined) throw new Error(`min-SNR weights: timestep ${t} outside 0..${alphasCumprod.length - 1}`);
    const snr = a / (1 - a);
    if (prediction === 'epsilon') {
      if (!(snr > 0))
        throw new Error(
          `min-SNR weights: ε-prediction is undefined at timestep ${t} (SNR 0: the noise is the whole input); use v_prediction with a zero-terminal-SNR schedule`,
        );
      return Math.min(snr, gamma) / snr;
    }
    if (prediction === 'v_prediction') return Math.min(snr + 1, gamma) / (snr + 1);
    return Math.min(snr + 1, gamma);
  });
}

/** √ᾱ_t and √(1 − ᾱ_t) per item, as [B, 1, 1, 1] columns. */
function coefficients(
  alphasCumprod: Float32Array,
  timesteps: readonly number[],
): { sa: tf.Tensor4D; s1a: tf.Tensor4D } {
  const col = (v: number[]) => tf.tensor4d(v, [v.length, 1, 1, 1]);
  return {
    sa: col(timesteps.map((t) => Math.sqrt(alphasCumprod[t]))),
    s1a: col(timesteps.map((t) => Math.sqrt(1 - alphasCumprod[t]))),
  };
}

/** x_t = √ᾱ_t·x₀ + √(1 − ᾱ_t)·ε per item. */
export function addNoise(
  latents: tf.Tensor4D,
  noise: tf.Tensor4D,
  timesteps: readonly number[],
  alphasCumprod: Float32Array,
): tf.Tensor4D {
  return tf.tidy(() => {
    const { sa, s1a } = coefficients(alphasCumprod, timesteps);
    return tf.add(tf.mul(latents, sa), tf.mul(noise, s1a)) as tf.Tensor4D;
  });
}

/** What the UNet should output for (x₀, ε, t): ε, v = √ᾱ·ε − √(1 − ᾱ)·x₀, or x₀. */
export function predictionTarget(
  latents: tf.Tensor4D,
  noise: tf.Tensor4D,
  timesteps: readonly number[],
  alphasCumprod: Float32Array,
  prediction: PredictionType,
): tf.Tensor4D {
  if (prediction === 'epsilon') return tf.clone(noise);
  if (prediction === 'sample') return tf.clone(latents);
  return tf.tidy(() => {
    const { sa, s1a } = coefficients(alphasCumprod, timesteps);
    return tf.sub(tf.mul(noise, sa), tf.mul(latents, s1a)) as tf.Tensor4D;
  });
}

function checkBatch(batch: DiffusionBatch, steps: number): void {
  const { latents, noise, timesteps, context } = batch;
  const b = latents.shape[0];
  if (timesteps.length !== b || noise.shape[0] !== b || context.shape[0] !== b) {
    throw new Error(
      `diffusion loss: batch sizes differ (latents ${b}, noise ${noise.shape[0]}, context ${context.shape[0]}, timesteps ${timesteps.length})`,
    );
  }
  if (noise.shape.some((d, i) => d !== latents.shape[i]))
    throw new Error(`diffusion loss: noise [${noise.shape}] differs from latents [${latents.shape}]`);
  for (const t of timesteps) {
    if (!Number.isInteger(t) || t < 0 || t >= steps)
      throw new Error(`diffusion loss: timestep ${t} outside 0..${steps - 1}`);
  }
}

/** The weighted loss of one batch (a scalar; differentiable in the UNet and the context). */
export function diffusionLoss(unet: Denoiser, batch: DiffusionBatch, objective: DiffusionObjective): tf.Scalar {
  const { alphasCumprod, prediction, minSnrGamma } = objective;
  checkBatch(batch, alphasCumprod.length);
  const { latents, noise, timesteps, context } = batch;
  const w = minSnrWeights(alphasCumprod, timesteps, minSnrGamma, prediction);
  return tf.tidy(() => {
    const noisy = addNoise(latents, noise, timesteps, alphasCumprod);
    const target = predictionTarget(latents, noise, timesteps, alphasCumprod, prediction);
    const pred = unet.forward(noisy, timesteps, context);
    const perItem = tf.mean(tf.square(tf.sub(pred, target)), [1, 2, 3]);
    return tf.mean(tf.mul(perItem, tf.tensor1d(w))) as tf.Scalar;
  });
}
