/**
 * The web page on WebGPU, in Debian's chromium on SwiftShader's WebGPU (Chrome's CPU Vulkan: slow,
 * see README "Speed in headless Chromium here"), and the page in a browser without a WebGPU adapter.
 * `?backend=webgpu&run=1` runs a Replace edit of the shipped model: its pictures equal the wasm
 * result (this process, the same settings) within WEBGPU_MAX_LEVELS, nothing is read back
 * synchronously, and Cancel stops the next run at the end of a step. Screenshots are printed.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'node:http';
import { expect } from 'chai';
import type { Browser, Page } from 'playwright-core';
import { buildEdit, imageToUint8 } from '../src/index.js';
import { loadPipelineFromDirectory } from '../src/node/pipeline.js';
import { demoModelDir } from '../src/node/package-files.js';
import { buildPage } from '../web/build.js';
import { serveStatic } from '../web/server.js';
import { checkSettings } from '../web/page/edit-settings.js';
import { settingsFromQuery } from '../web/page/settings.js';
import { CHROMIUM, launchChromium } from '../web/chromium.js';
import { describeNeeding } from './helpers/requirement.js';
import {
  cancelDuringSampling,
  levelDiff,
  openPage,
  pagePixels,
  screenshotTo,
  settle,
  type Rgb8,
} from './helpers/web-page.js';

const MODEL = demoModelDir();

/** Two steps: SwiftShader compiles every WebGPU shader on the CPU (minutes) and runs a step in tens of seconds. */
const EDIT = {
  source: 'a red circle on a white background',
  target: 'a blue circle on a white background',
  mode: 'replace',
  steps: '2',
  seed: '7',
};
const query = (changes: Record<string, string> = {}) => new URLSearchParams({ ...EDIT, ...changes }).toString();

/**
 * WebGPU vs wasm, in u8 levels. Both compute in float32, but WebGPU's shaders sum in another order
 * and SwiftShader's exp/pow/tanh differ from wasm's by a few ulp (the UNet output by ~3e-4 of its
 * range, measured against tfjs' cpu backend); the VAE turns that into a level on a few pixels.
 * Measured here: max 1 level, mean 0.0005 (source and edit). The bound leaves one level of margin.
 */
const WEBGPU_MAX_LEVELS = 2;
const WEBGPU_MEAN_LEVELS = 0.01;

const chromiumMissing = existsSync(CHROMIUM)
  ? undefined
  : `chromium at ${CHROMIUM} (apt-get install chromium, as .ci/run does, or set PTP_CHROMIUM)`;

describeNeeding('web page (chromium): WebGPU', chromiumMissing, 'PTP_REQUIRE_BROWSER', function () {
  let outDir: string;
  let shots: string;
  let server: Server;
  let base: string;
  let reference: Rgb8[];
  const browsers: Browser[] = [];

  before(async function () {
    outDir = mkdtempSync(join(tmpdir(), 'ptp-web-webgpu-'));
    shots = mkdtempSync(join(tmpdir(), 'ptp-web-webgpu-screenshots-'));
    await buildPage({ outDir, copyModel: false });
    ({ url: base, server } = await serveStatic({ '/': outDir, '/models/shapes/': MODEL }, { isolate: true }));
    const edit = checkSettings(settingsFromQuery(query()).settings);
    const pipe = await loadPipelineFromDirectory(MODEL);
    try {
      const built = buildEdit(pipe.tokenizer, edit.spec);
      const r = await pipe.edit({
        prompts: built.prompts,
        steps: edit.steps,
        guidance: edit.guidance,
        seed: edit.seed,
        scheduler: 'ddim',
        controller: built.controller,
      });
      reference = r.images.map((im) => ({ width: im.width, height: im.height, data: imageToUint8(im) }));
      built.controller.dispose();
    } finally {
      pipe.dispose();
    }
  });

  after(async () => {
    for (const b of browsers) await b.close();
    server?.close();
    if (outDir) rmSync(outDir, { recursive: true, force: true });
  });

  const open = (browser: Browser, q: string) => openPage(browser, `${base}/?${q}`);
  const screenshot = (page: Page, name: string) => screenshotTo(page, shots, name);

  const perf = (page: Page, name: string) => page.locator('[data-role="perf"]').getAttribute(`data-${name}`);

  it('without a WebGPU adapter: the menu says so in one sentence, and a run asked for on webgpu goes to webgl', async () => {
    // Without --enable-unsafe-webgpu, headless chromium here has navigator.gpu but no adapter.
    const browser = await launchChromium();
    browsers.push(browser);
    const { page, errors } = await open(browser, query({ backend: 'webgpu' }));
    await page.waitForFunction(
      () => !document.querySelector<HTMLElement>('[data-role="backend-note"]')!.hidden,
      undefined,
      { timeout: 30_000 },
    );
    expect(await page.locator('[data-role="backend-note"]').textContent()).to.equal(
      'WebGPU is not available: this browser offers no WebGPU adapter (no supported GPU, or WebGPU is disabled), so the page runs on webgl instead.',
    );
    expect(await page.locator('option[value="webgpu"]').evaluate((o) => (o as HTMLOptionElement).disabled)).to.equal(
      true,
    );
    expect(await page.locator('option[value="webgpu"]').textContent()).to.equal('webgpu (no adapter)');
    expect(await page.locator('[data-role="backend"]').inputValue()).to.equal('webgl');
    expect(await page.evaluate(() => document.body.dataset.state)).to.equal('idle');
    await screenshot(page, 'no-webgpu-adapter');
    expect(errors).to.deep.equal([]);
    await page.close();
  });

  it('?backend=webgpu&run=1 (SwiftShader): the Replace edit equals the wasm result within the stated bound, with no synchronous read; Cancel stops a run at the end of a step', async function () {
    this.timeout(45 * 60_000);
    const browser = await launchChromium({ webgpu: true });
    browsers.push(browser);
    const { page, errors } = await open(browser, query({ backend: 'webgpu', run: '1' }));
    expect(await page.evaluate(() => document.body.dataset.state)).to.equal('running');
    expect(await page.locator('[data-role="backend-note"]').isHidden()).to.equal(true);
    const state = await settle(page, 40 * 60_000);
    await screenshot(page, 'webgpu');
    expect(state, (await page.locator('[data-role="error"]').textContent()) ?? '').to.equal('done');
    expect(await perf(page, 'backend')).to.match(/^webgpu \(google swiftshader; \d+ MiB per buffer\)$/);
    const diffs = [
      levelDiff(await pagePixels(page, '[data-role="source"]'), reference[0]),
      levelDiff(await pagePixels(page, '[data-role="edit"]'), reference[1]),
    ];
    console.log(
      `      webgpu vs wasm (u8 levels): source max ${diffs[0].max} mean ${diffs[0].mean.toFixed(4)}, edit max ${diffs[1].max} mean ${diffs[1].mean.toFixed(4)}`,
    );
    console.log(
      `      webgpu timings: load ${Number(await perf(page, 'load-seconds')).toFixed(1)} s, first step ${Number(await perf(page, 'first-step-seconds')).toFixed(1)} s, ` +
        `${Number(await perf(page, 'seconds-per-step')).toFixed(1)} s/step, decode ${Number(await perf(page, 'decode-seconds')).toFixed(1)} s`,
    );
    for (const d of diffs) {
      expect(d.max).to.be.at.most(WEBGPU_MAX_LEVELS);
      expect(d.mean).to.be.below(WEBGPU_MEAN_LEVELS);
    }
    // No read at all during the steps; the images and maps read asynchronously; nothing synchronously.
    expect(await perf(page, 'readbacks')).to.equal('0');
    expect(Number(await perf(page, 'readbacks-total'))).to.be.above(0);
    expect(await perf(page, 'sync-reads')).to.equal('0');
    expect(await perf(page, 'kernel-sync-reads')).to.equal('0');
    expect(await page.locator('[data-role="attention"] figure').count()).to.be.above(0);

    // Cancel, on the warm worker (its shaders compiled): the run stops at the end of the current step.
    await page.fill('[data-role="steps"]', '50');
    await page.click('[data-role="generate"]');
    expect(await page.evaluate(() => document.body.dataset.state)).to.equal('running');
    const { at, done, status } = await cancelDuringSampling(page, { step: 20 * 60_000, stop: 10 * 60_000 }, () =>
      screenshot(page, 'webgpu-cancelled'),
    );
    expect(done, status).to.be.within(at, at + 1);

    // The same edit on wasm in this tab: the performance panel compares the two backends.
    await page.fill('[data-role="steps"]', EDIT.steps);
    await page.selectOption('[data-role="backend"]', 'wasm');
    await page.click('[data-role="generate"]');
    expect(await settle(page, 10 * 60_000)).to.equal('done');
    const rows = page.locator('[data-role="perf-compare"] tr');
    expect(await rows.evaluateAll((trs) => trs.map((tr) => (tr as HTMLElement).dataset.backend))).to.deep.equal([
      'wasm',
      'webgpu',
    ]);
    const cells = await rows.evaluateAll((trs) =>
      trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent)),
    );
    console.log(`      performance panel: ${cells.map((c) => c.slice(0, 3).join(' | ')).join('; ')}`);
    expect(cells[0][2]).to.equal('1.0×');
    expect(cells[1][2]).to.match(/^\d+\.\d×$/);
    expect(cells[1][6]).to.equal(`2 prompts × ${EDIT.steps} steps, models/shapes/`);
    await screenshot(page, 'webgpu-and-wasm');
    expect(errors).to.deep.equal([]);
    await page.close();
  });
});
