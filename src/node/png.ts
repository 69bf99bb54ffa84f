/** PNG encoding of RGB images (attention grids, decoded images) with pngjs. */
import { writeFile } from 'node:fs/promises';
import { PNG } from 'pngjs';
import type { RgbImage } from '../util/image.js';
import { writeFileAtomic } from './atomic-write.js';

/** RGB image → PNG bytes. */
export function encodePng(img: RgbImage): Buffer {
  if (img.data.length !== img.width * img.height * 3) {
    throw new Error(`encodePng: ${img.data.length} bytes for a ${img.width}×${img.height} RGB image`);
  }
  const png = new PNG({ width: img.width, height: img.height, colorType: 2, inputColorType: 2, inputHasAlpha: false });
  png.data = Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength);
  return PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false });
}

/** Writes an RGB image as a PNG file (atomically: a complete file or none). */
export async function writePng(path: string, img: RgbImage): Promise<void> {
  const bytes = encodePng(img);
  await writeFileAtomic(path, (tmp) => writeFile(tmp, bytes));
}

/** PNG bytes → RGB image (alpha dropped). */
export function decodePng(bytes: Uint8Array): RgbImage {
  const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const data = new Uint8Array(png.width * png.height * 3);
  for (let i = 0; i < png.width * png.height; i++) {
    data[i * 3] = png.data[i * 4];
    data[i * 3 + 1] = png.data[i * 4 + 1];
    data[i * 3 + 2] = png.data[i * 4 + 2];
  }
  return { width: png.width, height: png.height, data };
}
