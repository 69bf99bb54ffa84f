/** Parsing of the Prompt-to-Prompt option values of `ptp edit` (syntax only; words are checked against the prompts later). */
import { UsageError } from './args.js';
import type { CrossReplaceSteps } from '../ptp/schedule.js';

/** A word and its factor, from `word=factor`. */
export interface WordFactor {
  word: string;
  value: number;
}

function items(raw: string, name: string, form: string): string[] {
  const parts = raw.split(',').map((s) => s.trim());
  if (raw.trim() === '' || parts.some((p) => p === '')) throw new UsageError(`--${name}: expected ${form}, got "${raw}"`);
  return parts;
}

function number(raw: string): number | undefined {
  const v = Number(raw);
  return raw.trim() !== '' && Number.isFinite(v) ? v : undefined;
}

/** A fraction of the sampling in [0, 1]. */
export function parseFraction(raw: unknown, name: string): number {
  const v = typeof raw === 'number' ? raw : number(String(raw));
  if (v === undefined || v < 0 || v > 1) throw new UsageError(`--${name}: expected a fraction of the steps in [0, 1], got "${String(raw)}"`);
  return v;
}

/** `word=factor[,word=factor...]` (factors may be negative). */
export function parseWordFactors(raw: string, name: string): WordFactor[] {
  const form = 'word=factor[,word=factor...]';
  return items(raw, name, form).map((item) => {
    const eq = item.lastIndexOf('=');
    const word = eq > 0 ? item.slice(0, eq).trim() : '';
    const value = eq > 0 ? number(item.slice(eq + 1)) : undefined;
    if (!word || value === undefined) throw new UsageError(`--${name}: expected ${form}, got "${raw}"`);
    if (/\s/.test(word)) throw new UsageError(`--${name}: "${word}" is not a single word`);
    return { word, value };
  });
}

/**
 * Cross-attention schedule: `0.8` (all tokens), or a default and per-word fractions such as
 * `1,dog=0.2` (the default may be left out: then 1, i.e. the official `(0, 1)`).
 */
export function parseCross(raw: string, name = 'cross'): CrossReplaceSteps {
  const form = 'a fraction or fraction,word=fraction...';
  const parts = items(raw, name, form);
  if (parts.length === 1 && number(parts[0]) !== undefined) return parseFraction(parts[0], name);
  const out: Record<string, number> = {};
  for (const p of parts) {
    if (number(p) !== undefined) {
      if ('default_' in out) throw new UsageError(`--${name}: more than one default fraction in "${raw}"`);
      out.default_ = parseFraction(p, name);
      continue;
    }
    const eq = p.lastIndexOf('=');
    const word = eq > 0 ? p.slice(0, eq).trim() : '';
    if (!word || /\s/.test(word)) throw new UsageError(`--${name}: expected ${form}, got "${raw}"`);
    out[word] = parseFraction(p.slice(eq + 1), name);
  }
  return out;
}

/** A comma-separated list of words. */
export function parseWords(raw: string, name: string): string[] {
  const words = items(raw, name, 'word[,word...]');
  for (const w of words) if (/\s/.test(w)) throw new UsageError(`--${name}: "${w}" is not a single word`);
  return words;
}
