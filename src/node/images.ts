/** Image files: writing decoded images as PNG, reading PNG and JPEG photos. */
import { readFile } from 'node:fs/promises';
import jpeg from 'jpeg-js';
import { imageToUint8, type FloatImage, type RgbImage } from '../util/image.js';
import { decodePng, writePng } from './png.js';

/** Writes a float image in [0,1] as an 8-bit PNG (rounded like diffusers). */
export async function writeImagePng(path: string, img: FloatImage): Promise<void> {
  await writePng(path, { width: img.width, height: img.height, data: imageToUint8(img) });
}

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** The format of image bytes from their signature, or undefined. */
export function imageFormat(bytes: Uint8Array): 'png' | 'jpeg' | undefined {
  if (PNG_MAGIC.every((b, i) => bytes[i] === b)) return 'png';
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return undefined;
}

/** JPEG bytes → RGB image (jpeg-js, pure JavaScript; CMYK/greyscale converted to RGB). */
export function decodeJpeg(bytes: Uint8Array): RgbImage {
  const d = jpeg.decode(bytes, {
    useTArray: true,
    formatAsRGBA: true,
    maxMemoryUsageInMB: 2048,
    maxResolutionInMP: 400,
  });
  const n = d.width * d.height;
  const data = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    data[i * 3] = d.data[i * 4];
    data[i * 3 + 1] = d.data[i * 4 + 1];
    data[i * 3 + 2] = d.data[i * 4 + 2];
  }
  return { width: d.width, height: d.height, data };
}

/** PNG or JPEG bytes (recognised by their signature) → RGB image; `name` labels errors. */
export function decodeImage(bytes: Uint8Array, name = 'image'): RgbImage {
  const format = imageFormat(bytes);
  if (!format) throw new Error(`${name}: not a PNG or JPEG file`);
  try {
    return format === 'png' ? decodePng(bytes) : decodeJpeg(bytes);
  } catch (e) {
    throw new Error(`${name}: cannot decode the ${format.toUpperCase()} data (${(e as Error).message})`);
  }
}

/** Reads a PNG or JPEG file as an RGB image. */
export async function readImageFile(path: string): Promise<RgbImage> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(
      `${path}: cannot read the image (${code === 'ENOENT' ? 'no such file' : (code ?? (e as Error).message)})`,
    );
  }
  return decodeImage(bytes, path);
}
