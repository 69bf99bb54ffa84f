/** Writing decoded images as PNG: one image, or several side by side. */
import { imageToUint8, type FloatImage } from '../util/image.js';
import { writePng } from './png.js';

/** Images of equal height placed left to right, separated by `gap` white pixels. */
export function sideBySide(images: readonly FloatImage[], gap = 8): FloatImage {
  if (!images.length) throw new Error('no images to place');
  const height = images[0].height;
  if (images.some((im) => im.height !== height)) throw new Error('images of different heights cannot be placed side by side');
  const width = images.reduce((w, im) => w + im.width, 0) + gap * (images.length - 1);
  const data = new Float32Array(width * height * 3).fill(1);
  let x0 = 0;
  for (const im of images) {
    for (let y = 0; y < height; y++) data.set(im.data.subarray(y * im.width * 3, (y + 1) * im.width * 3), (y * width + x0) * 3);
    x0 += im.width + gap;
  }
  return { width, height, data };
}

/** Writes a float image in [0,1] as an 8-bit PNG (rounded like diffusers). */
export async function writeImagePng(path: string, img: FloatImage): Promise<void> {
  await writePng(path, { width: img.width, height: img.height, data: imageToUint8(img) });
}
