/** Writing decoded images as PNG files. */
import { imageToUint8, type FloatImage } from '../util/image.js';
import { writePng } from './png.js';

/** Writes a float image in [0,1] as an 8-bit PNG (rounded like diffusers). */
export async function writeImagePng(path: string, img: FloatImage): Promise<void> {
  await writePng(path, { width: img.width, height: img.height, data: imageToUint8(img) });
}
