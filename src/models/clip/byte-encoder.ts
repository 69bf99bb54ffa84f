/**
 * The byte-level alphabet of GPT-2/CLIP BPE: every UTF-8 byte is one printable character, so a
 * word's bytes can be merged as a string. Printable Latin-1 bytes map to themselves; the other 68
 * bytes (controls, space, soft hyphen, ...) map to U+0100.. in byte order.
 */

function buildByteToChar(): string[] {
  const keep = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out: string[] = new Array(256);
  let next = 0;
  for (let b = 0; b < 256; b++) out[b] = String.fromCharCode(keep(b) ? b : 256 + next++);
  return out;
}

/** byte → its alphabet character. */
export const BYTE_TO_CHAR: readonly string[] = buildByteToChar();
/** alphabet character → byte. */
export const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

const utf8Encoder = new TextEncoder();
// Keeps a leading U+FEFF and replaces invalid sequences with U+FFFD, as Python's
// bytes.decode("utf-8", errors="replace") does.
const utf8Decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/** The UTF-8 bytes of `text` written in the byte alphabet. */
export function textToByteSymbols(text: string): string {
  let s = '';
  for (const b of utf8Encoder.encode(text)) s += BYTE_TO_CHAR[b];
  return s;
}

/** Inverse of `textToByteSymbols`; invalid UTF-8 becomes U+FFFD. Throws on a non-alphabet character. */
export function byteSymbolsToText(symbols: string): string {
  const bytes = new Uint8Array(symbols.length);
  for (let i = 0; i < symbols.length; i++) {
    const b = CHAR_TO_BYTE.get(symbols[i]);
    if (b === undefined) throw new Error(`character U+${symbols.charCodeAt(i).toString(16).toUpperCase().padStart(4, '0')} is not in the byte-level BPE alphabet`);
    bytes[i] = b;
  }
  return utf8Decoder.decode(bytes);
}
