/** Images tiled in a grid with a caption under each (training samples, reconstructions). */
import { blankImage } from '../../ptp/render.js';
import { drawText } from '../../ptp/font.js';
import type { RgbImage } from '../../util/image.js';

/** Tiles equally sized images `cols` per row; `labels[i]` is drawn under image i (cut to fit). */
export function imageGrid(images: readonly RgbImage[], cols: number, labels: readonly string[] = [], gap = 4): RgbImage {
  if (!images.length) throw new Error('imageGrid: no images');
  const { width: w, height: h } = images[0];
  const labelH = labels.length ? 22 : 0;
  const rows = Math.ceil(images.length / cols);
  const out = blankImage(cols * w + (cols + 1) * gap, rows * (h + labelH) + (rows + 1) * gap);
  images.forEach((im, i) => {
    if (im.width !== w || im.height !== h) throw new Error('imageGrid: images differ in size');
    const x0 = gap + (i % cols) * (w + gap);
    const y0 = gap + Math.floor(i / cols) * (h + labelH + gap);
    for (let y = 0; y < h; y++) out.data.set(im.data.subarray(y * w * 3, (y + 1) * w * 3), ((y0 + y) * out.width + x0) * 3);
    const text = labels[i] ?? '';
    const perLine = Math.floor(w / 6);
    drawText(out, x0, y0 + h + 2, text.slice(0, perLine));
    if (text.length > perLine) drawText(out, x0, y0 + h + 11, text.slice(perLine, 2 * perLine));
  });
  return out;
}

/** Float NHWC pixels in [−1, 1] (or [0, 1] with `unit`) → 8-bit RGB images. */
export function toRgbImages(pixels: Float32Array, n: number, size: number, unit = false): RgbImage[] {
  const per = size * size * 3;
  return Array.from({ length: n }, (_, i) => {
    const data = new Uint8Array(per);
    for (let j = 0; j < per; j++) {
      const v = unit ? pixels[i * per + j] : pixels[i * per + j] * 0.5 + 0.5;
      data[j] = Math.round(Math.min(1, Math.max(0, v)) * 255);
    }
    return { width: size, height: size, data };
  });
}
