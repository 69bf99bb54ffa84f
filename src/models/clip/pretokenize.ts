/**
 * CLIP's word split. Literal special tokens in the prompt are cut out first (transformers splits
 * on its added tokens, exact case, before any normalisation); each piece between them is cleaned
 * and split into words with CLIP's pattern
 * `<|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`
 * (case-insensitive; `\s` is White_Space as in Python's `regex`).
 */

export const START_OF_TEXT = '<|startoftext|>';
export const END_OF_TEXT = '<|endoftext|>';

const SPECIAL_RE = /(<\|startoftext\|>|<\|endoftext\|>)/;
const WORD_RE = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\p{White_Space}\p{L}\p{N}]+/giu;

export interface TextPiece {
  text: string;
  /** True for a literal `<|startoftext|>` / `<|endoftext|>`. */
  special: boolean;
}

/** Splits a prompt around literal special tokens; empty pieces are dropped. */
export function splitSpecialTokens(text: string): TextPiece[] {
  return text
    .split(SPECIAL_RE)
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
