/** The library's images: 8-bit RGB (PNG files, attention maps, images to invert) and float RGB (decoded images). */

/** An 8-bit RGB image, row-major from the top, 3 bytes per pixel (HWC). */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  /** width·height·3 bytes (a browser `ImageData`'s RGBA data must be converted first). */
  readonly data: Uint8Array | Uint8ClampedArray;
}

/** A decoded RGB image, rows top to bottom, float values in [0, 1]. */
export interface FloatImage {
  readonly width: number;
  readonly height: number;
  /** HWC, 3 channels. */
  readonly data: Float32Array;
}

/** Image in [0,1] → 8-bit RGB. 'round' as diffusers' numpy_to_pil, 'floor' as prompt-to-prompt's astype(uint8). */
export function imageToUint8(img: FloatImage, mode: 'round' | 'floor' = 'round'): Uint8Array {
  const out = new Uint8Array(img.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = Math.min(1, Math.max(0, img.data[i])) * 255;
    out[i] = mode === 'round' ? Math.round(v) : Math.floor(v);
  }
  return out;
}

/** Images of equal height placed left to right, separated by `gap` white pixels. */
export function sideBySide(images: readonly FloatImage[], gap = 8): FloatImage {
  if (!images.length) throw new Error('no images to place');
  const height = images[0].height;
  if (images.some((im) => im.height !== height))
    throw new Error('images of different heights cannot be placed side by side');
  const width = images.reduce((w, im) => w + im.width, 0) + gap * (images.length - 1);
  const data = new Float32Array(width * height * 3).fill(1);
  let x0 = 0;
  for (const im of images) {
    for (let y = 0; y < height; y++)
      data.set(im.data.subarray(y * im.width * 3, (y + 1) * im.width * 3), (y * width + x0) * 3);
    x0 += im.width + gap;
  }
  return { width, height, data };
}

/** Peak signal-to-noise ratio in dB of two 8-bit images of the same size (Infinity when equal). */
export function psnr(a: RgbImage, b: RgbImage): number {
  if (a.width !== b.width || a.height !== b.height)
    throw new Error(`psnr: ${a.width}×${a.height} vs ${b.width}×${b.height} images`);
  let se = 0;
  for (let i = 0; i < a.data.length; i++) se += (a.data[i] - b.data[i]) ** 2;
  const mse = se / a.data.length;
  return mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse);
}

/** A float image in [0, 1] as an 8-bit RGB image (rounded). */
export function toRgbImage(img: FloatImage): RgbImage & { data: Uint8Array } {
  return { width: img.width, height: img.height, data: imageToUint8(img) };
}

/** An 8-bit RGB image as a float image in [0, 1]. */
export function toFloatImage(img: RgbImage): FloatImage {
  return { width: img.width, height: img.height, data: Float32Array.from(img.data, (v) => v / 255) };
}

/** The `n` images of a float NHWC batch of `size`×`size` images with values in [−1, 1] (an autoencoder's range) as 8-bit RGB images. */
export function signedBatchToRgbImages(pixels: Float32Array, n: number, size: number): RgbImage[] {
  const per = size * size * 3;
  if (pixels.length !== n * per)
    throw new Error(`signedBatchToRgbImages: ${pixels.length} values for ${n} images of ${size}×${size}×3`);
  return Array.from({ length: n }, (_, i) =>
    toRgbImage({ width: size, height: size, data: pixels.subarray(i * per, (i + 1) * per).map((v) => v * 0.5 + 0.5) }),
  );
}
