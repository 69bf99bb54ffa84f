/**
 * Photos into the model's input size, like the null-text notebook's `load_512`: cut the given
 * margins, centre-crop to the target's aspect ratio (a square for a square size, as `load_512`),
 * resize with Pillow's default filter (bicubic, a = −0.5, with the support widened by the scale
 * when shrinking, 8-bit fixed-point arithmetic and one horizontal then one vertical pass, as
 * Pillow's `Image.resize`).
 */
import type { RgbImage } from './image.js';

/** Pixels cut from each side before the centre crop (load_512's left, right, top, bottom). */
export interface CropOffsets {
  left?: number;
  right?: number;
  top?: number;
  bottom?: number;
}

const PRECISION_BITS = 32 - 8 - 2;

function bicubic(x: number): number {
  const a = -0.5;
  x = Math.abs(x);
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc for one axis: per output pixel its first input and fixed-point weights. */
function coefficients(inSize: number, outSize: number): { start: number; weights: Int32Array }[] {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 2 * filterScale;
  const out: { start: number; weights: Int32Array }[] = [];
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterScale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    const k = new Float64Array(xmax);
    let sum = 0;
    for (let x = 0; x < xmax; x++) {
      k[x] = bicubic((x + xmin - center + 0.5) * ss);
      sum += k[x];
    }
    const weights = new Int32Array(xmax);
    for (let x = 0; x < xmax; x++) {
      const v = sum !== 0 ? k[x] / sum : 0;
      weights[x] = v < 0 ? Math.trunc(-0.5 + v * (1 << PRECISION_BITS)) : Math.trunc(0.5 + v * (1 << PRECISION_BITS));
    }
    out.push({ start: xmin, weights });
  }
  return out;
}

function clip8(v: number): number {
  if (v >= 2 ** (PRECISION_BITS + 8)) return 255;
  if (v <= 0) return 0;
  return Math.floor(v / 2 ** PRECISION_BITS);
}

/** One pass along x (`horizontal`) or y of an RGB image. */
function pass(src: RgbImage, outW: number, outH: number, horizontal: boolean): RgbImage {
  const coeffs = horizontal ? coefficients(src.width, outW) : coefficients(src.height, outH);
  const data = new Uint8Array(outW * outH * 3);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const { start, weights } = coeffs[horizontal ? x : y];
      for (let c = 0; c < 3; c++) {
        let acc = 1 << (PRECISION_BITS - 1);
        for (let i = 0; i < weights.length; i++) {
          const sx = horizontal ? start + i : x;
          const sy = horizontal ? y : start + i;
          acc += src.data[(sy * src.width + sx) * 3 + c] * weights[i];
        }
        data[(y * outW + x) * 3 + c] = clip8(acc);
      }
    }
  }
  return { width: outW, height: outH, data };
}

/** Resizes like Pillow's `Image.resize((width, height))` with its default (bicubic) filter. */
export function resizeBicubic(img: RgbImage, width: number, height: number): RgbImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1)
    throw new Error(`resize: bad target size ${width}×${height}`);
  let out = img;
  if (width !== img.width) out = pass(out, width, out.height, true);
  if (height !== img.height) out = pass(out, width, height, false);
  return out === img ? { width, height, data: Uint8Array.from(img.data) } : out;
}

/** A rectangle of an RGB image. */
export function cropImage(img: RgbImage, x: number, y: number, width: number, height: number): RgbImage {
  if (x < 0 || y < 0 || width < 1 || height < 1 || x + width > img.width || y + height > img.height) {
    throw new Error(`crop: ${width}×${height} at (${x}, ${y}) is outside the ${img.width}×${img.height} image`);
  }
  const data = new Uint8Array(width * height * 3);
  for (let r = 0; r < height; r++)
    data.set(img.data.subarray(((y + r) * img.width + x) * 3, ((y + r) * img.width + x + width) * 3), r * width * 3);
  return { width, height, data };
}

/**
 * load_512 for any size: cut the offsets (each clamped so that a pixel stays), centre-crop to the
 * target's aspect ratio (a square for a square target, as load_512), resize to width × height.
 * (The notebook clamps `top` with `left`, a slip that matters only for large left offsets; here
 * each side is clamped by its own axis.)
 */
export function fitImage(img: RgbImage, width: number, height: number, offsets: CropOffsets = {}): RgbImage {
  for (const [k, v] of Object.entries(offsets)) {
    if (v !== undefined && (!Number.isInteger(v) || v < 0))
      throw new Error(`crop offset ${k} must be a non-negative integer, got ${v}`);
  }
  const { width: w, height: h } = img;
  const left = Math.min(offsets.left ?? 0, w - 1);
  const right = Math.min(offsets.right ?? 0, w - left - 1);
  const top = Math.min(offsets.top ?? 0, h - 1);
  const bottom = Math.min(offsets.bottom ?? 0, h - top - 1);
  const cw = w - left - right;
  const ch = h - top - bottom;
  // The largest width × height-shaped window (load_512: the shorter side, centred on the longer).
  const fitW = Math.min(cw, Math.max(1, Math.round((ch * width) / height)));
  const fitH = Math.min(ch, Math.max(1, Math.round((cw * height) / width)));
  const x = left + Math.floor((cw - fitW) / 2);
  const y = top + Math.floor((ch - fitH) / 2);
  const cropped = fitW === w && fitH === h ? img : cropImage(img, x, y, fitW, fitH);
  return resizeBicubic(cropped, width, height);
}
