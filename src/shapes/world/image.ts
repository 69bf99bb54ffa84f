/** Plain image and mask types of the shapes world (no tfjs, no Node APIs). */
import type { RgbImage } from '../../util/image.js';

/** An RGB image: 3 bytes per pixel, row-major, top row first (the library's one image type). */
export type { RgbImage };

/** A binary mask: one byte per pixel, 1 = inside, 0 = outside, row-major. */
export interface Mask {
  width: number;
  height: number;
  data: Uint8Array;
}

/** An all-zero mask of the given size. */
export function emptyMask(width: number, height: number): Mask {
  return { width, height, data: new Uint8Array(width * height) };
}

/** Throws a one-line error unless `image` is a well-formed RGB image. */
export function checkImage(image: RgbImage, what = 'image'): void {
  const { width, height, data } = image;
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new Error(`${what}: bad size ${width}×${height}`);
  }
  if (!(data instanceof Uint8Array) || data.length !== width * height * 3) {
    throw new Error(`${what}: expected ${width * height * 3} RGB bytes for ${width}×${height}, got ${data?.length}`);
  }
}

/** Throws a one-line error unless all the masks/images have the same size. */
export function checkSameSize(what: string, ...items: { width: number; height: number }[]): void {
  const [a] = items;
  for (const b of items) {
    if (b.width !== a.width || b.height !== a.height)
      throw new Error(`${what}: sizes differ (${a.width}×${a.height} vs ${b.width}×${b.height})`);
  }
}

/** Number of pixels set in a mask. */
export function maskArea(mask: Mask): number {
  let n = 0;
  for (let i = 0; i < mask.data.length; i++) n += mask.data[i];
  return n;
}
