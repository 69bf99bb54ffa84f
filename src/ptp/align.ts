/**
 * Token alignment between a source prompt and edited prompts (the official `seq_aligner.py`):
 * the refinement mapper (global alignment of token ids) for AttentionRefine and the replacement
 * mapper (word-by-word) for AttentionReplace.
 */
import { encodePrompt, splitWords, wordTokenIndices } from './tokens.js';
import type { PromptTokenizer } from '../models/clip/tokenizer.js';

export interface AlignScore {
  gap: number;
  match: number;
  mismatch: number;
}

/** The official scores: gap 0, match 1, mismatch −1. */
export const DEFAULT_ALIGN_SCORE: AlignScore = { gap: 0, match: 1, mismatch: -1 };

/** Traceback codes of `global_align`. */
const LEFT = 1;
const UP = 2;
const DIAG = 3;
const START = 4;

/**
 * Needleman–Wunsch global alignment of two sequences (`seq_aligner.global_align`). Ties prefer
 * left (gap in x), then up (gap in y), then the diagonal. Returns the traceback matrix
 * [(|x|+1)·(|y|+1)], row-major.
 */
export function globalAlign(
  x: readonly number[],
  y: readonly number[],
  score: AlignScore = DEFAULT_ALIGN_SCORE,
): Uint8Array {
  const nx = x.length;
  const ny = y.length;
  const w = ny + 1;
  const m = new Float64Array((nx + 1) * w);
  const tb = new Uint8Array((nx + 1) * w);
  for (let j = 1; j <= ny; j++) {
    m[j] = j * score.gap;
    tb[j] = LEFT;
  }
  for (let i = 1; i <= nx; i++) {
    m[i * w] = i * score.gap;
    tb[i * w] = UP;
  }
  tb[0] = START;
  for (let i = 1; i <= nx; i++) {
    for (let j = 1; j <= ny; j++) {
      const left = m[i * w + j - 1] + score.gap;
      const up = m[(i - 1) * w + j] + score.gap;
      const diag = m[(i - 1) * w + j - 1] + (x[i - 1] === y[j - 1] ? score.match : score.mismatch);
      const best = Math.max(left, up, diag);
      m[i * w + j] = best;
      tb[i * w + j] = best === left ? LEFT : best === up ? UP : DIAG;
    }
  }
  return tb;
}

/**
 * For each element of y, the index of the element of x it is aligned to, or −1 where y has an
 * insertion (`get_aligned_sequences(...)[-1][:, 1]`).
 */
export function alignTargetToSource(
  x: readonly number[],
  y: readonly number[],
  score: AlignScore = DEFAULT_ALIGN_SCORE,
): Int32Array {
  const tb = globalAlign(x, y, score);
  const w = y.length + 1;
  const out = new Int32Array(y.length).fill(-1);
  let i = x.length;
  let j = y.length;
  while (i > 0 || j > 0) {
    const t = tb[i * w + j];
    if (t === DIAG) {
      i--;
      j--;
      out[j] = i;
    } else if (t === LEFT) {
      j--;
      out[j] = -1;
    } else if (t === UP) {
      i--;
    } else {
      break;
    }
  }
  return out;
}

/** Refinement mapping of one edited prompt: source token index per target position, and alphas. */
export interface RefinementMap {
  /** Source token index for each target token ([maxLen]), −1 for inserted tokens (alpha 0). */
  mapper: Int32Array;
  /** Per target token ([maxLen]): 1 where it takes the source's attention, 0 for inserted tokens. */
  alphas: Float32Array;
}

/**
 * `seq_aligner.get_mapper`: global alignment of the token ids (with BOS/EOS) of `source` and
 * `target`; positions from the target's length on map to themselves with alpha 1. `maxLen` is the
 * text context length (the official code's 77; default: the tokenizer's `modelMaxLength`).
 */
export function refinementMapper(
  tokenizer: PromptTokenizer,
  source: string,
  target: string,
  maxLen = tokenizer.modelMaxLength,
): RefinementMap {
  const x = encodePrompt(tokenizer, source, maxLen);
  const y = encodePrompt(tokenizer, target, maxLen);
  const base = alignTargetToSource(x, y);
  const mapper = new Int32Array(maxLen);
  const alphas = new Float32Array(maxLen).fill(1);
  for (let j = 0; j < maxLen; j++) {
    if (j < y.length) {
      mapper[j] = base[j];
      alphas[j] = base[j] === -1 ? 0 : 1;
    } else {
      mapper[j] = j;
    }
  }
  return { mapper, alphas };
}

/** `get_refinement_mapper`: one RefinementMap per edited prompt (prompts[1..]) against prompts[0]. */
export function refinementMappers(
  tokenizer: PromptTokenizer,
  prompts: readonly string[],
  maxLen = tokenizer.modelMaxLength,
): RefinementMap[] {
  requireEdits(prompts, 'Refine');
  return prompts.slice(1).map((p) => refinementMapper(tokenizer, prompts[0], p, maxLen));
}

/**
 * `seq_aligner.get_replacement_mapper_`: [maxLen·maxLen] row-major matrix M with
 * edited[n] = Σ_w source[w]·M[w, n]. Words are compared position by position; a differing word
 * maps its source tokens to its target tokens (1 for equal token counts, else 1/|target| to every
 * target token). As in the official code, before the last differing word the diagonal is
 * shifted by the token-count difference; after it the code writes M[j, j] = 1.
 */
export function replacementMapper(
  tokenizer: PromptTokenizer,
  source: string,
  target: string,
  maxLen = tokenizer.modelMaxLength,
): Float32Array {
  const wx = splitWords(source);
  const wy = splitWords(target);
  if (wx.length !== wy.length) {
    throw new Error(
      `Replace needs prompts with the same number of words: "${source}" has ${wx.length} words, "${target}" has ${wy.length}. ` +
        'Use Refine (AttentionRefine) to add or remove words.',
    );
  }
  encodePrompt(tokenizer, source, maxLen);
  encodePrompt(tokenizer, target, maxLen);
  const replaced = wy.flatMap((w, i) => (w !== wx[i] ? [i] : []));
  const src = replaced.map((i) => wordTokenIndices(tokenizer, source, i));
  const tgt = replaced.map((i) => wordTokenIndices(tokenizer, target, i));
  replaced.forEach((w, k) => {
    if (src[k].length === 0 || tgt[k].length === 0) {
      throw new Error(
        `Replace: word ${w} ("${wx[w]}" → "${wy[w]}") has no tokens in "${src[k].length ? target : source}"`,
      );
    }
  });
  const m = new Float32Array(maxLen * maxLen);
  let i = 0;
  let j = 0;
  let cur = 0;
  while (i < maxLen && j < maxLen) {
    if (cur < src.length && src[cur][0] === i) {
      const s = src[cur];
      const t = tgt[cur];
      if (s.length === t.length) {
        for (let k = 0; k < s.length; k++) m[s[k] * maxLen + t[k]] = 1;
      } else {
        const ratio = 1 / t.length;
        for (const tt of t) for (const ss of s) m[ss * maxLen + tt] = ratio;
      }
      cur++;
      i += s.length;
      j += t.length;
    } else if (cur < src.length) {
      m[i * maxLen + j] = 1;
      i++;
      j++;
    } else {
      m[j * maxLen + j] = 1;
      i++;
      j++;
    }
  }
  return m;
}

/** `get_replacement_mapper`: one matrix per edited prompt (prompts[1..]) against prompts[0]. */
export function replacementMappers(
  tokenizer: PromptTokenizer,
  prompts: readonly string[],
  maxLen = tokenizer.modelMaxLength,
): Float32Array[] {
  requireEdits(prompts, 'Replace');
  return prompts.slice(1).map((p) => replacementMapper(tokenizer, prompts[0], p, maxLen));
}

function requireEdits(prompts: readonly string[], what: string): void {
  if (prompts.length < 2)
    throw new Error(`${what} needs a source prompt and at least one edited prompt, got ${prompts.length} prompt(s)`);
}
