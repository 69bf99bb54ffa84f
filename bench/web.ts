/**
 * `npm run bench:web [-- --steps=5 --backends=webgl,webgpu,wasm --model-dir=DIR --screenshot=FILE
 *  --invert-backends=wasm,webgl --invert-steps=3 --inner=2]`: the web page in headless chromium
 * (WebGL/WebGPU on SwiftShader here), driven like a user with `&run=1`:
 *  1. per backend, the default edit (two prompts) with `--steps`; the page's own timings read back;
 *  2. per `--invert-backends`, an uploaded 128×128 PNG (a rendered shapes scene) null-text
 *     inverted with `--invert-steps` × `--inner` and edited: DDIM and null-text times.
 * Chromium runs with WebGPU on SwiftShader (Chrome's CPU Vulkan): WebGL and WebGPU then run on
 * the CPU, far slower than wasm (and WebGPU compiles every shader on the CPU: minutes for the
 * first step). A backend the browser lacks (no WebGPU adapter) or that fails is reported with its
 * one-sentence error (and the seconds per step it reached, if any). Prints a table with ratios to
 * wasm and ends with one JSON line. `--screenshot` saves the page after the first backend's edit
 * (the README's picture); `--timeout` is per run, in seconds.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { demoModelDir } from '../src/node/package-files.js';
import { writePng } from '../src/node/png.js';
import { Rng, renderScene, sceneFromCaption } from '../src/shapes/world/index.js';
import { buildPage } from '../web/build.js';
import { launchChromium } from '../web/chromium.js';
import { serveStatic } from '../web/server.js';

const arg = (name: string, dflt: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const list = (v: string) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
const steps = Number(arg('steps', '5'));
const backends = list(arg('backends', 'webgl,webgpu,wasm'));
const invertBackends = list(arg('invert-backends', 'wasm,webgl'));
const invertSteps = Number(arg('invert-steps', '3'));
const inner = Number(arg('inner', '2'));
const modelDir = resolve(arg('model-dir', demoModelDir()));
const screenshot = arg('screenshot', '');
const timeoutS = Number(arg('timeout', '3600'));

const CAPTION = 'a red circle on a white background';

interface Row {
  backend: string;
  description?: string;
  loadS?: number;
  firstStepS?: number;
  secondsPerStep?: number;
  decodeS?: number;
  readbacks?: number;
  /** Synchronous tensor reads in the run (dataSync and the like; 0 expected). */
  syncReads?: number;
  /** Uploaded image: DDIM inversion and null-text optimisation seconds, Adam iterations. */
  ddimS?: number;
  nullTextS?: number;
  iterations?: number;
  error?: string;
}

/** "12.34 s" → 12.34 from a value of the page's performance list. */
function seconds(text: string | undefined): number | undefined {
  const m = text && /([\d.]+) s/.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** Waits for the run to end; returns the last "… s/step" the status showed (the step time of a run that then failed). */
async function settle(page: Page): Promise<number | undefined> {
  const deadline = Date.now() + timeoutS * 1000;
  let last: number | undefined;
  while ((await page.evaluate(() => document.body.dataset.state)) === 'running') {
    if (Date.now() > deadline) throw new Error(`no result after ${timeoutS} s`);
    const m = /([\d.]+) s\/step/.exec((await page.locator('[data-role="status"]').textContent()) ?? '');
    if (m && (await page.locator('[data-role="progress"]').getAttribute('data-phase')) === 'sampling')
      last = Number(m[1]);
    await new Promise((r) => setTimeout(r, 500));
  }
  return last;
}

/** Runs the page at `query` (plus `upload`) and reads its timings into a row. */
async function measure(
  browser: Browser,
  base: string,
  backend: string,
  query: string,
  upload?: string,
  shot?: string,
): Promise<Row> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const row: Row = { backend };
  try {
    await page.goto(`${base}/?${query}&backend=${backend}${upload ? '' : '&run=1'}`);
    if (upload) {
      await page.locator('[data-role="upload"]').setInputFiles(upload);
      await page.click('[data-role="generate"]');
    }
    const lastStep = await settle(page);
    if ((await page.evaluate(() => document.body.dataset.state)) !== 'done') {
      row.error = (await page.locator('[data-role="error"]').textContent()) ?? 'failed';
      row.secondsPerStep = lastStep;
      return row;
    }
    const perf = await page.evaluate(() => {
      const dl = document.querySelector('[data-role="perf"]')!;
      const keys = Array.from(dl.querySelectorAll('dt')).map((d) => d.textContent ?? '');
      const values = Array.from(dl.querySelectorAll('dd')).map((d) => d.textContent ?? '');
      return Object.fromEntries(keys.map((k, j) => [k, values[j]]));
    });
    const value = (key: string) => Object.entries(perf).find(([k]) => k.startsWith(key))?.[1];
    const inversion = value('inversion');
    Object.assign(row, {
      description: perf.backend,
      loadS: seconds(value('model load')),
      firstStepS: seconds(value('first step')),
      secondsPerStep: Number(await page.locator('[data-role="perf"]').getAttribute('data-seconds-per-step')),
      decodeS: seconds(value('decode')),
      readbacks: Number(await page.locator('[data-role="perf"]').getAttribute('data-readbacks')),
      syncReads: Number(await page.locator('[data-role="perf"]').getAttribute('data-sync-reads')),
      ddimS: seconds(/DDIM ([\d.]+ s)/.exec(inversion ?? '')?.[1]),
      nullTextS: seconds(/null-text ([\d.]+ s)/.exec(inversion ?? '')?.[1]),
      iterations: Number(/\((\d+) of at most/.exec(inversion ?? '')?.[1] ?? NaN) || undefined,
    });
    if (shot) {
      await page.screenshot({ path: shot, fullPage: true });
      console.log(`screenshot: ${shot}`);
    }
  } catch (e) {
    row.error = (e as Error).message.split('\n')[0];
  } finally {
    await page.close().catch(() => {});
  }
  return row;
}

const f2 = (v: number | undefined) => (v === undefined ? '–' : v.toFixed(2));

async function main(): Promise<void> {
  const out = mkdtempSync(join(tmpdir(), 'ptp-bench-web-'));
  await buildPage({ outDir: out, copyModel: false });
  const photo = join(out, 'upload.png');
  await writePng(photo, renderScene(sceneFromCaption(CAPTION, new Rng(3)), 128));
  const { url, server } = await serveStatic({ '/': out, '/models/shapes/': modelDir }, { isolate: true });
  const browser = await launchChromium({ webgpu: true });
  const edits: Row[] = [];
  const inversions: Row[] = [];
  console.log(`web page in headless chromium (${browser.version()}), model ${modelDir}`);
  try {
    console.log(`default edit (2 prompts), ${steps} steps:`);
    for (const [i, backend] of backends.entries()) {
      const row = await measure(
        browser,
        url,
        backend,
        `steps=${steps}&seed=1`,
        undefined,
        i === 0 && screenshot ? screenshot : undefined,
      );
      edits.push(row);
      const r = row.error
        ? `failed: ${row.error}${row.secondsPerStep !== undefined ? ` (after steps at ${row.secondsPerStep} s/step)` : ''}`
        : `${f2(row.secondsPerStep)} s/step (first step ${row.firstStepS} s, load ${row.loadS} s, decode ${row.decodeS} s, tensor reads during sampling ${row.readbacks}, synchronous reads ${row.syncReads}) — ${row.description}`;
      console.log(`  ${backend}: ${r}`);
    }
    if (invertSteps > 0)
      console.log(
        `uploaded 128×128 image: null-text inversion ${invertSteps} steps × ≤ ${inner} iterations, then a replace edit:`,
      );
    for (const backend of invertSteps > 0 ? invertBackends : []) {
      const row = await measure(
        browser,
        url,
        backend,
        new URLSearchParams({
          source: CAPTION,
          target: 'a red square on a white background',
          steps: String(invertSteps),
          inner: String(inner),
        }).toString(),
        photo,
      );
      inversions.push(row);
      const r = row.error
        ? `failed: ${row.error}`
        : `DDIM inversion ${row.ddimS} s, null-text ${row.nullTextS} s (${row.iterations} iterations, ${f2(row.nullTextS! / row.iterations!)} s each), edit ${f2(row.secondsPerStep)} s/step`;
      console.log(`  ${backend}: ${r}`);
    }
  } finally {
    await browser.close();
    server.close();
    rmSync(out, { recursive: true, force: true });
  }
  const json: Record<string, number | string> = { web_steps: steps };
  const wasm = edits.find((r) => r.backend === 'wasm' && !r.error)?.secondsPerStep;
  for (const r of edits) {
    if (r.error) json[`web_${r.backend}_error`] = r.error;
    if (r.secondsPerStep === undefined) continue;
    json[`web_${r.backend}_s_per_step`] = +r.secondsPerStep.toFixed(3);
    if (r.firstStepS !== undefined) json[`web_${r.backend}_first_step_s`] = +r.firstStepS.toFixed(2);
    if (r.decodeS !== undefined) json[`web_${r.backend}_decode_s`] = +r.decodeS.toFixed(2);
    if (r.syncReads !== undefined) json[`web_${r.backend}_sync_reads`] = r.syncReads;
    if (wasm && r.backend !== 'wasm') {
      json[`web_${r.backend}_vs_wasm`] = +(r.secondsPerStep / wasm).toFixed(2);
      console.log(`  ${r.backend} / wasm: ${(r.secondsPerStep / wasm).toFixed(2)}× the time per step`);
    }
  }
  for (const r of inversions) {
    if (r.error) json[`web_invert_${r.backend}_error`] = r.error;
    else json[`web_invert_${r.backend}_s_per_iteration`] = +(r.nullTextS! / r.iterations!).toFixed(3);
  }
  console.log(JSON.stringify(json));
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    console.error(`bench:web: ${e.message.split('\n')[0]}`);
    process.exit(1);
  },
);
