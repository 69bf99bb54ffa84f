/** Reweighting vectors for AttentionReweight: a factor per text token (official `get_equalizer`). */
import { requireWordTokens, wordTokenIndices, type WordRef } from './tokens.js';
import type { PromptTokenizer } from '../models/clip/tokenizer.js';

export interface EqualizerOptions {
  /**
   * Skip words that are not in the text instead of throwing (the official code skips them
   * silently, e.g. the null-text notebook's example with words of the edited prompt).
   */
  ignoreMissing?: boolean;
}

/**
 * Factors [T] (T: the tokenizer's `modelMaxLength`, 77 for SD) for the tokens of `text`: 1
 * everywhere except the tokens of the given words. One value applies to every word (stable
 * notebook `get_equalizer(text, words, (v,))`); one value per word pairs them up (null-text
 * notebook, `zip(words, values)`). Values may be negative or zero.
 */
export function getEqualizer(
  tokenizer: PromptTokenizer,
  text: string,
  words: WordRef | readonly WordRef[],
  values: number | readonly number[],
  opts: EqualizerOptions = {},
): Float32Array {
  const ws = (typeof words === 'string' || typeof words === 'number' ? [words] : words) as readonly WordRef[];
  const vs = typeof values === 'number' ? [values] : values;
  if (ws.length === 0) throw new Error('equalizer: no words given');
  if (vs.length !== 1 && vs.length !== ws.length) {
    throw new Error(
      `equalizer: ${vs.length} values for ${ws.length} words; give one value for all words or one per word`,
    );
  }
  for (const v of vs) if (!Number.isFinite(v)) throw new Error(`equalizer: value ${v} is not a finite number`);
  const eq = new Float32Array(tokenizer.modelMaxLength).fill(1);
  ws.forEach((w, i) => {
    const inds = opts.ignoreMissing
      ? wordTokenIndices(tokenizer, text, w)
      : requireWordTokens(tokenizer, text, w, 'equalizer');
    for (const t of inds) eq[t] = vs.length === 1 ? vs[0] : vs[i];
  });
  return eq;
}
