/**
 * Words → token positions (the official `ptp_utils.get_word_inds`), over any tokenizer that
 * encodes a prompt to BOS + ids + EOS and decodes a single id to that token's text.
 */
import type { PromptTokenizer } from '../models/clip/tokenizer.js';

/** A word of a prompt: its text (every occurrence) or its index among the space-separated words. */
export type WordRef = string | number;

/** The prompt's words as the official code sees them: `text.split(" ")`. */
export function splitWords(text: string): string[] {
  return text.split(' ');
}

/** Token text per id of `encode(text)` without BOS/EOS, as `get_word_inds` measures it. */
export function tokenPieces(tokenizer: PromptTokenizer, text: string): string[] {
  const ids = tokenizer.encode(text);
  return ids.slice(1, -1).map((id) => stripHashes(tokenizer.decode([id])));
}

function stripHashes(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && s[a] === '#') a++;
  while (b > a && s[b - 1] === '#') b--;
  return s.slice(a, b);
}

/**
 * Token positions (1-based: BOS is 0) of a word in `text` — `get_word_inds`. A string selects every
 * space-separated word equal to it (case-sensitive); a number selects that word index. A word
 * split into several BPE tokens gives all of them. Unknown words give [] (see `requireWordTokens`).
 */
export function wordTokenIndices(tokenizer: PromptTokenizer, text: string, word: WordRef): number[] {
  const split = splitWords(text);
  const places = typeof word === 'string' ? split.flatMap((w, i) => (w === word ? [i] : [])) : [word];
  const out: number[] = [];
  if (places.length === 0) return out;
  const pieces = tokenPieces(tokenizer, text);
  let curLen = 0;
  let ptr = 0;
  for (let i = 0; i < pieces.length; i++) {
    curLen += pieces[i].length;
    if (places.includes(ptr)) out.push(i + 1);
    // The official loop would index past the last word here; nothing can follow it.
    if (ptr >= split.length) break;
    if (curLen >= split[ptr].length) {
      ptr++;
      curLen = 0;
    }
  }
  return out;
}

/** `wordTokenIndices`, throwing an error that names the word and the prompt when it is absent. */
export function requireWordTokens(tokenizer: PromptTokenizer, text: string, word: WordRef, what: string): number[] {
  const inds = wordTokenIndices(tokenizer, text, word);
  if (inds.length === 0) {
    const words = splitWords(text);
    const desc =
      typeof word === 'number' ? `word index ${word} (the prompt has ${words.length} words)` : `word "${word}"`;
    throw new Error(
      `${what}: ${desc} is not in the prompt "${text}" (its words: ${words.map((w) => JSON.stringify(w)).join(', ')})`,
    );
  }
  return inds;
}

/** Token ids of a prompt, checked against the text context length (default: the tokenizer's `modelMaxLength`). */
export function encodePrompt(tokenizer: PromptTokenizer, text: string, maxLen = tokenizer.modelMaxLength): number[] {
  const ids = tokenizer.encode(text);
  if (ids.length > maxLen) {
    throw new Error(`prompt "${text}" has ${ids.length} tokens with BOS/EOS; at most ${maxLen} fit the text encoder`);
  }
  return ids;
}
