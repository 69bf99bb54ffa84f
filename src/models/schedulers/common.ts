/**
 * The scheduler interface the pipeline drives, and the state every scheduler shares: the float32
 * training schedule (betas, ᾱ) built from the config's beta fields, the current timesteps and the
 * step-index bookkeeping of the index-based (k-diffusion style) schedulers.
 */
import * as tf from '@tensorflow/tfjs-core';
import { alphasCumprod, makeBetas } from './betas.js';
import type { JsonObject } from '../../io/config.js';
import type { SchedulerConfigReader } from './config.js';

export type SchedulerName = 'ddim' | 'pndm' | 'euler' | 'lms' | 'dpmpp';

/**
 * A noise scheduler. Typical loop: `setTimesteps(n)`; x = noise·initNoiseSigma; for each t of
 * `timesteps`: eps = unet(scaleModelInput(x, t), t); x = step(eps, t, x). Tensors may have any
 * layout (all maths is elementwise); returned tensors are new and owned by the caller, inputs are
 * never disposed. Multistep history is kept internally until `reset()`/`dispose()`/`setTimesteps()`.
 */
export interface Scheduler {
  /** Short name ('ddim', 'pndm', 'euler', 'lms', 'dpmpp'). */
  readonly name: SchedulerName;
  /** Model evaluations per entry of `timesteps` (diffusers' `order`; 1 for all schedulers here). */
  readonly order: number;
  /** The timesteps of the current run, in the order they are used (frozen). */
  readonly timesteps: number[];
  /** Standard deviation of the initial noise (multiply unit noise by it). */
  readonly initNoiseSigma: number;
  /** Chooses `n` inference steps and starts a fresh run. */
  setTimesteps(n: number): void;
  /** The UNet input for timestep `t` (k-diffusion schedulers divide by sqrt(σ²+1)); always a new tensor. */
  scaleModelInput(x: tf.Tensor, t: number): tf.Tensor;
  /** One denoising step: the sample at the previous (less noisy) timestep. */
  step(modelOutput: tf.Tensor, t: number, sample: tf.Tensor): tf.Tensor;
  /** Forgets the multistep state (history tensors are disposed); timesteps are kept. */
  reset(): void;
  /** Releases every tensor the scheduler holds (same as `reset()`; the scheduler stays usable). */
  dispose(): void;
}

/** ᾱ_{T−1} of the σ-based schedulers under zero terminal SNR: float16's smallest subnormal, as diffusers. */
export const TERMINAL_ALPHA_FOR_SIGMAS = 2 ** -24;

/** Freezes `a` in place (mutation throws) while keeping its `number[]` type. */
function frozen(a: number[]): number[] {
  Object.freeze(a);
  return a;
}

/** Training schedule and timesteps shared by the scheduler classes. */
export abstract class BaseScheduler implements Scheduler {
  abstract readonly name: SchedulerName;
  readonly order: number = 1;
  readonly numTrainTimesteps: number;
  /** float32 β_t, t = 0..T−1. */
  readonly betas: Float32Array;
  /** float32 ᾱ_t = ∏(1 − β), t = 0..T−1 (bit-identical to diffusers' `alphas_cumprod`). */
  readonly alphasCumprod: Float32Array;
  /** Name used in error messages, e.g. "DDIMScheduler". */
  protected readonly where: string;
  protected numInferenceSteps: number | null = null;
  private current: number[] = frozen([]);

  /** Builds this scheduler type from a diffusers scheduler config (`createScheduler` picks the type by `_class_name`). */
  static fromConfig<T extends BaseScheduler>(this: new (config: JsonObject) => T, config: JsonObject): T {
    return new this(config);
  }

  /** Whether the betas were rescaled to zero terminal SNR (`rescale_betas_zero_snr`). */
  readonly rescaleBetasZeroSnr: boolean;

  /**
   * `finiteSigma`: the class works with k-diffusion noise levels σ = √((1−ᾱ)/ᾱ) (Euler, LMS, DPM),
   * so with zero terminal SNR its last ᾱ becomes 2⁻²⁴ instead of 0 (σ_max ≈ 4096 instead of ∞), as
   * diffusers' Euler (0.25) and DPM-Solver (≥ 0.27) do. DDIM and PNDM keep ᾱ = 0.
   */
  protected constructor(config: SchedulerConfigReader, className: string, finiteSigma = false) {
    this.where = className;
    const beta = config.betas();
    this.rescaleBetasZeroSnr = beta.rescaleBetasZeroSnr ?? false;
    this.numTrainTimesteps = beta.numTrainTimesteps;
    this.betas = makeBetas(beta);
    this.alphasCumprod = alphasCumprod(this.betas);
    if (this.rescaleBetasZeroSnr && finiteSigma) this.alphasCumprod[this.alphasCumprod.length - 1] = TERMINAL_ALPHA_FOR_SIGMAS;
  }

  get timesteps(): number[] {
    return this.current;
  }

  get initNoiseSigma(): number {
    return 1;
  }

  protected setCurrentTimesteps(ts: number[], numInferenceSteps = ts.length): void {
    this.current = frozen([...ts]);
    this.numInferenceSteps = numInferenceSteps;
  }

  abstract setTimesteps(n: number): void;
  abstract step(modelOutput: tf.Tensor, t: number, sample: tf.Tensor): tf.Tensor;

  scaleModelInput(x: tf.Tensor, _t: number): tf.Tensor {
    return tf.clone(x);
  }

  reset(): void {}

  dispose(): void {
    this.reset();
  }

  protected requireTimesteps(): number {
    if (this.numInferenceSteps === null) throw new Error(`${this.where}: call setTimesteps(n) before step()`);
    return this.numInferenceSteps;
  }

  /** ᾱ at an integer training timestep (throws naming the timestep when out of range). */
  protected alphaAt(t: number): number {
    if (!Number.isInteger(t) || t < 0 || t >= this.numTrainTimesteps) {
      throw new Error(`${this.where}: timestep ${t} is not an integer in [0, ${this.numTrainTimesteps - 1}]`);
    }
    return this.alphasCumprod[t];
  }
}

/**
 * Step-index bookkeeping of diffusers' Euler/LMS/DPM schedulers: the first call locates `t` in the
 * timesteps (its second occurrence if repeated), later calls advance one entry per step and must
 * be given the matching timestep.
 */
export class StepIndex {
  private index: number | null = null;

  constructor(private readonly where: string) {}

  /** Index for timestep `t` (locating it on first use). `missing`: what to do when `t` is absent. */
  resolve(timesteps: readonly number[], t: number, missing: 'error' | 'last' = 'error'): number {
    if (timesteps.length === 0) throw new Error(`${this.where}: call setTimesteps(n) before using the scheduler`);
    if (this.index === null) {
      const hits = timesteps.flatMap((v, i) => (v === t ? [i] : []));
      if (hits.length === 0) {
        if (missing === 'last') this.index = timesteps.length - 1;
        else throw new Error(`${this.where}: timestep ${t} is not one of the scheduler's timesteps`);
      } else {
        this.index = hits.length > 1 ? hits[1] : hits[0];
      }
    } else if (this.index >= timesteps.length) {
      throw new Error(`${this.where}: all ${timesteps.length} steps are done; call reset() or setTimesteps() for a new run`);
    } else if (timesteps[this.index] !== t && missing === 'error') {
      throw new Error(`${this.where}: got timestep ${t} at step ${this.index}, expected ${timesteps[this.index]} (timesteps must be used in order; reset() starts a new run)`);
    }
    return this.index;
  }

  advance(): void {
    if (this.index !== null) this.index++;
  }

  reset(): void {
    this.index = null;
  }
}
