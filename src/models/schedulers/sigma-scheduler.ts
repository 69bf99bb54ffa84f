/**
 * Shared part of the k-diffusion style schedulers (EulerDiscrete, LMSDiscrete): float32 timesteps
 * and σ interpolated between training timesteps (σ_last = 0), the input scaling x/sqrt(σ²+1), the
 * initial noise σ and the conversion of the model output to a predicted x₀. With zero terminal SNR
 * the last ᾱ is 2⁻²⁴ (σ_max ≈ 4096), as diffusers' Euler; LMS (no zero SNR in diffusers) does the same.
 */
import * as tf from '@tensorflow/tfjs-core';
import { f32, sqrt32 } from '../../util/scalar-float32.js';
import { BaseScheduler, StepIndex } from './common.js';
import type { SchedulerConfigReader, PredictionType, TimestepSpacing } from './config.js';
import { interpOnIndexGrid, trainSigmas } from './sigmas.js';
import { checkStepCount, spacedTimesteps } from './timesteps.js';

export abstract class SigmaScheduler extends BaseScheduler {
  readonly timestepSpacing: TimestepSpacing;
  readonly stepsOffset: number;
  readonly predictionType: PredictionType;
  /** float32 σ per timestep of the run, plus a final 0 (diffusers `sigmas`). */
  sigmas: Float32Array = new Float32Array(0);
  protected readonly stepIndex: StepIndex;

  protected constructor(r: SchedulerConfigReader, className: string) {
    super(r, className, true);
    this.stepIndex = new StepIndex(className);
    this.timestepSpacing = r.spacing('linspace');
    this.stepsOffset = r.int('steps_offset', 0);
    this.predictionType = r.prediction();
    r.only('use_karras_sigmas', false);
  }

  setTimesteps(n: number): void {
    checkStepCount(this.where, n, this.numTrainTimesteps);
    const ts = spacedTimesteps(this.timestepSpacing, this.numTrainTimesteps, n, this.stepsOffset, false).map(f32);
    const train = trainSigmas(this.alphasCumprod);
    const sig = new Float32Array(ts.length + 1);
    ts.forEach((t, i) => (sig[i] = interpOnIndexGrid(t, train)));
    this.sigmas = sig;
    this.setCurrentTimesteps(ts);
    this.reset();
  }

  override get initNoiseSigma(): number {
    const max = this.sigmas.reduce((m, s) => Math.max(m, s), 0);
    return this.timestepSpacing === 'leading' ? sqrt32(f32(f32(max * max) + 1)) : max;
  }

  override scaleModelInput(x: tf.Tensor, t: number): tf.Tensor {
    const s = this.sigmas[this.stepIndex.resolve(this.timesteps, t)];
    const scale = sqrt32(f32(f32(s * s) + 1));
    return tf.tidy(() => tf.div(x, scale));
  }

  override reset(): void {
    this.stepIndex.reset();
  }

  /** Predicted x₀ from the model output at noise level σ (call inside tf.tidy). */
  protected predictX0(modelOutput: tf.Tensor, sample: tf.Tensor, sigma: number): tf.Tensor {
    switch (this.predictionType) {
      case 'epsilon':
        return tf.sub(sample, tf.mul(sigma, modelOutput));
      case 'sample':
        return modelOutput;
      case 'v_prediction': {
        const s2p1 = f32(f32(sigma * sigma) + 1);
        return tf.add(tf.mul(modelOutput, f32(-sigma / sqrt32(s2p1))), tf.div(sample, s2p1));
      }
    }
  }
}
