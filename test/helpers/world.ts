/** Helpers for the shapes-world tests: blurring renders like a soft generated image. */
import type { RgbImage } from '../../src/world/image.js';

/** Separable Gaussian blur of an RGB image (standard deviation `sigma` px, edges clamped). */
export function blur(image: RgbImage, sigma: number): RgbImage {
  const { width: w, height: h } = image;
  const r = Math.max(1, Math.ceil(3 * sigma));
  const k = Array.from({ length: 2 * r + 1 }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)));
  const sum = k.reduce((a, b) => a + b);
  const kn = k.map((v) => v / sum);
  const pass = (src: Float32Array, horizontal: boolean) => {
    const dst = new Float32Array(src.length);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let c = 0; c < 3; c++) {
          let acc = 0;
          for (let i = -r; i <= r; i++) {
            const xx = horizontal ? Math.min(w - 1, Math.max(0, x + i)) : x;
            const yy = horizontal ? y : Math.min(h - 1, Math.max(0, y + i));
            acc += kn[i + r] * src[(yy * w + xx) * 3 + c];
          }
          dst[(y * w + x) * 3 + c] = acc;
        }
      }
    }
    return dst;
  };
  const out = pass(pass(Float32Array.from(image.data), true), false);
  return { width: w, height: h, data: Uint8Array.from(out, (v) => Math.round(v)) };
}
