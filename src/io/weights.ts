/** Weight sources (safetensors files, possibly sharded) and loading them into a Module tree. */
import type { StDtype } from './dtypes.js';
import { decodeToFloat32 } from './dtypes.js';
import type { SafetensorsFile } from './safetensors.js';
import type { Module } from '../nn/module.js';
import type { HostValues, Residency } from '../nn/param.js';

export interface WeightInfo {
  readonly dtype: StDtype;
  readonly shape: readonly number[];
}

/** A keyed collection of tensors, read one at a time. */
export interface WeightSource {
  /** File name(s), for error messages. */
  readonly name: string;
  keys(): string[];
  info(key: string): WeightInfo | undefined;
  /** float16 data as raw bits (Uint16Array) unless `float32` is set; everything else as float32. */
  read(key: string, float32?: boolean): Promise<HostValues>;
}

/** One or more safetensors files (diffusers shards) seen as one source. */
export class SafetensorsWeightSource implements WeightSource {
  private readonly owner = new Map<string, SafetensorsFile>();
  readonly name: string;

  constructor(readonly files: readonly SafetensorsFile[]) {
    this.name = files.map((f) => f.name).join(', ');
    for (const f of files) {
      for (const k of f.keys()) {
        const prev = this.owner.get(k);
        if (prev) throw new Error(`tensor "${k}" appears in both ${prev.name} and ${f.name}`);
        this.owner.set(k, f);
      }
    }
  }

  keys(): string[] {
    return [...this.owner.keys()];
  }

  info(key: string): WeightInfo | undefined {
    return this.owner.get(key)?.info(key);
  }

  async read(key: string, float32 = false): Promise<HostValues> {
    const f = this.owner.get(key);
    if (!f) throw new Error(`${this.name}: no tensor "${key}"`);
    const info = f.info(key);
    const bytes = await f.readBytes(key);
    if (info.dtype === 'F16' && !float32) return new Uint16Array(bytes.slice().buffer);
    return decodeToFloat32(bytes, info.dtype);
  }

  async close(): Promise<void> {
    for (const f of this.files) await f.close();
  }
}

export interface LoadWeightsOptions {
  /** 'resident' (default) uploads every weight now; 'stream' keeps them on the host. */
  residency?: Residency;
  /** Keep float16 files as float16 on the host (halves memory; upcast on upload). Default true. */
  keepFloat16?: boolean;
  /** Keys present in the file that the model does not use and that are not an error. */
  ignore?: (key: string) => boolean;
  /** Maps a file key to the model's key (legacy names); return undefined to keep it. */
  rename?: (key: string) => string | undefined;
}

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

/** Compares a model's weights with a source; returns the problems, one line each. */
export function diffWeights(module: Module, src: WeightSource, opts: LoadWeightsOptions = {}): string[] {
  const fileKeys = new Map<string, string>();
  for (const k of src.keys()) fileKeys.set(opts.rename?.(k) ?? k, k);
  const missing: string[] = [];
  const mismatch: string[] = [];
  const expected = new Set<string>();
  for (const [key, p] of module.namedParams()) {
    expected.add(key);
    const fk = fileKeys.get(key);
    if (fk === undefined) {
      missing.push(`  missing: ${key} ${fmt(p.torchShape)}`);
      continue;
    }
    const got = src.info(fk)!.shape;
    if (got.length !== p.torchShape.length || got.some((d, i) => d !== p.torchShape[i])) {
      mismatch.push(`  shape mismatch: ${key} expected ${fmt(p.torchShape)}, got ${fmt(got)}`);
    }
  }
  const unexpected: string[] = [];
  for (const [k, fk] of fileKeys) {
    if (!expected.has(k) && !opts.ignore?.(fk)) unexpected.push(`  unexpected: ${fk} ${fmt(src.info(fk)!.shape)}`);
  }
  return [...missing, ...unexpected, ...mismatch];
}

const COMPVIS_PREFIXES = ['model.diffusion_model.', 'first_stage_model.', 'cond_stage_model.'];

/** When no key matched at all: a likely reason (CompVis single-file keys, a key prefix), or ''. */
export function mismatchHint(module: Module, src: WeightSource, opts: LoadWeightsOptions = {}): string {
  const fileKeys = src.keys().map((k) => opts.rename?.(k) ?? k);
  const modelKeys = [...module.namedParams()].map(([k]) => k);
  const have = new Set(fileKeys);
  if (!fileKeys.length || modelKeys.some((k) => have.has(k))) return '';
  if (fileKeys.some((k) => COMPVIS_PREFIXES.some((p) => k.startsWith(p)))) {
    return 'hint: these are original CompVis single-file checkpoint names; convert the file to a diffusers folder with `ptp convert`';
  }
  for (const k of modelKeys) {
    const hit = fileKeys.find((f) => f.endsWith(`.${k}`));
    if (hit) return `hint: file keys carry the prefix "${hit.slice(0, hit.length - k.length)}" (wrong component, or wrap the source in PrefixedWeightSource)`;
  }
  return 'hint: no key matched at all; is this the weights file of another component?';
}

/**
 * Loads every weight of `module` from `src`. All missing keys, unexpected keys and shape
 * mismatches (expected vs got) are reported together in one error before anything is read.
 */
export async function loadWeights(module: Module, src: WeightSource, opts: LoadWeightsOptions = {}): Promise<void> {
  const problems = diffWeights(module, src, opts);
  if (problems.length) {
    const count = (w: string) => problems.filter((p) => p.startsWith(`  ${w}`)).length;
    const hint = mismatchHint(module, src, opts);
    throw new Error(
      `${src.name}: weights do not match the model (${count('missing')} missing, ${count('unexpected')} unexpected, ` +
        `${count('shape')} shape mismatches):\n${problems.join('\n')}${hint ? `\n${hint}` : ''}`,
    );
  }
  const byModelKey = new Map<string, string>();
  for (const k of src.keys()) byModelKey.set(opts.rename?.(k) ?? k, k);
  const keep16 = opts.keepFloat16 ?? true;
  for (const [key, p] of module.namedParams()) {
    p.setResidency(opts.residency ?? 'resident');
    p.setTorchValues(await src.read(byModelKey.get(key)!, !keep16));
  }
}

/** The tensors of `src` under `prefix` (e.g. "down_blocks.2.attentions.0."), with the prefix removed. */
export class PrefixedWeightSource implements WeightSource {
  readonly name: string;
  constructor(private readonly src: WeightSource, private readonly prefix: string) {
    this.name = `${src.name} [${prefix}*]`;
  }
  keys(): string[] {
    return this.src.keys().filter((k) => k.startsWith(this.prefix)).map((k) => k.slice(this.prefix.length));
  }
  info(key: string): WeightInfo | undefined {
    return this.src.info(this.prefix + key);
  }
  read(key: string, float32?: boolean): Promise<HostValues> {
    return this.src.read(this.prefix + key, float32);
  }
}
