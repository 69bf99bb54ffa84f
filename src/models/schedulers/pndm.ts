/**
 * PNDMScheduler in its Stable Diffusion form (skip_prk_steps: PLMS only). The run has n+1 model
 * calls: the second one re-evaluates the first interval (a Heun-like correction, hence the repeated
 * timestep), then linear multistep formulas of growing order over the kept model outputs ("ets").
 * With zero terminal SNR (v_prediction), steps from t = T−1 (ᾱ = 0) use the DDIM form of the update.
 */
import * as tf from '@tensorflow/tfjs-core';
import { f32, sqrt32 } from '../../util/scalar-float32.js';
import { BaseScheduler } from './common.js';
import { SchedulerConfigReader, type Json, type PredictionType, type TimestepSpacing } from './config.js';
import { TensorHistory } from './history.js';
import { checkStepCount, spacedTimesteps } from './timesteps.js';

export class PNDMScheduler extends BaseScheduler {
  readonly name = 'pndm' as const;
  readonly timestepSpacing: TimestepSpacing;
  readonly stepsOffset: number;
  readonly predictionType: PredictionType;
  readonly finalAlphaCumprod: number;
  /** Last four model outputs (diffusers `ets`). */
  private readonly ets = new TensorHistory(4);
  /** Sample kept from the first call for the correction call. */
  private curSample: tf.Tensor | null = null;
  private counter = 0;

  /** @param config a diffusers scheduler config (PNDMScheduler defaults; skip_prk_steps must be true). */
  constructor(config: Json) {
    const r = new SchedulerConfigReader(config, 'PNDMScheduler config');
    super(r, 'PNDMScheduler');
    if (!r.bool('skip_prk_steps', false)) {
      r.fail('skip_prk_steps', '= false (Runge–Kutta warm-up steps) is not supported; set skip_prk_steps: true as Stable Diffusion configs do');
    }
    this.timestepSpacing = r.spacing('leading');
    this.stepsOffset = r.int('steps_offset', 0);
    this.predictionType = r.prediction(['epsilon', 'v_prediction']);
    this.finalAlphaCumprod = r.bool('set_alpha_to_one', false) ? 1 : this.alphasCumprod[0];
    r.done();
  }

  setTimesteps(n: number): void {
    checkStepCount(this.where, n, this.numTrainTimesteps);
    const asc = spacedTimesteps(this.timestepSpacing, this.numTrainTimesteps, n, this.stepsOffset, true).reverse();
    // plms_timesteps = reverse(ts[:-1] ++ ts[-2:-1] ++ ts[-1:])
    this.setCurrentTimesteps([...asc.slice(0, -1), ...asc.slice(-2, -1), ...asc.slice(-1)].reverse(), n);
    this.reset();
  }

  override reset(): void {
    this.ets.clear();
    this.curSample?.dispose();
    this.curSample = null;
    this.counter = 0;
  }

  step(modelOutput: tf.Tensor, t: number, sample: tf.Tensor): tf.Tensor {
    const stride = Math.floor(this.numTrainTimesteps / this.requireTimesteps());
    let prev = t - stride;
    if (this.counter !== 1) {
      this.ets.push(modelOutput);
    } else {
      prev = t;
      t = t + stride;
    }
    const counter = this.counter;
    const out = tf.tidy(() => {
      let x = sample;
      let eps: tf.Tensor;
      const e = (k: number) => this.ets.fromEnd(k);
      const n = this.ets.length;
      if (n === 1 && counter === 0) {
        eps = modelOutput;
        this.curSample = tf.keep(tf.clone(sample));
      } else if (n === 1 && counter === 1) {
        eps = tf.div(tf.add(modelOutput, e(0)), 2);
        x = this.curSample!;
      } else if (n === 2) {
        eps = tf.div(tf.sub(tf.mul(3, e(0)), e(1)), 2);
      } else if (n === 3) {
        eps = tf.div(tf.add(tf.sub(tf.mul(23, e(0)), tf.mul(16, e(1))), tf.mul(5, e(2))), 12);
      } else {
        const sum = tf.sub(tf.add(tf.sub(tf.mul(55, e(0)), tf.mul(59, e(1))), tf.mul(37, e(2))), tf.mul(9, e(3)));
        eps = tf.mul(f32(1 / 24), sum);
      }
      return this.prevSample(x, t, prev, eps);
    });
    if (counter === 1) {
      this.curSample?.dispose();
      this.curSample = null;
    }
    this.counter++;
    return out;
  }

  /** diffusers `_get_prev_sample` (formula (9) of the PNDM paper), float32 operation order. */
  private prevSample(sample: tf.Tensor, t: number, prev: number, modelOutput: tf.Tensor): tf.Tensor {
    const a = this.alphaAt(t);
    const aPrev = prev >= 0 ? this.alphaAt(prev) : this.finalAlphaCumprod;
    const b = f32(1 - a);
    const bPrev = f32(1 - aPrev);
    if (a === 0) {
      // Zero terminal SNR (only with v_prediction: epsilon is refused), t = T−1: formula (9) divides
      // by ᾱ = 0. Its DDIM form √ᾱ'·x̂₀ + √(1−ᾱ')·ε̂ is finite there: x̂₀ = −v, ε̂ = x. (diffusers'
      // PNDM has no zero SNR; this is the choice of this library, as its DDIM does at ᾱ = 0.)
      return tf.sub(tf.mul(sqrt32(bPrev), sample), tf.mul(sqrt32(aPrev), modelOutput));
    }
    let eps = modelOutput;
    if (this.predictionType === 'v_prediction') eps = tf.add(tf.mul(sqrt32(a), modelOutput), tf.mul(sqrt32(b), sample));
    const sampleCoeff = sqrt32(f32(aPrev / a));
    const denom = f32(f32(a * sqrt32(bPrev)) + sqrt32(f32(f32(a * b) * aPrev)));
    return tf.sub(tf.mul(sampleCoeff, sample), tf.div(tf.mul(f32(aPrev - a), eps), denom));
  }
}
