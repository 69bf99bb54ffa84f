/**
 * The library in a real browser (Debian chromium via playwright-core): the same modules, bundled
 * with esbuild, load the tiny model over HTTP range requests and generate on webgl (SwiftShader)
 * and wasm; results are compared with this Node process.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'node:http';
import { expect } from 'chai';
import * as esbuild from 'esbuild';
import type { Browser } from 'playwright-core';
import { CHROMIUM, launchChromium } from '../web/chromium.js';
import { loadPipelineFromDirectory } from '../src/node/pipeline.js';
import { AttentionStore } from '../src/ptp/store.js';
import { referenceMissing, repoRoot, tinySdDir } from './helpers/reference.js';
import { describeNeeding } from './helpers/requirement.js';
import { serveStatic } from '../web/server.js';
import { browserBundleOptions } from '../web/build.js';
import type { SmokeRequest, SmokeResult } from './browser/entry.js';

const REQUEST = { prompt: 'a cat riding a bicycle', steps: 3, size: 64, seed: 7 };

/** Standard deviation of the values (a blank or constant image has ~0). */
function spread(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m += a[i];
  m /= a.length;
  let v = 0;
  for (let i = 0; i < a.length; i++) v += (a[i] - m) ** 2;
  return Math.sqrt(v / a.length);
}

function maxRelDiff(a: readonly number[], b: ArrayLike<number>): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return d / m;
}

/** What this suite lacks: chromium (PTP_REQUIRE_BROWSER makes that a failure) or the fixtures. */
const chromiumMissing = existsSync(CHROMIUM)
  ? undefined
  : `chromium at ${CHROMIUM} (apt-get install chromium, as .ci/run does, or set PTP_CHROMIUM)`;
const lacks = (
  [
    [chromiumMissing, 'PTP_REQUIRE_BROWSER'],
    [referenceMissing, 'PTP_REQUIRE_REFERENCE'],
  ] as const
).filter(([m]) => m !== undefined);
// A requirement that is set wins (a failure), else the first thing missing (a loud skip).
const [missing, requireVar] = lacks.find(([, v]) => process.env[v]) ?? lacks[0] ?? [undefined, 'PTP_REQUIRE_BROWSER'];

describeNeeding('browser (chromium): the library bundled for the web', missing, requireVar, function () {
  let dir: string;
  let server: Server;
  let browser: Browser;
  let base: string;
  let reference: { latents: Float32Array; image: Float32Array; crossMaps: Float32Array };

  before(async function () {
    dir = mkdtempSync(join(tmpdir(), 'ptp-browser-'));
    await esbuild.build({
      ...browserBundleOptions,
      entryPoints: [join(repoRoot, 'test/browser/entry.ts')],
      outfile: join(dir, 'bundle.js'),
    });
    writeFileSync(
      join(dir, 'index.html'),
      '<!doctype html><meta charset="utf-8"><script type="module" src="/bundle.js"></script>',
    );
    ({ url: base, server } = await serveStatic({
      '/model/': tinySdDir,
      '/tfjs-wasm/': join(repoRoot, 'node_modules/@tensorflow/tfjs-backend-wasm/dist'),
      '/': dir,
    }));
    browser = await launchChromium();
    // The same run in Node (the test process's backend) as the reference.
    const pipe = await loadPipelineFromDirectory(tinySdDir);
    const store = new AttentionStore({ numPrompts: 1 });
    const r = await pipe.generate({
      prompts: [REQUEST.prompt],
      steps: REQUEST.steps,
      seed: REQUEST.seed,
      height: REQUEST.size,
      width: REQUEST.size,
      scheduler: 'ddim',
      controller: store,
    });
    const maps = store.aggregateAttention(REQUEST.size / 16, ['up', 'down'], true, 0);
    reference = { latents: r.latents.data, image: r.images[0].data, crossMaps: maps.dataSync() as Float32Array };
    // The tiny model's random weights still draw structure: the reference is not blank.
    expect(spread(reference.image), 'spread of the Node image').to.be.above(0.01);
    maps.dispose();
    store.dispose();
    pipe.dispose();
  });

  after(async () => {
    await browser?.close();
    server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function runIn(backend: string): Promise<SmokeResult> {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}/index.html`);
    await page.waitForFunction(() => 'runSmoke' in globalThis, undefined, { timeout: 30000 });
    const req: SmokeRequest = { backend, modelUrl: `${base}/model/`, wasmPaths: `${base}/tfjs-wasm/`, ...REQUEST };
    try {
      return await page.evaluate(
        (r) => (globalThis as unknown as { runSmoke(x: SmokeRequest): Promise<SmokeResult> }).runSmoke(r),
        req,
      );
    } finally {
      await page.close();
      expect(errors, 'page errors').to.deep.equal([]);
    }
  }

  /** The decoded image: its size, not blank, and within `rel` of the Node image (relative to its largest value). */
  function checkImage(r: SmokeResult, rel: number): void {
    expect([r.width, r.height], 'image size').to.deep.equal([REQUEST.size, REQUEST.size]);
    expect(r.image.length).to.equal(REQUEST.size * REQUEST.size * 3);
    expect(r.image.every(Number.isFinite), 'finite pixels').to.equal(true);
    expect(spread(r.image), 'spread of the browser image (not blank)').to.be.above(0.5 * spread(reference.image));
    expect(maxRelDiff(r.image, reference.image), 'image vs Node').to.be.below(rel);
  }

  it('wasm in the browser gives the Node results (same kernels)', async () => {
    const r = await runIn('wasm');
    expect(r.backend).to.match(/^wasm/);
    expect(r.leakedTensors).to.equal(0);
    expect(maxRelDiff(r.latents, reference.latents)).to.be.below(1e-5);
    expect(maxRelDiff(r.crossMaps, reference.crossMaps)).to.be.below(1e-5);
    // The same kernels as Node: the latents' bound (float32 rounding) holds for their decode.
    checkImage(r, 1e-5);
  });

  it('webgl (SwiftShader) runs the same pipeline within WebGL precision', async () => {
    const r = await runIn('webgl');
    expect(r.backend).to.match(/^webgl/);
    expect(r.leakedTensors).to.equal(0);
    // README: WebGL needs ~10–100× looser bounds than the CPU's 1e-4 of the range.
    expect(maxRelDiff(r.latents, reference.latents)).to.be.below(1e-2);
    expect(maxRelDiff(r.crossMaps, reference.crossMaps)).to.be.below(1e-2);
    // Reference README: with a WebGL backend expect ~1e-2 on the image.
    checkImage(r, 1e-2);
  });
});
