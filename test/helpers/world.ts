/** Helpers for the shapes-world tests: blurring renders like a soft generated image. */
import type { RgbImage } from '../../src/world/image.js';

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
