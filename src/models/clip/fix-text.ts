/**
 * The parts of `ftfy.fix_text` (ftfy 6, default settings) that transformers' CLIPTokenizer runs
 * on every prompt, except mojibake repair (`fix_encoding`: re-decoding text such as "cafÃ©" that
 * was UTF-8 read as Latin-1/Windows-1252; its heuristics are not reproduced, so such text is left
 * as it is).
 *
 * Per line (a segment ends after each "\n"), repeated until nothing changes: HTML references
 * (skipped for a line containing "<" and every line after it), C1 controls read as Windows-1252,
 * Latin ligatures split, full-/half-width forms to normal width, curly quotes straightened, line
 * breaks to "\n", lone surrogates to U+FFFD, terminal escapes and stray control characters removed,
 * NFC normalisation.
 */
import { unescapeHtml, WINDOWS_1252_C1 } from './html-unescape.js';

const LIGATURES: Readonly<Record<string, string>> = {
  '\u0132': 'IJ', '\u0133': 'ij', '\u0149': '\u02bcn', '\u01f1': 'DZ', '\u01f2': 'Dz', '\u01f3': 'dz',
  '\u01c4': 'D\u017d', '\u01c5': 'D\u017e', '\u01c6': 'd\u017e', '\u01c7': 'LJ', '\u01c8': 'Lj', '\u01c9': 'lj',
  '\u01ca': 'NJ', '\u01cb': 'Nj', '\u01cc': 'nj', '\ufb00': 'ff', '\ufb01': 'fi', '\ufb02': 'fl', '\ufb03': 'ffi',
  '\ufb04': 'ffl', '\ufb05': '\u017ft', '\ufb06': 'st',
};
const LIGATURE_RE = /[\u0132\u0133\u0149\u01c4-\u01cc\u01f1-\u01f3\ufb00-\ufb06]/g;
const C1_RE = /[\x80-\x9f]/g;
/** Ideographic space and the Halfwidth and Fullwidth Forms block. */
const WIDTH_RE = /[\u3000\uff01-\uffef]/g;
const SINGLE_QUOTE_RE = /[\u02bc\u2018-\u201b]/g;
const DOUBLE_QUOTE_RE = /[\u201c-\u201f]/g;
const LINE_BREAK_RE = /\r\n|[\r\u2028\u2029\x85]/g;
const LONE_SURROGATE_RE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
/** ANSI escapes; Python's `\d` matches every decimal digit. */
// eslint-disable-next-line no-control-regex -- ftfy's patterns match control characters on purpose
const TERMINAL_ESCAPE_RE = /\x1b\[(?:\p{Nd}|;)*[a-zA-Z]/gu;
// eslint-disable-next-line no-control-regex -- ftfy's patterns match control characters on purpose
const CONTROL_RE = /[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]/g;

/** Full-/half-width character → its normal form (ftfy: U+3000 → space, else NFKC when it differs). */
function normalWidth(ch: string): string {
  if (ch === '\u3000') return ' ';
  return ch.normalize('NFKC');
}

/** One pass of ftfy's fixers over a segment, in ftfy's order. */
function fixOnce(s: string, html: boolean): string {
  if (html) s = unescapeHtml(s);
  s = s.replace(C1_RE, (c) => WINDOWS_1252_C1[c.charCodeAt(0) - 0x80]);
  s = s.replace(LIGATURE_RE, (c) => LIGATURES[c] ?? c);
  s = s.replace(WIDTH_RE, normalWidth);
  s = s.replace(DOUBLE_QUOTE_RE, '"').replace(SINGLE_QUOTE_RE, "'");
  s = s.replace(LINE_BREAK_RE, '\n');
  s = s.replace(LONE_SURROGATE_RE, '\ufffd');
  s = s.replace(TERMINAL_ESCAPE_RE, '');
  s = s.replace(CONTROL_RE, '');
  return s.normalize('NFC');
}

function fixSegment(s: string, html: boolean): string {
  for (;;) {
    const next = fixOnce(s, html);
    if (next === s) return s;
    s = next;
  }
}

/** `ftfy.fix_text(text)` without mojibake repair (see the module comment). */
export function fixText(text: string): string {
  let html = true;
  let out = '';
  let pos = 0;
  while (pos < text.length) {
    const nl = text.indexOf('\n', pos);
    const end = nl < 0 ? text.length : nl + 1;
    const segment = text.slice(pos, end);
    if (html && segment.includes('<')) html = false;
    out += fixSegment(segment, html);
    pos = end;
  }
  return out;
}
