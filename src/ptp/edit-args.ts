/**
 * Parsing of Prompt-to-Prompt setting values typed as text (syntax only; words are checked against
 * the prompts by `buildEdit`). `label` names the setting in messages (the CLI: `--reweight`).
 */
import { EditSpecError, type WordFactor } from './edit-spec.js';
import type { CrossReplaceSteps } from './schedule.js';

function items(raw: string, label: string, form: string): string[] {
  const parts = raw.split(',').map((s) => s.trim());
  if (raw.trim() === '' || parts.some((p) => p === ''))
    throw new EditSpecError(`${label}: expected ${form}, got "${raw}"`);
  return parts;
}

function number(raw: string): number | undefined {
  const v = Number(raw);
  return raw.trim() !== '' && Number.isFinite(v) ? v : undefined;
}

/** A fraction of the sampling in [0, 1]. */
export function parseFraction(raw: unknown, label: string): number {
  const v = typeof raw === 'number' ? raw : number(String(raw));
  if (v === undefined || v < 0 || v > 1)
    throw new EditSpecError(`${label}: expected a fraction of the steps in [0, 1], got "${String(raw)}"`);
  return v;
}

/** `word=factor[,word=factor...]` (factors may be negative). */
export function parseWordFactors(raw: string, label: string): WordFactor[] {
  const form = 'word=factor[,word=factor...]';
  return items(raw, label, form).map((item) => {
    const eq = item.lastIndexOf('=');
    const word = eq > 0 ? item.slice(0, eq).trim() : '';
    const value = eq > 0 ? number(item.slice(eq + 1)) : undefined;
    if (!word || value === undefined) throw new EditSpecError(`${label}: expected ${form}, got "${raw}"`);
    if (/\s/.test(word)) throw new EditSpecError(`${label}: "${word}" is not a single word`);
    return { word, value };
  });
}

/**
 * Cross-attention schedule: `0.8` (all tokens), or a default and per-word fractions such as
 * `1,dog=0.2` (the default may be left out: then 1, i.e. the official `(0, 1)`).
 */
export function parseCross(raw: string, label: string): CrossReplaceSteps {
  const form = 'a fraction or fraction,word=fraction...';
  const parts = items(raw, label, form);
  if (parts.length === 1 && number(parts[0]) !== undefined) return parseFraction(parts[0], label);
  const out: Record<string, number> = {};
  for (const p of parts) {
    if (number(p) !== undefined) {
      if ('default_' in out) throw new EditSpecError(`${label}: more than one default fraction in "${raw}"`);
      out.default_ = parseFraction(p, label);
      continue;
    }
    const eq = p.lastIndexOf('=');
    const word = eq > 0 ? p.slice(0, eq).trim() : '';
    if (!word || /\s/.test(word)) throw new EditSpecError(`${label}: expected ${form}, got "${raw}"`);
    out[word] = parseFraction(p.slice(eq + 1), label);
  }
  return out;
}

/** A comma-separated list of words. */
export function parseWords(raw: string, label: string): string[] {
  const words = items(raw, label, 'word[,word...]');
  for (const w of words) if (/\s/.test(w)) throw new EditSpecError(`${label}: "${w}" is not a single word`);
  return words;
}
