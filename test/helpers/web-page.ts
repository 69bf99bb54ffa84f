/** Driving the web page (web/) in chromium for the browser tests: pixels of its images, waiting for a run, comparing images. */
import { expect } from 'chai';
import type { Page } from 'playwright-core';
import { PNG } from 'pngjs';

export type Rgb = { width: number; height: number; data: Uint8Array };

/** Largest and mean absolute difference of two 8-bit RGB images, in levels. */
export function levelDiff(a: Rgb, b: Rgb): { max: number; mean: number } {
  expect([a.width, a.height]).to.deep.equal([b.width, b.height]);
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i] - b.data[i]);
    max = Math.max(max, d);
    sum += d;
  }
  return { max, mean: sum / a.data.length };
}

/** Waits until the page's run ends (`data-state` leaves 'running'); returns the state. */
export async function settle(page: Page, timeout: number): Promise<string> {
  await page.waitForFunction(() => document.body.dataset.state !== 'running', undefined, { timeout, polling: 250 });
  return (await page.evaluate(() => document.body.dataset.state))!;
}

/** The RGB pixels of an image on the page (its PNG, decoded here). */
export async function pixels(page: Page, selector: string): Promise<Rgb> {
  const bytes = await page.evaluate(async (sel) => {
    const img = document.querySelector<HTMLImageElement>(sel)!;
    return Array.from(new Uint8Array(await (await fetch(img.src)).arrayBuffer()));
  }, selector);
  const png = PNG.sync.read(Buffer.from(bytes));
  const rgb = new Uint8Array(png.width * png.height * 3);
  for (let p = 0; p < png.width * png.height; p++) rgb.set(png.data.subarray(p * 4, p * 4 + 3), p * 3);
  return { width: png.width, height: png.height, data: rgb };
}
