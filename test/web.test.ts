/**
 * The web page (web/) in Debian's chromium: built with web/build.ts into a temp folder, served by
 * web/server.ts with the shipped demo model (models/shapes) beside it, driven through its URL
 * settings and data-role attributes. A short Replace edit on wasm and on WebGL is compared with
 * the same edit run here in Node; the source's attention grid has one labelled map per token; no
 * tensor is read back during WebGL sampling, and none synchronously in a whole run; Cancel stops the run; a bad word shows a
 * one-sentence error and the page then runs again; an uploaded PNG (a rendered shapes scene) is
 * cropped/resized, null-text inverted and edited as `ptp edit --image` does here in Node, and its
 * inversion can be cancelled. Screenshots are kept in a temp folder (paths printed).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'node:http';
import { expect } from 'chai';
import type { Browser, Page } from 'playwright-core';
import jpeg from 'jpeg-js';
import { buildEdit, fitImage, imageToUint8, tokenLabels, type StableDiffusionPipeline } from '../src/index.js';
import { loadPipelineFromDirectory } from '../src/node/pipeline.js';
import { demoModelDir } from '../src/node/package-files.js';
import { decodeImage } from '../src/node/images.js';
import { writePng } from '../src/node/png.js';
import { Rng, renderScene, sceneFromCaption } from '../src/shapes/world/index.js';
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

/** The shipped demo model (in the repository). */
const MODEL = demoModelDir();

/** The edit of the comparison tests, as page URL settings. */
const EDIT = {
  source: 'a red circle on a white background',
  target: 'a blue circle on a white background',
  mode: 'replace',
  steps: '3',
  seed: '7',
};

/** The page query of EDIT with some settings changed or added. */
const query = (changes: Record<string, string> = {}) => new URLSearchParams({ ...EDIT, ...changes }).toString();

/**
 * WebGL vs Node, in u8 levels. WebGL computes in float32 too, but its shaders sum in another order
 * and SwiftShader's exp/log/pow differ from wasm's by a few ulp: the latents differ by up to ~1e-2 of
 * their range after a few guided steps (the bound of test/browser.test.ts), which the VAE turns into
 * at most a few levels on isolated pixels and a tiny mean. Measured here: max 1, mean < 0.001.
 */
const WEBGL_MAX_LEVELS = 3;
const WEBGL_MEAN_LEVELS = 0.1;

/** The uploaded image's edit: a rendered 150×150 scene of its caption (the page crops/resizes it to the model's 128×128). */
const PHOTO = {
  caption: 'a red circle on a white background',
  target: 'a red square on a white background',
  size: 150,
  steps: 3,
  inner: 2,
  guidance: 7.5,
};

const chromiumMissing = existsSync(CHROMIUM)
  ? undefined
  : `chromium at ${CHROMIUM} (apt-get install chromium, as .ci/run does, or set PTP_CHROMIUM)`;

/** The images of an edit of the photo run here in Node, as `ptp edit --image` does: input, reconstruction, edit. */
async function nodePhotoEdit(pipe: StableDiffusionPipeline, photo: Uint8Array): Promise<Rgb8[]> {
  const input = fitImage(decodeImage(photo), pipe.defaultSize, pipe.defaultSize);
  const inv = await pipe.invertNullText({
    image: input,
    prompt: PHOTO.caption,
    steps: PHOTO.steps,
    guidance: PHOTO.guidance,
    innerSteps: PHOTO.inner,
    scheduler: pipe.scheduler('ddim'),
  });
  const edit = checkSettings(
    settingsFromQuery(new URLSearchParams({ source: PHOTO.caption, target: PHOTO.target, mode: 'replace' }).toString())
      .settings,
  );
  const built = buildEdit(pipe.tokenizer, edit.spec);
  try {
    const r = await pipe.edit({
      prompts: built.prompts,
      steps: PHOTO.steps,
      guidance: PHOTO.guidance,
      scheduler: 'ddim',
      controller: built.controller,
      latents: inv.latents,
      uncondEmbeddings: inv.uncondEmbeddings,
    });
    return [
      { width: input.width, height: input.height, data: Uint8Array.from(input.data) },
      ...r.images.map((im) => ({ width: im.width, height: im.height, data: imageToUint8(im) })),
    ];
  } finally {
    built.controller.dispose();
  }
}

describeNeeding('web page (chromium): edit in the browser', chromiumMissing, 'PTP_REQUIRE_BROWSER', function () {
  let outDir: string;
  let shots: string;
  let server: Server;
  let browser: Browser;
  let base: string;
  let reference: Rgb8[];
  let photoReference: Rgb8[];
  let photoFile: string;
  let labels: string[];

  before(async function () {
    outDir = mkdtempSync(join(tmpdir(), 'ptp-web-'));
    shots = mkdtempSync(join(tmpdir(), 'ptp-web-screenshots-'));
    await buildPage({ outDir, copyModel: false });
    ({ url: base, server } = await serveStatic({ '/': outDir, '/models/shapes/': MODEL }, { isolate: true }));
    browser = await launchChromium();
    // The same edits in Node (this process's wasm backend), from the same settings.
    const edit = checkSettings(settingsFromQuery(query()).settings);
    const pipe = await loadPipelineFromDirectory(MODEL, { vaeEncoder: true });
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
      labels = tokenLabels(pipe.tokenizer, edit.spec.source);
      built.controller.dispose();
      photoFile = join(shots, 'upload.png');
      await writePng(photoFile, renderScene(sceneFromCaption(PHOTO.caption, new Rng(3)), PHOTO.size));
      photoReference = await nodePhotoEdit(pipe, readFileSync(photoFile));
    } finally {
      pipe.dispose();
    }
  });

  after(async () => {
    await browser?.close();
    server?.close();
    if (outDir) rmSync(outDir, { recursive: true, force: true });
  });

  const open = (query: string, at = base) => openPage(browser, `${at}/?${query}`);
  const screenshot = (page: Page, name: string) => screenshotTo(page, shots, name);

  async function runEdit(backend: string): Promise<{ page: Page; diffs: { max: number; mean: number }[] }> {
    const { page, errors } = await open(query({ backend, run: '1' }));
    const state = await settle(page, 480_000);
    await screenshot(page, backend);
    expect(state, (await page.locator('[data-role="error"]').textContent()) ?? '').to.equal('done');
    expect(errors, 'page errors').to.deep.equal([]);
    expect(await page.locator('[data-role="source"]').count()).to.equal(1);
    expect(await page.locator('[data-role="edit"]').count()).to.equal(1);
    const diffs = [
      levelDiff(await pagePixels(page, '[data-role="source"]'), reference[0]),
      levelDiff(await pagePixels(page, '[data-role="edit"]'), reference[1]),
    ];
    console.log(
      `      ${backend} vs Node (u8 levels): source max ${diffs[0].max} mean ${diffs[0].mean.toFixed(3)}, edit max ${diffs[1].max} mean ${diffs[1].mean.toFixed(3)}`,
    );
    expect(await page.locator('[data-role="perf"]').getAttribute('data-backend')).to.match(new RegExp(`^${backend}`));
    return { page, diffs };
  }

  it('wasm: the edit matches the Node result within 1 u8 level; one labelled attention map per token', async () => {
    const { page, diffs } = await runEdit('wasm');
    for (const d of diffs) expect(d.max).to.be.at.most(1);
    expect(
      await page.locator('[data-role="perf"]').getAttribute('data-sync-reads'),
      'synchronous tensor reads',
    ).to.equal('0');
    const grid = page.locator('[data-role="attention"] figure');
    expect(await grid.count()).to.equal(labels.length);
    expect(await grid.locator('figcaption').allTextContents()).to.deep.equal(labels);
    const size = (await page.locator('[data-role="attention"]').getAttribute('data-size'))!.split('×').map(Number);
    const natural = await grid
      .locator('img')
      .evaluateAll((imgs) =>
        imgs.map((i) => [(i as HTMLImageElement).naturalHeight, (i as HTMLImageElement).naturalWidth]),
      );
    expect(natural).to.deep.equal(labels.map(() => size));
    expect(await page.locator('[data-role="download"]').count()).to.equal(2);
    await page.close();
  });

  it('webgl (SwiftShader): the edit matches the Node result within WebGL precision, no tensor is read back during sampling; a lost context is reported', async () => {
    const { page, diffs } = await runEdit('webgl');
    // See README "The web page": float32 shaders, another summation order and SwiftShader's exp/log
    // change the latents by ~1e-5 relative; 3 guided steps and the VAE carry that to a few levels.
    for (const d of diffs) {
      expect(d.max).to.be.at.most(WEBGL_MAX_LEVELS);
      expect(d.mean).to.be.below(WEBGL_MEAN_LEVELS);
    }
    // The worker counts the backend's readSync/read calls: none between the start of sampling and
    // the end of its last step (steps are timed with fences), and some once decoding reads the images
    // (so the counter does see reads).
    expect(await page.locator('[data-role="perf"]').getAttribute('data-readbacks')).to.equal('0');
    expect(Number(await page.locator('[data-role="perf"]').getAttribute('data-readbacks-total'))).to.be.above(0);
    // ... and nothing is read synchronously in the whole run (tensors or WebGL kernels), images and attention maps included.
    expect(await page.locator('[data-role="perf"]').getAttribute('data-sync-reads')).to.equal('0');
    expect(await page.locator('[data-role="perf"]').getAttribute('data-kernel-sync-reads')).to.equal('0');

    // A lost context (as after a GPU reset) is one sentence; the page then runs on a fresh worker.
    await page.evaluate(() =>
      (globalThis as unknown as { ptpPage: { loseGpuContext(): void } }).ptpPage.loseGpuContext(),
    );
    await page.fill('[data-role="steps"]', '1');
    await page.click('[data-role="generate"]');
    expect(await settle(page, 240_000)).to.equal('error');
    await screenshot(page, 'webgl-context-lost');
    expect(await page.locator('[data-role="error"]').textContent()).to.equal(
      'The WebGL context was lost (the GPU was reset or ran out of memory); run again to start a fresh webgl backend, or choose wasm.',
    );
    await page.selectOption('[data-role="backend"]', 'wasm');
    await page.click('[data-role="generate"]');
    expect(await settle(page, 240_000)).to.equal('done');
    await page.close();
  });

  it('Cancel stops the run at the end of the current step and the page stays usable', async () => {
    const { page, errors } = await open(query({ steps: '50', backend: 'wasm', run: '1' }));
    const { at, done, status } = await cancelDuringSampling(page, { step: 240_000, stop: 60_000 }, () =>
      screenshot(page, 'cancelled'),
    );
    // The worker finishes the step it is in; it may be one step ahead of the page (a progress message in flight).
    expect(done, status).to.be.within(at, at + 2);
    expect(errors).to.deep.equal([]);
    await page.close();
  });

  it('a bad word or mismatched word counts show a one-sentence error, and the page then runs again', async () => {
    const { page, errors } = await open(query({ steps: '1', backend: 'wasm', blend: 'square', run: '1' }));
    expect(await settle(page, 240_000)).to.equal('error');
    await screenshot(page, 'error');
    const message = (await page.locator('[data-role="error"]').textContent())!;
    expect(message).to.equal(
      'Blend: "square" is not a word of "a red circle on a white background" or "a blue circle on a white background".',
    );
    expect(await page.locator('[data-role="error"]').isVisible()).to.equal(true);

    await page.fill('[data-role="blend"]', '');
    await page.fill('[data-role="target-prompts"]', 'a big blue circle on a white background');
    await page.click('[data-role="generate"]');
    expect(await settle(page, 120_000)).to.equal('error');
    expect(await page.locator('[data-role="error"]').textContent()).to.equal(
      'Mode replace needs the same number of words: "a red circle on a white background" has 7, "a big blue circle on a white background" has 8; use mode refine.',
    );

    await page.selectOption('[data-role="mode"]', 'auto');
    await page.click('[data-role="generate"]');
    expect(await settle(page, 240_000)).to.equal('done');
    expect(await page.locator('[data-role="error"]').isVisible()).to.equal(false);
    expect(await page.locator('[data-role="note"]').textContent()).to.equal(
      'mode: refine (the number of words differs)',
    );
    expect(await page.locator('[data-role="edit"]').count()).to.equal(1);
    expect(new URL(page.url()).searchParams.get('target')).to.equal('a big blue circle on a white background');
    expect(errors).to.deep.equal([]);
    await page.close();
  });

  it('an uploaded PNG: cropped/resized as the library does, null-text inverted with progress, then edited as in Node (wasm, ≤ 1 u8 level); the inversion is reused', async () => {
    const { page, errors } = await open(
      new URLSearchParams({
        source: PHOTO.caption,
        target: PHOTO.target,
        mode: 'replace',
        steps: String(PHOTO.steps),
        inner: String(PHOTO.inner),
        backend: 'wasm',
      }).toString(),
    );
    await page.locator('[data-role="upload"]').setInputFiles(photoFile);
    expect(await page.locator('[data-role="upload-preview"]').isVisible()).to.equal(true);
    // Record every progress phase the page shows.
    await page.evaluate(() => {
      const seen: string[] = [];
      (globalThis as unknown as { phases: string[] }).phases = seen;
      const bar = document.querySelector<HTMLElement>('[data-role="progress"]')!;
      new MutationObserver(() => {
        const p = bar.dataset.phase;
        if (p && seen[seen.length - 1] !== p) seen.push(p);
      }).observe(bar, { attributes: true });
    });
    await page.click('[data-role="generate"]');
    expect(await settle(page, 480_000)).to.equal(
      'done',
      (await page.locator('[data-role="error"]').textContent()) ?? '',
    );
    await screenshot(page, 'upload-edit');
    expect(await page.evaluate(() => (globalThis as unknown as { phases: string[] }).phases)).to.deep.equal([
      'inversion',
      'null-text',
      'sampling',
    ]);
    for (const role of ['input', 'source', 'edit'])
      expect(await page.locator(`[data-role="${role}"]`).count(), role).to.equal(1);
    const input = await pagePixels(page, '[data-role="input"]');
    expect(levelDiff(input, photoReference[0]).max, 'the page crops/resizes the upload exactly as fitImage').to.equal(
      0,
    );
    const diffs = [
      levelDiff(await pagePixels(page, '[data-role="source"]'), photoReference[1]),
      levelDiff(await pagePixels(page, '[data-role="edit"]'), photoReference[2]),
    ];
    console.log(
      `      uploaded image, wasm vs Node (u8 levels): reconstruction max ${diffs[0].max} mean ${diffs[0].mean.toFixed(3)}, edit max ${diffs[1].max} mean ${diffs[1].mean.toFixed(3)}`,
    );
    for (const d of diffs) expect(d.max).to.be.at.most(1);
    const perf = (await page.locator('[data-role="perf"]').textContent())!;
    expect(perf).to.match(
      new RegExp(`null-text [\\d.]+ s \\(\\d+ of at most ${PHOTO.steps * PHOTO.inner} Adam iterations\\)`),
    );
    expect(perf).to.match(/reconstruction PSNR\s*[\d.]+ dB/);
    expect(await page.locator('[data-role="source"]').getAttribute('alt')).to.equal(PHOTO.caption);

    // Another edit of the same image and caption samples from the held inversion.
    await page.fill('[data-role="target-prompts"]', 'a blue circle on a white background');
    await page.click('[data-role="generate"]');
    expect(await settle(page, 240_000)).to.equal('done');
    expect(await page.locator('[data-role="perf"]').textContent()).to.contain(
      'reused (same image, caption and settings)',
    );
    expect(await page.locator('[data-role="edit"]').getAttribute('alt')).to.equal(
      'a blue circle on a white background',
    );
    expect(await page.locator('[data-role="error"]').isVisible()).to.equal(false);

    // Removing the image goes back to generating from the seed.
    await page.click('[data-role="clear-upload"]');
    await page.click('[data-role="generate"]');
    expect(await settle(page, 240_000)).to.equal('done');
    expect(await page.locator('[data-role="input"]').count()).to.equal(0);
    expect(errors).to.deep.equal([]);
    await page.close();
  });

  /** Uploads the photo, starts, and presses Cancel once the null-text optimisation runs. */
  async function cancelNullText(page: Page): Promise<void> {
    await page.locator('[data-role="upload"]').setInputFiles(photoFile);
    await page.click('[data-role="generate"]');
    await page.waitForFunction(
      () => document.querySelector<HTMLElement>('[data-role="progress"]')!.dataset.phase === 'null-text',
      undefined,
      { timeout: 240_000, polling: 50 },
    );
    await page.locator('[data-role="cancel"]').click();
    expect(await settle(page, 60_000)).to.equal('idle');
    expect(await page.locator('[data-role="source"]').count()).to.equal(0);
  }

  it('Cancel stops the null-text inversion after its current iteration (isolated page) or by stopping the worker; a file that is not an image is one sentence; a JPEG runs', async () => {
    const long = new URLSearchParams({
      source: PHOTO.caption,
      target: PHOTO.target,
      steps: '50',
      inner: '10',
      backend: 'wasm',
    }).toString();
    const { page, errors } = await open(long);
    expect(await page.evaluate(() => globalThis.crossOriginIsolated), 'the test server sends COOP/COEP').to.equal(true);
    await cancelNullText(page);
    expect(await page.locator('[data-role="status"]').textContent()).to.equal(
      'Cancelled during the null-text inversion.',
    );

    await page
      .locator('[data-role="upload"]')
      .setInputFiles({ name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('not an image') });
    await page.click('[data-role="generate"]');
    expect(await settle(page, 60_000)).to.equal('error');
    expect(await page.locator('[data-role="error"]').textContent()).to.equal(
      'Upload "notes.png": not a PNG or JPEG file.',
    );
    expect(errors).to.deep.equal([]);
    await page.close();

    // Without COOP/COEP there is no shared flag: Cancel stops the worker, and the next run starts a fresh one.
    const plain = await serveStatic({ '/': outDir, '/models/shapes/': MODEL });
    try {
      const other = await open(long, plain.url);
      expect(await other.page.evaluate(() => globalThis.crossOriginIsolated)).to.equal(false);
      await cancelNullText(other.page);
      expect(await other.page.locator('[data-role="status"]').textContent()).to.equal(
        'Cancelled during the null-text inversion (its worker was stopped; the model loads again on the next run).',
      );
      // ... and a JPEG of the same scene, 160×120 (cropped to its centre square), runs on the fresh worker.
      const scene = renderScene(sceneFromCaption(PHOTO.caption, new Rng(3)), 160);
      const rgba = Buffer.alloc(160 * 120 * 4, 255);
      for (let p = 0; p < 160 * 120; p++)
        rgba.set(scene.data.subarray((p + 160 * 20) * 3, (p + 160 * 20) * 3 + 3), p * 4);
      await other.page.locator('[data-role="upload"]').setInputFiles({
        name: 'scene.jpg',
        mimeType: 'image/jpeg',
        buffer: jpeg.encode({ width: 160, height: 120, data: rgba }, 90).data,
      });
      await other.page.fill('[data-role="steps"]', '2');
      await other.page.fill('[data-role="inner"]', '1');
      await other.page.click('[data-role="generate"]');
      expect(await settle(other.page, 240_000)).to.equal(
        'done',
        (await other.page.locator('[data-role="error"]').textContent()) ?? '',
      );
      expect(await other.page.locator('[data-role="edit"]').count()).to.equal(1);
      const input = await pagePixels(other.page, '[data-role="input"]');
      expect([input.width, input.height]).to.deep.equal([128, 128]);
      expect(other.errors).to.deep.equal([]);
      await other.page.close();
    } finally {
      plain.server.close();
    }
  });
});
