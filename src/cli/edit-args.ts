/**
 * `ptp edit`'s Prompt-to-Prompt option values: the platform-neutral parsers of src/ptp/edit-args.ts
 * with the options named `--name` and their errors as UsageErrors (exit status 2).
 */
import { UsageError } from './args.js';
import { EditSpecError } from '../ptp/edit-spec.js';
import * as p from '../ptp/edit-args.js';
import type { CrossReplaceSteps } from '../ptp/schedule.js';
import type { WordFactor } from '../ptp/edit-spec.js';

export type { WordFactor };

/** Runs `f`, turning a bad-setting error into a UsageError with the same message. */
export function asUsage<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof EditSpecError) throw new UsageError(e.message);
    throw e;
  }
}

/** A fraction of the sampling in [0, 1]. */
export const parseFraction = (raw: unknown, name: string): number => asUsage(() => p.parseFraction(raw, `--${name}`));

/** `word=factor[,word=factor...]` (factors may be negative). */
export const parseWordFactors = (raw: string, name: string): WordFactor[] =>
  asUsage(() => p.parseWordFactors(raw, `--${name}`));

/** Cross-attention schedule: `0.8`, or per word `1,dog=0.2`. */
export const parseCross = (raw: string, name = 'cross'): CrossReplaceSteps =>
  asUsage(() => p.parseCross(raw, `--${name}`));

/** A comma-separated list of words. */
export const parseWords = (raw: string, name: string): string[] => asUsage(() => p.parseWords(raw, `--${name}`));
