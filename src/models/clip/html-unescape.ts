/**
 * HTML character references decoded the way ftfy's `unescape_html` does (the first step of
 * `ftfy.fix_text`, which transformers' CLIPTokenizer applies): only complete references that end
 * in ";" — named ones from the HTML5 list (plus ALL-CAPS forms of lower-case names), decimal and
 * hex ones with Python's `html.unescape` rules — and never one that would decode to ";".
 */
import { HTML5_ENTITIES, LEGACY_ENTITY_NAMES } from './html-entities.js';

/** Windows-1252 characters of the C1 byte range 0x80–0x9F (undefined bytes keep their code point). */
export const WINDOWS_1252_C1: readonly string[] = Array.from(
  '\u20ac\x81\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\x8d\u017d\x8f' +
    '\x90\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\x9d\u017e\u0178',
);

const REFERENCE = /&#?[0-9A-Za-z]{1,24};/g;

let named: Map<string, string> | undefined;

/** "&name;" → text: the HTML5 names, and "&NAME;" for lower-case names whose upper-case form Python would not decode. */
function namedReferences(): Map<string, string> {
  if (named) return named;
  const m = new Map<string, string>();
  const legacy = new Set(LEGACY_ENTITY_NAMES);
  const decodesInPython = (name: string) => {
    if (Object.hasOwn(HTML5_ENTITIES, name)) return true;
    for (let n = name.length; n >= 2; n--) if (legacy.has(name.slice(0, n))) return true;
    return false;
  };
  for (const [name, text] of Object.entries(HTML5_ENTITIES)) {
    m.set(`&${name};`, text);
  }
  for (const [name, text] of Object.entries(HTML5_ENTITIES)) {
    if (name !== name.toLowerCase()) continue;
    const upper = name.toUpperCase();
    if (!decodesInPython(upper)) m.set(`&${upper};`, text.toUpperCase());
  }
  named = m;
  return m;
}

/** Python `html.unescape` of a numeric reference's code point. */
function numericReference(cp: number): string {
  if (cp === 0) return '\ufffd';
  if (cp === 0x0d) return '\r';
  if (cp >= 0x80 && cp <= 0x9f) return WINDOWS_1252_C1[cp - 0x80];
  if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return '\ufffd';
  const invalid =
    (cp >= 0x01 && cp <= 0x08) || cp === 0x0b || (cp >= 0x0e && cp <= 0x1f) || cp === 0x7f ||
    (cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) === 0xfffe;
  return invalid ? '' : String.fromCodePoint(cp);
}

function decodeReference(ref: string): string {
  if (!ref.startsWith('&#')) return namedReferences().get(ref) ?? ref;
  const dec = /^&#([0-9]+);$/.exec(ref);
  const hex = /^&#[xX]([0-9a-fA-F]+);$/.exec(ref);
  if (!dec && !hex) return ref;
  const text = numericReference(dec ? Number(dec[1]) : parseInt(hex![1], 16));
  return text.includes(';') ? ref : text;
}

/** Decodes the HTML character references of `text` (ftfy `unescape_html`). */
export function unescapeHtml(text: string): string {
  return text.includes('&') ? text.replace(REFERENCE, decodeReference) : text;
}
