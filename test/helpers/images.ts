/** Test images: a smooth synthetic photo, and the pixels of an image shown on a web page. */
import type { Page } from 'playwright-core';
import { PNG } from 'pngjs';

/** An 8-bit RGB image (width·height·3 bytes). */
export type Rgb8 = { width: number; height: number; data: Uint8Array };

/** A smooth synthetic `size`×`size` photo (diagonal colour ramps). */
export function smoothPhoto(size: number): Rgb8 {
  const data = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++)
      for (let c = 0; c < 3; c++) data[(y * size + x) * 3 + c] = (x * (c + 1) + y * (3 - c)) % 256;
  return { width: size, height: size, data };
}

/** The RGB pixels of an image on the page (its PNG, fetched in the page and decoded here). */
export async function pagePixels(page: Page, selector: string): Promise<Rgb8> {
  const bytes = await page.evaluate(async (sel) => {
    const img = document.querySelector<HTMLImageElement>(sel)!;
    return Array.from(new Uint8Array(await (await fetch(img.src)).arrayBuffer()));
  }, selector);
  const png = PNG.sync.read(Buffer.from(bytes));
  const rgb = new Uint8Array(png.width * png.height * 3);
  for (let p = 0; p < png.width * png.height; p++) rgb.set(png.data.subarray(p * 4, p * 4 + 3), p * 3);
  return { width: png.width, height: png.height, data: rgb };
}
