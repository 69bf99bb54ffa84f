/**
 * CLIP's byte-pair encoding of one pre-tokenized word (already in the byte alphabet): the last
 * symbol carries the end-of-word marker `</w>`, then the adjacent pair with the lowest merge rank
 * is merged everywhere (left to right) until no ranked pair is left. Results are cached per word.
 */

/** End-of-word marker appended to the last symbol of every word. */
export const END_OF_WORD = '</w>';

/** Words the BPE returns unchanged (no `</w>`): the special tokens, as in CLIP's cache seed. */
const VERBATIM = ['<|startoftext|>', '<|endoftext|>'];

/** Most cached words before the cache is cleared (bounds memory for very long inputs). */
const CACHE_LIMIT = 100_000;

export class Bpe {
  private readonly ranks = new Map<string, number>();
  private cache = new Map<string, string[]>();

  /** @param merges pairs in rank order (rank = index). */
  constructor(merges: readonly (readonly [string, string])[]) {
    // A repeated pair keeps its last rank, like the dict transformers builds.
    merges.forEach(([a, b], i) => this.ranks.set(`${a} ${b}`, i));
  }

  get numMerges(): number {
    return this.ranks.size;
  }

  /** The BPE pieces of one word (byte-alphabet text, non-empty). */
  encodeWord(word: string): string[] {
    const hit = this.cache.get(word);
    if (hit) return hit;
    const pieces = VERBATIM.includes(word) ? [word] : this.merge(word);
    if (this.cache.size >= CACHE_LIMIT) this.cache = new Map();
    this.cache.set(word, pieces);
    return pieces;
  }

  private merge(word: string): string[] {
    let symbols = Array.from(word);
    symbols[symbols.length - 1] += END_OF_WORD;
    while (symbols.length > 1) {
      let best = Infinity;
      let first = '';
      let second = '';
      for (let i = 0; i < symbols.length - 1; i++) {
        const r = this.ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
        if (r !== undefined && r < best) {
          best = r;
          first = symbols[i];
          second = symbols[i + 1];
        }
      }
      if (best === Infinity) break;
      const next: string[] = [];
      for (let i = 0; i < symbols.length; ) {
        if (i < symbols.length - 1 && symbols[i] === first && symbols[i + 1] === second) {
          next.push(first + second);
          i += 2;
        } else {
          next.push(symbols[i]);
          i += 1;
        }
      }
      symbols = next;
    }
    return symbols;
  }
}

/**
 * Merge rules from merges.txt as transformers' CLIPTokenizer reads them: the text is trimmed, the
 * first line (the `#version` header) is skipped and at most 49152 − 256 − 2 merges are used.
 */
export function parseMerges(text: string): [string, string][] {
  const lines = text.trim().split(/\r?\n/);
  const maxMerges = 49152 - 256 - 2;
  const out: [string, string][] = [];
  for (const [n, line] of lines.slice(1, 1 + maxMerges).entries()) {
    const parts = line.trim().split(/\s+/);
    if (parts.length !== 2) throw new Error(`merges.txt line ${n + 2}: expected two symbols, got "${line}"`);
    out.push([parts[0], parts[1]]);
  }
  return out;
}
