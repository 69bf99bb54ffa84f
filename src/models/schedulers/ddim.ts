/**
 * DDIMScheduler (deterministic, eta = 0) with diffusers' options: set_alpha_to_one, steps_offset,
 * timestep_spacing, clip_sample, prediction_type. Also `invertStep`, the DDIM inversion step of
 * Prompt-to-Prompt's null-text notebook (`next_step`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { f32, sqrt32 } from '../../util/scalar-float32.js';
import { BaseScheduler } from './common.js';
import { SchedulerConfigReader, type Json, type PredictionType, type TimestepSpacing } from './config.js';
import { checkStepCount, spacedTimesteps } from './timesteps.js';

export class DDIMScheduler extends BaseScheduler {
  readonly name = 'ddim' as const;
  readonly timestepSpacing: TimestepSpacing;
  readonly stepsOffset: number;
  readonly predictionType: PredictionType;
  /** Clamp range of the predicted x₀, or null when clip_sample is false. */
  readonly clipRange: number | null;
  /** ᾱ used after the last step: 1 with set_alpha_to_one, else ᾱ_0. */
  readonly finalAlphaCumprod: number;

  /** @param config a diffusers scheduler config (DDIMScheduler defaults for absent fields). */
  constructor(config: Json) {
    const r = new SchedulerConfigReader(config, 'DDIMScheduler config');
    super(r, 'DDIMScheduler');
    this.timestepSpacing = r.spacing('leading');
    this.stepsOffset = r.int('steps_offset', 0);
    this.predictionType = r.prediction();
    this.clipRange = r.bool('clip_sample', true) ? r.num('clip_sample_range', 1) : null;
    r.only('thresholding', false);
    this.finalAlphaCumprod = r.bool('set_alpha_to_one', true) ? 1 : this.alphasCumprod[0];
    r.done();
  }

  setTimesteps(n: number): void {
    checkStepCount(this.where, n, this.numTrainTimesteps);
    this.setCurrentTimesteps(spacedTimesteps(this.timestepSpacing, this.numTrainTimesteps, n, this.stepsOffset, true));
  }

  private get stride(): number {
    return Math.floor(this.numTrainTimesteps / this.requireTimesteps());
  }

  /** x_t → x_{t−stride} (diffusers `step` with eta 0). */
  step(modelOutput: tf.Tensor, t: number, sample: tf.Tensor): tf.Tensor {
    const prev = t - this.stride;
    const alphaPrev = prev >= 0 ? this.alphaAt(prev) : this.finalAlphaCumprod;
    return this.update(modelOutput, sample, this.alphaAt(t), alphaPrev, this.clipRange);
  }

  /**
   * DDIM inversion x_{t−stride} → x_t, given the model output at the less noisy sample and timestep
   * `t` (the target). As the null-text notebook's `next_step`: from ᾱ at min(t − stride, T−1)
   * (or the final ᾱ below 0) to ᾱ_t, without clipping. `step(eps, t, invertStep(eps, t, x)) ≈ x`.
   * A v or x₀ prediction is converted with ᾱ of the sample's own level (t − stride), as diffusers'
   * `DDIMInverseScheduler` does.
   */
  invertStep(modelOutput: tf.Tensor, t: number, sample: tf.Tensor): tf.Tensor {
    const from = Math.min(t - this.stride, this.numTrainTimesteps - 1);
    const alphaFrom = from >= 0 ? this.alphaAt(from) : this.finalAlphaCumprod;
    return this.update(modelOutput, sample, alphaFrom, this.alphaAt(t), null);
  }

  /** The deterministic DDIM update from ᾱ = `a` to ᾱ = `aNext`, in diffusers' float32 operation order. */
  private update(modelOutput: tf.Tensor, sample: tf.Tensor, a: number, aNext: number, clip: number | null): tf.Tensor {
    const b = f32(1 - a);
    const sqrtA = sqrt32(a);
    const sqrtB = sqrt32(b);
    return tf.tidy(() => {
      let x0: tf.Tensor;
      let eps: tf.Tensor;
      switch (this.predictionType) {
        case 'epsilon':
          x0 = tf.div(tf.sub(sample, tf.mul(sqrtB, modelOutput)), sqrtA);
          eps = modelOutput;
          break;
        case 'sample':
          x0 = modelOutput;
          eps = tf.div(tf.sub(sample, tf.mul(sqrtA, x0)), sqrtB);
          break;
        case 'v_prediction':
          x0 = tf.sub(tf.mul(sqrtA, sample), tf.mul(sqrtB, modelOutput));
          eps = tf.add(tf.mul(sqrtA, modelOutput), tf.mul(sqrtB, sample));
          break;
      }
      if (clip !== null) x0 = tf.clipByValue(x0, -clip, clip);
      // eta = 0: std_dev_t = 0, direction coefficient sqrt(1 − ᾱ_next − 0)
      const direction = tf.mul(sqrt32(f32(1 - aNext)), eps);
      return tf.add(tf.mul(sqrt32(aNext), x0), direction);
    });
  }
}
