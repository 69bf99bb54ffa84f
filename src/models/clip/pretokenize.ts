/**
 * CLIP's word split. Literal special tokens in the prompt are cut out first (transformers splits
 * on its added tokens, exact case, before any normalisation; SD-2's pad token `!` is one of them);
 * each piece between them is cleaned
 * and split into words with CLIP's pattern
 * `<|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`
 * (case-insensitive; `\s` is White_Space as in Python's `regex`).
 */

export const START_OF_TEXT = '<|startoftext|>';
export const END_OF_TEXT = '<|endoftext|>';

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A regex that splits text around any of `tokens` (longest first, as transformers' trie matches), keeping them. */
export function specialTokenPattern(tokens: readonly string[]): RegExp {
  const alts = [...new Set(tokens)].filter((t) => t.length > 0).sort((a, b) => b.length - a.length).map(escapeRe);
  return new RegExp(`(${alts.join('|')})`);
}

const DEFAULT_SPECIAL_RE = specialTokenPattern([START_OF_TEXT, END_OF_TEXT]);
const WORD_RE = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\p{White_Space}\p{L}\p{N}]+/giu;

export interface TextPiece {
  text: string;
  /** True for a literal special token (`<|startoftext|>`, `<|endoftext|>`, a pad token such as `!`). */
  special: boolean;
}

/** Splits a prompt around literal special tokens (`pattern` from `specialTokenPattern`); empty pieces are dropped. */
export function splitSpecialTokens(text: string, pattern: RegExp = DEFAULT_SPECIAL_RE): TextPiece[] {
  return text
    .split(pattern)
    .map((t, i) => ({ text: t, special: i % 2 === 1 }))
    .filter((p) => p.text.length > 0);
}

/**
 * U+0345 COMBINING GREEK YPOGEGRAMMENI case-folds to a letter (ι). Under Python `regex`'s
 * IGNORECASE it matches neither `\p{L}` nor the negated class, so it only separates words; a JS
 * /iu `\p{L}` would match it. It is turned into a space to keep Python's result.
 */
const FOLDS_TO_LETTER_RE = /\u0345/g;

/** Words of cleaned (lower-cased) text. */
export function splitWords(cleaned: string): string[] {
  return cleaned.replace(FOLDS_TO_LETTER_RE, ' ').match(WORD_RE) ?? [];
}
