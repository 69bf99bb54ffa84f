/**
 * Attention maps as pixels (platform-neutral; write them with src/node/png.ts): per-token
 * cross-attention maps as a labelled grid (official `show_cross_attention`) and the top principal
 * components of self-attention (official `show_self_attention_comp`).
 */
import { principalComponents } from './components.js';
import { drawText, GLYPH_HEIGHT, textWidth } from './font.js';
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

export interface GridOptions {
  /** Side of each map cell in pixels (default 128; maps are upscaled nearest-neighbour). */
  cell?: number;
  /** Cells per row (default: all in one row up to 8, then wrapped). */
  columns?: number;
  /** Gap between cells in pixels (default 4). */
  gap?: number;
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

/** A white image. */
export function blankImage(width: number, height: number): RgbImage {
  return { width, height, data: new Uint8Array(width * height * 3).fill(255) };
}

/** Draws a [h, w] map (values 0..255, rounded) into img at (x0, y0), upscaled nearest-neighbour to `size`×`size`. */
function blitMap(img: RgbImage, x0: number, y0: number, size: number, h: number, w: number, value: (r: number, c: number) => number): void {
  for (let y = 0; y < size; y++) {
    const r = Math.min(h - 1, Math.floor((y * h) / size));
    for (let x = 0; x < size; x++) {
      const c = Math.min(w - 1, Math.floor((x * w) / size));
      const v = Math.max(0, Math.min(255, Math.round(value(r, c))));
      const o = ((y0 + y) * img.width + x0 + x) * 3;
      img.data[o] = img.data[o + 1] = img.data[o + 2] = v;
    }
  }
}

interface Cell {
  label: string;
  value: (r: number, c: number) => number;
}

function grid(cells: Cell[], h: number, w: number, opts: GridOptions): RgbImage {
  const size = opts.cell ?? 128;
  const gap = opts.gap ?? 4;
  const cols = Math.max(1, Math.min(cells.length, opts.columns ?? 8));
  const rows = Math.ceil(cells.length / cols);
  const scale = size >= 96 ? 2 : 1;
  const labelH = GLYPH_HEIGHT * scale + 6;
  const cellH = size + labelH;
  const img = blankImage(cols * size + (cols - 1) * gap, rows * cellH + (rows - 1) * gap);
  cells.forEach((cell, i) => {
    const x0 = (i % cols) * (size + gap);
    const y0 = Math.floor(i / cols) * (cellH + gap);
    blitMap(img, x0, y0, size, h, w, cell.value);
    // Label centred under the map; shrink, then truncate, to fit.
    let s = scale;
    let text = cell.label;
    if (textWidth(text, s) > size) s = 1;
    while (text.length > 1 && textWidth(text, s) > size) text = text.slice(0, -1);
    drawText(img, x0 + Math.floor((size - textWidth(text, s)) / 2), y0 + size + 3, text, [0, 0, 0], s);
  });
  return img;
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
  return grid(cells, h, w, opts);
}

/**
 * The `count` leading principal components of self-attention maps [h, w, h·w] (rows = queries,
 * centred per row, as the official SVD), each min–max scaled to 0..255 and labelled "pc 0", ….
 */
export function selfAttentionComponents(maps: MapStack, count = 10, opts: GridOptions = {}): RgbImage {
  const { data, height: h, width: w, channels: k } = maps;
  const n = h * w;
  if (k !== n) throw new Error(`selfAttentionComponents: self-attention maps need ${n} keys for ${h}×${w} queries, got ${k}`);
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
  return grid(cells, h, w, opts);
}
