/**
 * Images for the page, made in the worker: PNG through an OffscreenCanvas 2D context where the
 * browser has one (Chrome, Edge, Firefox ≥ 105, Safari ≥ 16.4), else raw RGB for the page to
 * encode. Also one map per token from aggregated cross-attention [h, w, tokens].
 */
import type { RgbImage } from '../../src/index.js';
import type { PageImage } from './protocol.js';

/** An 8-bit RGB image as a PNG (OffscreenCanvas) or, without OffscreenCanvas, as raw RGB. */
export async function pageImage(img: RgbImage): Promise<PageImage> {
  const { width, height } = img;
  if (typeof OffscreenCanvas === 'undefined') return { width, height, rgb: Uint8Array.from(img.data) };
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d');
  if (!ctx) return { width, height, rgb: Uint8Array.from(img.data) };
  const rgba = new ImageData(width, height);
  for (let p = 0; p < width * height; p++) {
    rgba.data[p * 4] = img.data[p * 3];
    rgba.data[p * 4 + 1] = img.data[p * 3 + 1];
    rgba.data[p * 4 + 2] = img.data[p * 3 + 2];
    rgba.data[p * 4 + 3] = 255;
  }
  ctx.putImageData(rgba, 0, 0);
  return { width, height, png: await canvas.convertToBlob({ type: 'image/png' }) };
}

/** Map `k` of `count` channels in HWC `data` as a grey image, scaled to its own maximum (as crossAttentionGrid). */
export function tokenMap(data: ArrayLike<number>, height: number, width: number, count: number, k: number): RgbImage {
  let max = 0;
  for (let p = 0; p < height * width; p++) max = Math.max(max, data[p * count + k]);
  const f = max > 0 ? 255 / max : 0;
  const out = new Uint8Array(height * width * 3);
  for (let p = 0; p < height * width; p++) out.fill(Math.round(data[p * count + k] * f), p * 3, p * 3 + 3);
  return { width, height, data: out };
}
