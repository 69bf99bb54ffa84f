/**
 * Reading a diffusers `scheduler_config.json`: typed access with diffusers' defaults (`null` means
 * "use the default", as in diffusers), and clear errors for values this library does not support.
 */
import { ConfigReader, type JsonObject } from '../../io/config.js';

export type Json = JsonObject;

export type BetaSchedule = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
export type TimestepSpacing = 'leading' | 'linspace' | 'trailing';
export type PredictionType = 'epsilon' | 'v_prediction' | 'sample';

/** The noise-schedule part shared by every scheduler. */
export interface BetaConfig {
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: BetaSchedule;
  /** Explicit betas (overrides the schedule). */
  trainedBetas: number[] | null;
  /** Rescale the betas to zero terminal SNR (ᾱ_{T−1} = 0), for v-prediction models trained that way (default false). */
  rescaleBetasZeroSnr?: boolean;
}

/**
 * Every field of the diffusers scheduler configs this library knows: read by one of its schedulers,
 * or without effect here. A scheduler config is shared between scheduler types (diffusers'
 * `from_config`), so a field only another type reads is not "unknown".
 */
export const SCHEDULER_CONFIG_KEYS: readonly string[] = [
  'num_train_timesteps', 'beta_start', 'beta_end', 'beta_schedule', 'trained_betas', 'rescale_betas_zero_snr',
  'timestep_spacing', 'steps_offset', 'prediction_type', 'clip_sample', 'clip_sample_range', 'set_alpha_to_one',
  'skip_prk_steps', 'thresholding', 'dynamic_thresholding_ratio', 'sample_max_value', 'interpolation_type',
  'timestep_type', 'use_karras_sigmas', 'use_exponential_sigmas', 'use_beta_sigmas', 'use_lu_lambdas', 'solver_order',
  'algorithm_type', 'solver_type', 'lower_order_final', 'euler_at_final', 'final_sigmas_type', 'lambda_min_clipped',
  'variance_type', 'sigma_min', 'sigma_max',
];

/** The shared ConfigReader with the fields every scheduler reads (beta schedule, spacing, prediction). */
export class SchedulerConfigReader extends ConfigReader {
  /** Schedulers read integers as numbers first ("must be a finite number"), as diffusers configs hold them. */
  override int(key: string, dflt?: number, min = 0): number {
    const v = this.num(key, dflt);
    if (Number.isNaN(v)) return dflt ?? NaN;
    if (!Number.isInteger(v) || v < min) {
      this.fail(key, `must be an integer ≥ ${min}, got ${v}`);
      return dflt ?? NaN;
    }
    return v;
  }

  /** Throws on any problem; warns about fields no scheduler knows. */
  override done(): void {
    super.done(SCHEDULER_CONFIG_KEYS);
  }

  /** Whether `betas()` read `rescale_betas_zero_snr: true` (then `prediction()` refuses epsilon). */
  private zeroSnr = false;

  /**
   * The beta-schedule fields, `rescale_betas_zero_snr` included: every scheduler here accepts it
   * (diffusers 0.25 has it only in DDIM and Euler, later versions also in DPM-Solver; PNDM and LMS
   * are extended here: README "Zero terminal SNR in every scheduler").
   */
  betas(): BetaConfig {
    const trained = this.value('trained_betas');
    let trainedBetas: number[] | null = null;
    if (trained !== undefined) {
      if (!Array.isArray(trained) || trained.length === 0 || !trained.every((b) => typeof b === 'number' && b >= 0 && b < 1)) {
        this.fail('trained_betas', 'must be a non-empty list of numbers in [0, 1)');
      } else {
        trainedBetas = trained as number[];
      }
    }
    let numTrainTimesteps = this.int('num_train_timesteps', 1000, 1);
    if (trainedBetas) {
      if (this.value('num_train_timesteps') !== undefined && numTrainTimesteps !== trainedBetas.length) {
        this.fail('num_train_timesteps', `(${numTrainTimesteps}) differs from the length of trained_betas (${trainedBetas.length})`);
      }
      numTrainTimesteps = trainedBetas.length;
    }
    const rescaleBetasZeroSnr = this.bool('rescale_betas_zero_snr', false);
    this.zeroSnr = rescaleBetasZeroSnr;
    return {
      numTrainTimesteps,
      betaStart: this.num('beta_start', 0.0001),
      betaEnd: this.num('beta_end', 0.02),
      betaSchedule: this.oneOf<BetaSchedule>('beta_schedule', 'linear', ['linear', 'scaled_linear', 'squaredcos_cap_v2']),
      trainedBetas,
      rescaleBetasZeroSnr,
    };
  }

  spacing(dflt: TimestepSpacing): TimestepSpacing {
    return this.oneOf<TimestepSpacing>('timestep_spacing', dflt, ['leading', 'linspace', 'trailing']);
  }

  /**
   * `prediction_type`. With zero terminal SNR, epsilon is refused: at ᾱ = 0 the noisy sample is the
   * noise itself, so an ε-prediction says nothing about x₀ (x₀ = (x − √(1−ᾱ)·ε)/√ᾱ divides by 0;
   * Lin et al. 2023 §3.2). diffusers accepts the pair; its DDIM then divides by zero.
   */
  prediction(allowed: readonly PredictionType[] = ['epsilon', 'v_prediction', 'sample']): PredictionType {
    const p = this.oneOf<PredictionType>('prediction_type', 'epsilon', allowed);
    if (this.zeroSnr && p === 'epsilon') {
      this.fail('prediction_type', '"epsilon" cannot be used with rescale_betas_zero_snr (at zero SNR ε says nothing about x₀); use v_prediction');
    }
    return p;
  }
}
