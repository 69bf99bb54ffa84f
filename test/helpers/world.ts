/**
 * Helpers for the shapes-world tests: blurring renders like a soft generated image, and the
 * adversarial fakes the quality measures must reject (a blob elsewhere, stripes, a flood, a swap).
 */
import type { RgbImage } from '../../src/shapes/world/image.js';
import { COLOURS, PALETTE, type ColourName, type ShapeName } from '../../src/shapes/world/palette.js';
import type { Scene } from '../../src/shapes/world/scene.js';

/** Separable Gaussian blur of an RGB image (standard deviation `sigma` px, edges clamped). */
export function blur(image: RgbImage, sigma: number): RgbImage {
  const { width: w, height: h, data } = image;
  const r = Math.max(1, Math.ceil(3 * sigma));
  const k = Array.from({ length: 2 * r + 1 }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)));
  const sum = k.reduce((a, b) => a + b);
  const taps = Float64Array.from(k, (v) => v / sum);
  const out = new Uint8Array(data.length);
  const plane = new Float64Array(w * h);
  const line = new Float64Array(Math.max(w, h) + 2 * r);
  /** Convolves `n` values of `plane` starting at `start`, `stride` apart, in place (edges clamped). */
  const convolve = (start: number, stride: number, n: number) => {
    for (let i = 0; i < n + 2 * r; i++) line[i] = plane[start + Math.min(n - 1, Math.max(0, i - r)) * stride];
    for (let i = 0; i < n; i++) {
      let acc = 0;
      for (let t = 0; t <= 2 * r; t++) acc += taps[t] * line[i + t];
      plane[start + i * stride] = acc;
    }
  };
  for (let c = 0; c < 3; c++) {
    for (let p = 0; p < w * h; p++) plane[p] = data[3 * p + c];
    for (let y = 0; y < h; y++) convolve(y * w, 1, w);
    for (let x = 0; x < w; x++) convolve(x, w, h);
    for (let p = 0; p < w * h; p++) out[3 * p + c] = Math.round(plane[p]);
  }
  return { width: w, height: h, data: out };
}

/** A flat image of one palette colour. */
export function flood(size: number, colour: ColourName): RgbImage {
  const data = new Uint8Array(size * size * 3);
  for (let i = 0; i < data.length; i++) data[i] = PALETTE[colour][i % 3];
  return { width: size, height: size, data };
}

/** Vertical stripes of every palette colour inside a `border`-pixel frame of `frame`. */
export function stripes(size: number, frame: ColourName, border = 4): RgbImage {
  const image = flood(size, frame);
  const inner = size - 2 * border;
  for (let y = border; y < size - border; y++) {
    for (let x = border; x < size - border; x++) {
      const c = COLOURS[Math.min(COLOURS.length - 1, Math.floor(((x - border) * COLOURS.length) / inner))];
      image.data.set(PALETTE[c], (y * size + x) * 3);
    }
  }
  return image;
}

/** The scene with one more object: a `colour` `shape` of side `extent` in the image corner farthest from the scene's first object. */
export function withBlob(scene: Scene, colour: ColourName, shape: ShapeName, extent: number): Scene {
  const o = scene.objects[0];
  const cx = o.cx < 0.5 ? 0.98 - extent / 2 : 0.02 + extent / 2;
  const cy = o.cy < 0.5 ? 0.98 - extent / 2 : 0.02 + extent / 2;
  return { ...scene, objects: [...scene.objects, { colour, shape, cx, cy, extent, rgb: PALETTE[colour] }] };
}

/** A copy of a scene with object `k` changed (a new colour is drawn unjittered). */
export function changed(
  scene: Scene,
  k: number,
  change: { colour?: ColourName; shape?: ShapeName; cx?: number },
): Scene {
  const s = structuredClone(scene) as Scene;
  Object.assign(s.objects[k], change, change.colour ? { rgb: PALETTE[change.colour] } : {});
  return s;
}
