/**
 * Attention maps as pixels (platform-neutral; write them with src/node/png.ts; the drawing is src/draw): per-token
 * cross-attention maps as a labelled grid (official `show_cross_attention`) and the top principal
 * components of self-attention (official `show_self_attention_comp`).
 */
import { principalComponents } from './principal-components.js';
import { mapGrid, type GridOptions } from '../draw/grid.js';
import type { RgbImage } from '../util/image.js';
import type { PromptTokenizer } from '../models/clip/tokenizer.js';

/** Maps in HWC layout, e.g. `await aggregateAttention(...).data()` with its shape. */
export interface MapStack {
  readonly data: ArrayLike<number>;
  readonly height: number;
  readonly width: number;
  /** Number of maps (keys: the text context length, 77 for SD, for cross-attention; height·width for self-attention). */
  readonly channels: number;
}

/**
 * The text of each token of `prompt` (BOS … EOS) as the text encoder sees it, truncated as the
 * tokenizer truncates to its `modelMaxLength`: labels for crossAttentionGrid.
 */
export function tokenLabels(tokenizer: PromptTokenizer, prompt: string): string[] {
  const ids = tokenizer.encode(prompt);
  const n = tokenizer.modelMaxLength;
  const kept = ids.length > n ? [...ids.slice(0, n - 1), ids[ids.length - 1]] : ids;
  return kept.map((id) => tokenizer.decode([id]));
}

/**
 * One cell per label: map `i` (channel i of `maps`) normalised by its own maximum (official:
 * `255 * map / map.max()`), with `labels[i]` drawn under it. Labels may be fewer than channels
 * (e.g. only the prompt's tokens of the context's 77).
 */
export function crossAttentionGrid(maps: MapStack, labels: readonly string[], opts: GridOptions = {}): RgbImage {
  const { data, height: h, width: w, channels: k } = maps;
  if (data.length !== h * w * k) throw new Error(`crossAttentionGrid: ${data.length} values for ${h}×${w}×${k} maps`);
  if (labels.length > k) throw new Error(`crossAttentionGrid: ${labels.length} labels for ${k} maps`);
  const cells = labels.map((label, i) => {
    let max = 0;
    for (let p = 0; p < h * w; p++) max = Math.max(max, data[p * k + i]);
    const f = max > 0 ? 255 / max : 0;
    return { label, value: (r: number, c: number) => data[(r * w + c) * k + i] * f };
  });
  return mapGrid(cells, h, w, opts);
}

/**
 * The `count` leading principal components of self-attention maps [h, w, h·w] (rows = queries,
 * centred per row, as the official SVD), each min–max scaled to 0..255 and labelled "pc 0", ….
 */
export function selfAttentionComponents(maps: MapStack, count = 10, opts: GridOptions = {}): RgbImage {
  const { data, height: h, width: w, channels: k } = maps;
  const n = h * w;
  if (k !== n)
    throw new Error(`selfAttentionComponents: self-attention maps need ${n} keys for ${h}×${w} queries, got ${k}`);
  if (data.length !== n * k) throw new Error(`selfAttentionComponents: ${data.length} values for ${h}×${w}×${k} maps`);
  const { vectors } = principalComponents(data, n, n, count);
  const cells = vectors.map((v, i) => {
    let lo = Infinity;
    let hi = -Infinity;
    for (const x of v) {
      lo = Math.min(lo, x);
      hi = Math.max(hi, x);
    }
    const f = hi > lo ? 255 / (hi - lo) : 0;
    return { label: `pc ${i}`, value: (r: number, c: number) => (v[r * w + c] - lo) * f };
  });
  return mapGrid(cells, h, w, opts);
}
