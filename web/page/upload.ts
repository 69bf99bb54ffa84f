/**
 * An uploaded PNG or JPEG → the model's input, in the worker: decoded by the browser
 * (createImageBitmap, no colour-space conversion, EXIF orientation applied; its pixels read from
 * an OffscreenCanvas), then cut and resized like the library's `fitImage` (the null-text notebook's
 * load_512: centre crop to the model's aspect ratio, Pillow's bicubic resize).
 * Opaque images give exactly the pixels `ptp invert` reads; semi-transparent pixels differ (a 2D
 * canvas premultiplies alpha; the CLI drops it).
 */
import { fitImage, type RgbImage } from '../../src/index.js';
import { UploadError } from './errors.js';

const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const JPEG = [0xff, 0xd8, 0xff];

/** The upload's pixels (RGB, alpha dropped); a one-line error naming the file when it is not a PNG or JPEG the browser decodes. */
export async function decodeUpload(file: Blob, name: string): Promise<RgbImage> {
  const head = new Uint8Array(await file.slice(0, 8).arrayBuffer());
  const is = (sig: number[]) => sig.every((b, i) => head[i] === b);
  if (!is(PNG) && !is(JPEG)) throw new UploadError(`upload "${name}": not a PNG or JPEG file`);
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch (e) {
    throw new UploadError(
      `upload "${name}": the browser cannot decode this image (${(e as Error).message || 'corrupt data'})`,
    );
  }
  try {
    const { width, height } = bitmap;
    const ctx = new OffscreenCanvas(width, height).getContext('2d');
    if (!ctx)
      throw new Error('this browser has no OffscreenCanvas 2D context in workers, which decoding an upload needs');
    ctx.drawImage(bitmap, 0, 0);
    const rgba = ctx.getImageData(0, 0, width, height).data;
    const data = new Uint8Array(width * height * 3);
    for (let p = 0; p < width * height; p++) {
      data[p * 3] = rgba[p * 4];
      data[p * 3 + 1] = rgba[p * 4 + 1];
      data[p * 3 + 2] = rgba[p * 4 + 2];
    }
    return { width, height, data };
  } finally {
    bitmap.close();
  }
}

/** The upload as the model takes it: `size × size` (the model's default size), as `ptp invert` fits a photo. */
export async function uploadInput(file: Blob, name: string, size: number): Promise<RgbImage> {
  return fitImage(await decodeUpload(file, name), size, size);
}
