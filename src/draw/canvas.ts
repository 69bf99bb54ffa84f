/** Blank images, pixels and lines on 8-bit RGB images (pure, platform-neutral; write PNGs with src/node/png.ts). */
import type { RgbImage } from '../util/image.js';

/** An RGB colour, 0..255 per channel. */
export type Colour = readonly [number, number, number];

/** A white image. */
export function blankImage(width: number, height: number): RgbImage & { data: Uint8Array } {
  return { width, height, data: new Uint8Array(width * height * 3).fill(255) };
}

/** Sets pixel (x, y) to `colour`; pixels outside the image are skipped. */
export function setPixel(img: RgbImage, x: number, y: number, colour: Colour): void {
  if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
  img.data.set(colour, (y * img.width + x) * 3);
}

/** A one-pixel line from (x0, y0) to (x1, y1), end points included, rounded to pixels and clipped to the image. */
export function drawLine(img: RgbImage, x0: number, y0: number, x1: number, y1: number, colour: Colour): void {
  const n = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0), 1);
  for (let i = 0; i <= n; i++)
    setPixel(img, Math.round(x0 + ((x1 - x0) * i) / n), Math.round(y0 + ((y1 - y0) * i) / n), colour);
}
