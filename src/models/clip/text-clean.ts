/**
 * Prompt normalisation of transformers' CLIPTokenizer (the slow tokenizer diffusers uses, with
 * ftfy installed): `whitespace_clean(ftfy.fix_text(text)).lower()`.
 */
import { fixText } from './fix-text.js';

/** Python `regex`'s `\s` (the Unicode White_Space property). */
const WHITESPACE_RUN = /\p{White_Space}+/gu;
/** Python `str.isspace()` characters (White_Space plus the separators U+001C–U+001F). */
// eslint-disable-next-line no-control-regex -- U+001C–U+001F are the separators str.isspace() counts
const PY_SPACE = /^[\p{White_Space}\x1c-\x1f]+|[\p{White_Space}\x1c-\x1f]+$/gu;

/** Python `str.strip()` without arguments. */
export function pythonStrip(s: string): string {
  return s.replace(PY_SPACE, '');
}

/** CLIP's `whitespace_clean`: runs of whitespace → one space, then strip. */
export function whitespaceClean(text: string): string {
  return pythonStrip(text.replace(WHITESPACE_RUN, ' '));
}

/** The text the CLIP pre-tokenizer sees: ftfy fixes, whitespace collapsed and stripped, lower-cased. */
export function cleanText(text: string): string {
  return whitespaceClean(fixText(text)).toLowerCase();
}
