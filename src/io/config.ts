/**
 * One reader for the JSON configs of every component (unet/vae/text_encoder config.json,
 * scheduler_config.json): typed access with defaults, every problem of a config collected and
 * reported in one error (missing required fields listed together), unknown fields warned about.
 * `null` means "use the default", as in diffusers.
 */
import { log } from '../util/log.js';

/** A parsed JSON object (config files). */
export type JsonObject = Record<string, unknown>;

const show = (v: unknown) => JSON.stringify(v);

/** Typed, validating, problem-collecting access to one config object. Call `done()` at the end. */
const warned = new Set<string>();

/** Largest integer a config field may hold (see `ConfigReader.checkInt`). */
export const MAX_CONFIG_INT = 2 ** 20;

/** Largest layer count per block or model accepted from a config (real ones have 1–32). */
export const MAX_CONFIG_LAYERS = 1000;

export class ConfigReader {
  private readonly raw: JsonObject;
  private readonly problems: string[] = [];
  private readonly missing: string[] = [];
  private readonly seen = new Set<string>();

  constructor(
    raw: unknown,
    /** Names the config in messages, e.g. "tiny-sd/unet/config.json" or "DDIMScheduler config". */
    readonly where: string,
  ) {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
      throw new Error(`${where}: not a JSON object (got ${show(raw)})`);
    this.raw = raw as JsonObject;
  }

  /** True while no problem has been found (guards checks that combine fields). */
  get ok(): boolean {
    return this.problems.length === 0 && this.missing.length === 0;
  }

  /** The value of `key` (null = absent); marks the key as known. */
  value(key: string): unknown {
    this.seen.add(key);
    const v = this.raw[key];
    return v === null ? undefined : v;
  }

  /** True when `key` is present and not null. */
  has(key: string): boolean {
    return this.value(key) !== undefined;
  }

  /** Records a problem (a phrase, e.g. `"x" must be ...`). */
  problem(msg: string): void {
    this.problems.push(msg);
  }

  /** Records a problem of one field. */
  fail(key: string, msg: string): void {
    this.problem(`"${key}" ${msg}`);
  }

  /** The value of a required field, or undefined (recorded as missing). */
  required(key: string): unknown {
    const v = this.value(key);
    if (v === undefined) this.missing.push(key);
    return v;
  }

  /** `dflt` undefined = required. */
  private get(key: string, dflt: unknown): unknown {
    return dflt === undefined ? this.required(key) : (this.value(key) ?? dflt);
  }

  /** A finite number (NaN when missing or invalid). */
  num(key: string, dflt?: number): number {
    const v = this.get(key, dflt);
    if (v === undefined) return NaN;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      this.fail(key, `must be a finite number, got ${show(v)}`);
      return dflt ?? NaN;
    }
    return v;
  }

  /** An integer in [min, max] (NaN when missing or invalid). */
  int(key: string, dflt?: number, min = 0, max = MAX_CONFIG_INT): number {
    return this.checkInt(key, this.get(key, dflt), min, dflt, max);
  }

  /**
   * `v` as an integer in [min, max], named `key` in messages (for list entries). The default
   * `max` (2^20) is far above any real size or count and keeps a hostile config from asking for
   * arrays or models that cannot be built.
   */
  checkInt(key: string, v: unknown, min = 0, dflt?: number, max = MAX_CONFIG_INT): number {
    if (v === undefined) return NaN;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
      const what = min === 1 ? 'a positive integer' : min === 0 ? 'a non-negative integer' : `an integer ≥ ${min}`;
      this.fail(key, `must be ${what}, got ${show(v)}`);
      return dflt ?? NaN;
    }
    if (v > max) {
      this.fail(key, `must be at most ${max}, got ${show(v)}`);
      return dflt ?? NaN;
    }
    return v;
  }

  bool(key: string, dflt?: boolean): boolean {
    const v = this.get(key, dflt);
    if (v === undefined) return false;
    if (typeof v !== 'boolean') {
      this.fail(key, `must be true or false, got ${show(v)}`);
      return dflt ?? false;
    }
    return v;
  }

  str(key: string, dflt?: string): string {
    const v = this.get(key, dflt);
    if (v === undefined) return '';
    if (typeof v !== 'string') {
      this.fail(key, `must be a string, got ${show(v)}`);
      return dflt ?? '';
    }
    return v;
  }

  /** A string that must be one of `allowed`. */
  oneOf<T extends string>(key: string, dflt: T | undefined, allowed: readonly T[]): T {
    const v = this.get(key, dflt);
    if (v === undefined) return allowed[0];
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
      this.fail(key, `value ${show(v)} is not supported (supported: ${allowed.join(', ')})`);
      return dflt ?? allowed[0];
    }
    return v as T;
  }

  /** Rejects a field set to anything but `supported` (null/absent count as the default). */
  only(key: string, supported: unknown, why = ''): void {
    const v = this.value(key);
    if (v !== undefined && v !== supported) {
      this.fail(key, `= ${show(v)} is not supported${why ? ` (${why})` : ''}; only ${show(supported)}`);
    }
  }

  /** A non-empty list of strings (required). */
  strList(key: string, what = 'strings'): string[] {
    const v = this.required(key);
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.length === 0 || v.some((s) => typeof s !== 'string')) {
      this.fail(key, `must be a non-empty list of ${what}, got ${show(v)}`);
      return [];
    }
    return v as string[];
  }

  /** A non-empty list of integers ≥ min (required). */
  intList(key: string, min = 0): number[] {
    const v = this.required(key);
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.length === 0) {
      this.fail(key, `must be a non-empty list of integers, got ${show(v)}`);
      return [];
    }
    return v.map((x, i) => this.checkInt(`${key}[${i}]`, x, min));
  }

  /**
   * Throws one error listing every problem (missing required fields together), else warns once
   * about fields no reader asked for: not in `alsoKnown` (fields known to have no effect here)
   * and not starting with "_" (diffusers metadata).
   */
  done(alsoKnown: Iterable<string> = []): void {
    const all = [...this.problems];
    if (this.missing.length) {
      const names = this.missing.map((k) => `"${k}"`).join(', ');
      all.unshift(`missing required field${this.missing.length === 1 ? '' : 's'} ${names}`);
    }
    if (all.length) throw new Error(`${this.where}: ${all.join('; ')}`);
    const known = new Set(alsoKnown);
    const unknown = Object.keys(this.raw).filter((k) => !this.seen.has(k) && !known.has(k) && !k.startsWith('_'));
    const note = `${this.where}: ignoring unknown field${unknown.length === 1 ? '' : 's'} ${unknown.map((k) => `"${k}"`).join(', ')}`;
    // Once per process: a config may be parsed again (the CLI checks a run before loading).
    if (unknown.length && !warned.has(note)) {
      warned.add(note);
      log.warn(note);
    }
  }
}
