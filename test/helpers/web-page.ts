/** Driving the web page (web/) in chromium for the browser tests: pixels of its images, waiting for a run, comparing images. */
import { expect } from 'chai';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';

export { pagePixels, type Rgb8 } from './images.js';
import type { Rgb8 } from './images.js';

/** Largest and mean absolute difference of two 8-bit RGB images, in levels. */
export function levelDiff(a: Rgb8, b: Rgb8): { max: number; mean: number } {
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

/** A new page at `url`, with the page errors it throws collected. */
export async function openPage(browser: Browser, url: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  return { page, errors };
}

/** A full-page screenshot as `dir/name.png`; prints its path. */
export async function screenshotTo(page: Page, dir: string, name: string): Promise<void> {
  const file = join(dir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`      screenshot: ${file}`);
}

/**
 * Cancel of a 50-step run on `page` once it shows a sampling step: the step shown and the click in
 * one page task (a wasm step takes ~0.3 s, so reading the progress from the test and then clicking
 * would let several steps pass in between). Waits for 'idle', checks that no image is shown and the
 * page can run again; returns the step shown at the click and the steps the status says were done.
 */
export async function cancelDuringSampling(
  page: Page,
  timeouts: { step: number; stop: number },
  onStopped?: () => Promise<void>,
): Promise<{ at: number; done: number; status: string }> {
  await page.waitForFunction(
    () => Number(document.querySelector<HTMLElement>('[data-role="progress"]')!.dataset.step ?? 0) >= 1,
    undefined,
    { timeout: timeouts.step, polling: 100 },
  );
  const at = await page.evaluate(() => {
    const shown = Number(document.querySelector<HTMLElement>('[data-role="progress"]')!.dataset.step);
    document.querySelector<HTMLButtonElement>('[data-role="cancel"]')!.click();
    return shown;
  });
  expect(await settle(page, timeouts.stop)).to.equal('idle');
  await onStopped?.();
  const status = (await page.locator('[data-role="status"]').textContent())!;
  const done = Number(/Cancelled after (\d+) of 50 steps/.exec(status)?.[1]);
  expect(await page.locator('[data-role="source"]').count()).to.equal(0);
  expect(await page.locator('[data-role="generate"]').isEnabled()).to.equal(true);
  return { at, done, status };
}
