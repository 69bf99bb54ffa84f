/**
 * Labelled grids: images tiled with a caption under each (training samples, reconstructions, demo
 * and quality sheets), and greyscale maps tiled with a centred label under each (attention maps).
 */
import { blankImage } from './canvas.js';
import { drawText, GLYPH_ADVANCE, GLYPH_HEIGHT, textWidth } from './font.js';
import type { RgbImage } from '../util/image.js';

/** Tiles equally sized images `cols` per row; `labels[i]` is drawn under image i (cut to fit, at most two lines). */
export function imageGrid(
  images: readonly RgbImage[],
  cols: number,
  labels: readonly string[] = [],
  gap = 4,
): RgbImage {
  if (!images.length) throw new Error('imageGrid: no images');
  const { width: w, height: h } = images[0];
  const labelH = labels.length ? 22 : 0;
  const rows = Math.ceil(images.length / cols);
  const out = blankImage(cols * w + (cols + 1) * gap, rows * (h + labelH) + (rows + 1) * gap);
  images.forEach((im, i) => {
    if (im.width !== w || im.height !== h) throw new Error('imageGrid: images differ in size');
    const x0 = gap + (i % cols) * (w + gap);
    const y0 = gap + Math.floor(i / cols) * (h + labelH + gap);
    for (let y = 0; y < h; y++)
      out.data.set(im.data.subarray(y * w * 3, (y + 1) * w * 3), ((y0 + y) * out.width + x0) * 3);
    const text = labels[i] ?? '';
    const perLine = Math.floor(w / GLYPH_ADVANCE);
    drawText(out, x0, y0 + h + 2, text.slice(0, perLine));
    if (text.length > perLine) drawText(out, x0, y0 + h + 11, text.slice(perLine, 2 * perLine));
  });
  return out;
}

export interface GridOptions {
  /** Side of each map cell in pixels (default 128; maps are upscaled nearest-neighbour). */
  cell?: number;
  /** Cells per row (default: all in one row up to 8, then wrapped). */
  columns?: number;
  /** Gap between cells in pixels (default 4). */
  gap?: number;
}

/** One cell of a map grid: a label and the grey value (0..255, rounded and clamped) of map pixel (row, column). */
export interface MapCell {
  readonly label: string;
  readonly value: (r: number, c: number) => number;
}

/** Draws a [h, w] map into img at (x0, y0), upscaled nearest-neighbour to `size`×`size`. */
function blitMap(
  img: RgbImage,
  x0: number,
  y0: number,
  size: number,
  h: number,
  w: number,
  value: (r: number, c: number) => number,
): void {
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

/** Square greyscale cells of [h, w] maps, each with its label centred under it (shrunk, then cut, to fit). */
export function mapGrid(cells: readonly MapCell[], h: number, w: number, opts: GridOptions = {}): RgbImage {
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
    let s = scale;
    let text = cell.label;
    if (textWidth(text, s) > size) s = 1;
    while (text.length > 1 && textWidth(text, s) > size) text = text.slice(0, -1);
    drawText(img, x0 + Math.floor((size - textWidth(text, s)) / 2), y0 + size + 3, text, [0, 0, 0], s);
  });
  return img;
}
