/**
 * Loading a checkpoint (a WeightSource) into a Module tree: every key is checked before anything
 * is read, and a model may adapt the checkpoint to its own key names (`CheckpointAdapter`).
 */
import type { WeightSource } from '../io/weights.js';
import type { Module } from './module.js';
import type { Residency } from './param.js';

export interface LoadWeightsOptions {
  /** 'resident' (default) uploads every weight now; 'stream' keeps them on the host. */
  residency?: Residency;
  /** Keep float16 files as float16 on the host (halves memory; upcast on upload). Default true. */
  keepFloat16?: boolean;
  /** Keys present in the file that the model does not use and that are not an error. */
  ignore?: (key: string) => boolean;
}

/**
 * What a model says about the checkpoints it loads; `loadWeights` applies it, so every model is
 * loaded the same way. Legacy key names are handled here, in one place per model.
 */
export interface CheckpointAdapter {
  /** The checkpoint seen with this model's key names (e.g. legacy names renamed). */
  checkpointView?(src: WeightSource): WeightSource;
  /** Keys (of the view) this model does not use; they are never read and are not an error. */
  isUnusedKey?(key: string): boolean;
}

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

/** Compares a model's weights with a source; returns the problems, one line each. */
export function diffWeights(module: Module, src: WeightSource, opts: LoadWeightsOptions = {}): string[] {
  const missing: string[] = [];
  const mismatch: string[] = [];
  const expected = new Set<string>();
  const have = new Set(src.keys());
  for (const [key, p] of module.namedParams()) {
    expected.add(key);
    if (!have.has(key)) {
      missing.push(`  missing: ${key} ${fmt(p.torchShape)}`);
      continue;
    }
    const got = src.info(key)!.shape;
    if (got.length !== p.torchShape.length || got.some((d, i) => d !== p.torchShape[i])) {
      mismatch.push(`  shape mismatch: ${key} expected ${fmt(p.torchShape)}, got ${fmt(got)}`);
    }
  }
  const unexpected: string[] = [];
  for (const k of have) {
    if (!expected.has(k) && !opts.ignore?.(k)) unexpected.push(`  unexpected: ${k} ${fmt(src.info(k)!.shape)}`);
  }
  return [...missing, ...unexpected, ...mismatch];
}

const COMPVIS_PREFIXES = ['model.diffusion_model.', 'first_stage_model.', 'cond_stage_model.'];

/** When no key matched at all: a likely reason (CompVis single-file keys, a key prefix), or ''. */
export function mismatchHint(module: Module, src: WeightSource): string {
  const fileKeys = src.keys();
  const modelKeys = [...module.namedParams()].map(([k]) => k);
  const have = new Set(fileKeys);
  if (!fileKeys.length || modelKeys.some((k) => have.has(k))) return '';
  if (fileKeys.some((k) => COMPVIS_PREFIXES.some((p) => k.startsWith(p)))) {
    return 'hint: these are original CompVis single-file checkpoint names; convert the file to a diffusers folder with `ptp convert`';
  }
  for (const k of modelKeys) {
    const hit = fileKeys.find((f) => f.endsWith(`.${k}`));
    if (hit)
      return `hint: file keys carry the prefix "${hit.slice(0, hit.length - k.length)}" (wrong component, or wrap the source in PrefixedWeightSource)`;
  }
  return 'hint: no key matched at all; is this the weights file of another component?';
}

/**
 * Loads every weight of `module` from `src` (through the module's `CheckpointAdapter`, if it has
 * one). All missing keys, unexpected keys and shape mismatches (expected vs got) are reported
 * together in one error before anything is read.
 */
export async function loadWeights(
  module: Module & CheckpointAdapter,
  src: WeightSource,
  opts: LoadWeightsOptions = {},
): Promise<void> {
  const view = module.checkpointView?.(src) ?? src;
  const unused = module.isUnusedKey?.bind(module);
  const ignore = unused ? (k: string) => unused(k) || (opts.ignore?.(k) ?? false) : opts.ignore;
  const problems = diffWeights(module, view, { ...opts, ignore });
  if (problems.length) {
    const count = (w: string) => problems.filter((p) => p.startsWith(`  ${w}`)).length;
    const hint = mismatchHint(module, view);
    throw new Error(
      `${view.name}: weights do not match the model (${count('missing')} missing, ${count('unexpected')} unexpected, ` +
        `${count('shape')} shape mismatches):\n${problems.join('\n')}${hint ? `\n${hint}` : ''}`,
    );
  }
  const keep16 = opts.keepFloat16 ?? true;
  for (const [key, p] of module.namedParams()) {
    p.setResidency(opts.residency ?? 'resident');
    p.setTorchValues(await view.read(key, !keep16));
  }
}
