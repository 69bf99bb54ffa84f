/**
 * DPMSolverMultistepScheduler: DPM-Solver++ (data prediction, default) or DPM-Solver (noise
 * prediction), order 1 or 2 (midpoint or heun), with `lower_order_final` / `euler_at_final`.
 * Scalars follow diffusers' float32 tensor arithmetic; log/exp are correctly rounded here, where
 * PyTorch's vectorised versions may differ by an ulp.
 */
import * as tf from '@tensorflow/tfjs-core';
import { f32, sqrt32 } from '../../util/scalar-float32.js';
import { BaseScheduler, StepIndex } from './common.js';
import { SchedulerConfigReader, type Json, type PredictionType, type TimestepSpacing } from './config.js';
import { TensorHistory } from './history.js';
import { interpOnIndexGrid, trainSigmas } from './sigmas.js';
import { checkStepCount, npLinspace, roundHalfEven, spacedTimesteps } from './timesteps.js';

export type DpmAlgorithm = 'dpmsolver++' | 'dpmsolver';
export type DpmSolverType = 'midpoint' | 'heun';

const log32 = (x: number) => f32(Math.log(x));
const exp32 = (x: number) => f32(Math.exp(x));

/** α_t = 1/sqrt(σ²+1), σ_t = σ·α_t and λ = log α_t − log σ_t for a k-diffusion σ (float32). */
function alphaSigmaLambda(sigma: number): { alpha: number; sigma: number; lambda: number } {
  const alpha = f32(1 / sqrt32(f32(f32(sigma * sigma) + 1)));
  const s = f32(sigma * alpha);
  return { alpha, sigma: s, lambda: f32(log32(alpha) - log32(s)) };
}

export class DPMSolverMultistepScheduler extends BaseScheduler {
  readonly name = 'dpmpp' as const;
  readonly solverOrder: number;
  readonly algorithm: DpmAlgorithm;
  readonly solverType: DpmSolverType;
  readonly predictionType: PredictionType;
  readonly lowerOrderFinal: boolean;
  readonly eulerAtFinal: boolean;
  readonly timestepSpacing: TimestepSpacing;
  readonly stepsOffset: number;
  /** float32 σ per timestep of the run, plus σ of training step 0 (diffusers `sigmas`). */
  sigmas: Float32Array = new Float32Array(0);
  private readonly modelOutputs: TensorHistory;
  private lowerOrderNums = 0;
  private readonly stepIndex = new StepIndex('DPMSolverMultistepScheduler');

  /** @param config a diffusers scheduler config (DPMSolverMultistepScheduler defaults for absent fields). */
  constructor(config: Json) {
    const r = new SchedulerConfigReader(config, 'DPMSolverMultistepScheduler config');
    super(r, 'DPMSolverMultistepScheduler', true); // zero SNR: ᾱ_{T−1} = 2⁻²⁴, as diffusers ≥ 0.27
    this.solverOrder = r.int('solver_order', 2, 1);
    if (this.solverOrder > 2) r.fail('solver_order', `= ${this.solverOrder} is not supported (supported: 1, 2)`);
    // diffusers maps the deprecated "deis" to dpmsolver++ and logrho/bh1/bh2 to midpoint.
    const algo = r.oneOf('algorithm_type', 'dpmsolver++', ['dpmsolver++', 'dpmsolver', 'deis']);
    this.algorithm = algo === 'deis' ? 'dpmsolver++' : algo;
    const solver = r.oneOf('solver_type', 'midpoint', ['midpoint', 'heun', 'logrho', 'bh1', 'bh2']);
    this.solverType = solver === 'heun' ? 'heun' : 'midpoint';
    this.predictionType = r.prediction();
    this.lowerOrderFinal = r.bool('lower_order_final', true);
    this.eulerAtFinal = r.bool('euler_at_final', false);
    this.timestepSpacing = r.spacing('linspace');
    this.stepsOffset = r.int('steps_offset', 0);
    r.only('thresholding', false);
    r.only('use_karras_sigmas', false);
    r.only('use_lu_lambdas', false);
    const variance = config.variance_type;
    if (variance !== undefined && variance !== null) r.fail('variance_type', `= ${JSON.stringify(variance)} (learned variance) is not supported; only null`);
    const clip = config.lambda_min_clipped;
    if (clip !== undefined && clip !== null && clip !== -Infinity) r.fail('lambda_min_clipped', `= ${JSON.stringify(clip)} is not supported; only -inf/null`);
    this.modelOutputs = new TensorHistory(this.solverOrder);
    r.done();
  }

  setTimesteps(n: number): void {
    checkStepCount(this.where, n, this.numTrainTimesteps);
    const last = this.numTrainTimesteps; // lambda_min_clipped = -inf clips nothing
    let ts: number[];
    if (this.timestepSpacing === 'linspace') {
      ts = npLinspace(0, last - 1, n + 1).map(roundHalfEven).reverse().slice(0, -1);
    } else if (this.timestepSpacing === 'leading') {
      const ratio = Math.floor(last / (n + 1));
      ts = Array.from({ length: n }, (_, i) => (n - i) * ratio + this.stepsOffset);
    } else {
      ts = spacedTimesteps('trailing', last, n, 0, true);
    }
    const train = trainSigmas(this.alphasCumprod);
    const sig = new Float32Array(ts.length + 1);
    ts.forEach((t, i) => (sig[i] = interpOnIndexGrid(t, train)));
    const a0 = this.alphasCumprod[0];
    sig[ts.length] = sqrt32(f32(f32(1 - a0) / a0));
    this.sigmas = sig;
    this.setCurrentTimesteps(ts);
    this.reset();
  }

  override reset(): void {
    this.modelOutputs.clear();
    this.lowerOrderNums = 0;
    this.stepIndex.reset();
  }

  step(modelOutput: tf.Tensor, t: number, sample: tf.Tensor): tf.Tensor {
    const n = this.requireTimesteps();
    const i = this.stepIndex.resolve(this.timesteps, t, 'last');
    const short = this.lowerOrderFinal && n < 15;
    const finalFirstOrder = i === n - 1 && (this.eulerAtFinal || short);
    const out = tf.tidy(() => {
      this.modelOutputs.push(this.convertModelOutput(modelOutput, sample, i));
      if (this.solverOrder === 1 || this.lowerOrderNums < 1 || finalFirstOrder) return this.firstOrder(sample, i);
      return this.secondOrder(sample, i);
    });
    if (this.lowerOrderNums < this.solverOrder) this.lowerOrderNums++;
    this.stepIndex.advance();
    return out;
  }

  /** x̂₀ (dpmsolver++) or ε̂ (dpmsolver) from the raw model output. */
  private convertModelOutput(modelOutput: tf.Tensor, sample: tf.Tensor, i: number): tf.Tensor {
    const { alpha, sigma } = alphaSigmaLambda(this.sigmas[i]);
    const p = this.predictionType;
    if (this.algorithm === 'dpmsolver++') {
      if (p === 'epsilon') return tf.div(tf.sub(sample, tf.mul(sigma, modelOutput)), alpha);
      if (p === 'sample') return modelOutput;
      return tf.sub(tf.mul(alpha, sample), tf.mul(sigma, modelOutput));
    }
    if (p === 'epsilon') return modelOutput;
    if (p === 'sample') return tf.div(tf.sub(sample, tf.mul(alpha, modelOutput)), sigma);
    return tf.add(tf.mul(alpha, modelOutput), tf.mul(sigma, sample));
  }

  private firstOrder(sample: tf.Tensor, i: number): tf.Tensor {
    const t = alphaSigmaLambda(this.sigmas[i + 1]);
    const s = alphaSigmaLambda(this.sigmas[i]);
    const h = f32(t.lambda - s.lambda);
    const m = this.modelOutputs.fromEnd(0);
    if (this.algorithm === 'dpmsolver++') {
      return tf.sub(tf.mul(f32(t.sigma / s.sigma), sample), tf.mul(f32(t.alpha * f32(exp32(-h) - 1)), m));
    }
    return tf.sub(tf.mul(f32(t.alpha / s.alpha), sample), tf.mul(f32(t.sigma * f32(exp32(h) - 1)), m));
  }

  private secondOrder(sample: tf.Tensor, i: number): tf.Tensor {
    const t = alphaSigmaLambda(this.sigmas[i + 1]);
    const s0 = alphaSigmaLambda(this.sigmas[i]);
    const s1 = alphaSigmaLambda(this.sigmas[i - 1]);
    const m0 = this.modelOutputs.fromEnd(0);
    const m1 = this.modelOutputs.fromEnd(1);
    const h = f32(t.lambda - s0.lambda);
    const h0 = f32(s0.lambda - s1.lambda);
    const r0 = f32(h0 / h);
    const d1 = tf.mul(f32(1 / r0), tf.sub(m0, m1));
    if (this.algorithm === 'dpmsolver++') {
      const c = f32(t.alpha * f32(exp32(-h) - 1));
      const base = tf.sub(tf.mul(f32(t.sigma / s0.sigma), sample), tf.mul(c, m0));
      if (this.solverType === 'midpoint') return tf.sub(base, tf.mul(f32(0.5 * c), d1));
      return tf.add(base, tf.mul(f32(t.alpha * f32(f32(f32(exp32(-h) - 1) / h) + 1)), d1));
    }
    const c = f32(t.sigma * f32(exp32(h) - 1));
    const base = tf.sub(tf.mul(f32(t.alpha / s0.alpha), sample), tf.mul(c, m0));
    if (this.solverType === 'midpoint') return tf.sub(base, tf.mul(f32(0.5 * c), d1));
    return tf.sub(base, tf.mul(f32(t.sigma * f32(f32(f32(exp32(h) - 1) / h) - 1)), d1));
  }
}
