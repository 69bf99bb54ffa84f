/**
 * Reading a diffusers `scheduler_config.json`: typed access with diffusers' defaults (`null` means
 * "use the default", as in diffusers), and clear errors for values this library does not support.
 */

export type Json = Record<string, unknown>;

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
}

/** Typed, validating access to one scheduler config. */
export class ConfigReader {
  constructor(
    private readonly raw: Json,
    /** Names the scheduler in messages, e.g. "DDIMScheduler config". */
    readonly where: string,
  ) {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${where}: expected a JSON object`);
  }

  private value(key: string): unknown {
    const v = this.raw[key];
    return v === null ? undefined : v;
  }

  fail(key: string, msg: string): never {
    throw new Error(`${this.where}: "${key}" ${msg}`);
  }

  num(key: string, dflt: number): number {
    const v = this.value(key) ?? dflt;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(key, `must be a finite number, got ${JSON.stringify(v)}`);
    return v;
  }

  int(key: string, dflt: number, min = 0): number {
    const v = this.num(key, dflt);
    if (!Number.isInteger(v) || v < min) this.fail(key, `must be an integer ≥ ${min}, got ${v}`);
    return v;
  }

  bool(key: string, dflt: boolean): boolean {
    const v = this.value(key) ?? dflt;
    if (typeof v !== 'boolean') this.fail(key, `must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  /** A string that must be one of `allowed`. */
  oneOf<T extends string>(key: string, dflt: T, allowed: readonly T[]): T {
    const v = this.value(key) ?? dflt;
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
      this.fail(key, `value ${JSON.stringify(v)} is not supported (supported: ${allowed.join(', ')})`);
    }
    return v as T;
  }

  /** Rejects a field whose value is set to anything but `supported` (null/absent count as the default). */
  only(key: string, supported: unknown, why = ''): void {
    const v = this.value(key);
    if (v !== undefined && v !== supported) {
      this.fail(key, `= ${JSON.stringify(v)} is not supported${why ? ` (${why})` : ''}; only ${JSON.stringify(supported)}`);
    }
  }

  betas(): BetaConfig {
    const trained = this.value('trained_betas');
    let trainedBetas: number[] | null = null;
    if (trained !== undefined) {
      if (!Array.isArray(trained) || trained.length === 0 || !trained.every((b) => typeof b === 'number' && b >= 0 && b < 1)) {
        this.fail('trained_betas', 'must be a non-empty list of numbers in [0, 1)');
      }
      trainedBetas = trained as number[];
    }
    let numTrainTimesteps = this.int('num_train_timesteps', 1000, 1);
    if (trainedBetas) {
      if (this.value('num_train_timesteps') !== undefined && numTrainTimesteps !== trainedBetas.length) {
        this.fail('num_train_timesteps', `(${numTrainTimesteps}) differs from the length of trained_betas (${trainedBetas.length})`);
      }
      numTrainTimesteps = trainedBetas.length;
    }
    this.only('rescale_betas_zero_snr', false);
    return {
      numTrainTimesteps,
      betaStart: this.num('beta_start', 0.0001),
      betaEnd: this.num('beta_end', 0.02),
      betaSchedule: this.oneOf<BetaSchedule>('beta_schedule', 'linear', ['linear', 'scaled_linear', 'squaredcos_cap_v2']),
      trainedBetas,
    };
  }

  spacing(dflt: TimestepSpacing): TimestepSpacing {
    return this.oneOf<TimestepSpacing>('timestep_spacing', dflt, ['leading', 'linspace', 'trailing']);
  }

  prediction(allowed: readonly PredictionType[] = ['epsilon', 'v_prediction', 'sample']): PredictionType {
    return this.oneOf<PredictionType>('prediction_type', 'epsilon', allowed);
  }
}
