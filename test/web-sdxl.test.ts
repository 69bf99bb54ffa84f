/**
 * The web page with SD-XL model directories (chromium, wasm): an edit of tiny-sdxl served beside
 * the page matches the same edit in Node, and the real SD-XL base configs (served without weights)
 * are refused at 1024×1024 from their configs alone, before any weight is fetched, with the memory
 * the run needs.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'node:http';
import { expect } from 'chai';
import type { Browser, Page } from 'playwright-core';
import { buildEdit, imageToUint8 } from '../src/index.js';
import { loadPipelineFromDirectory } from '../src/node/pipeline.js';
import { buildPage } from '../web/build.js';
import { serveStatic } from '../web/server.js';
import { checkSettings } from '../web/page/edit-settings.js';
import { settingsFromQuery } from '../web/page/settings.js';
import { CHROMIUM, launchChromium } from '../web/chromium.js';
import { describeNeeding } from './helpers/requirement.js';
import { pagePixels, type Rgb8 } from './helpers/images.js';
import { hasReference, referenceDir, repoRoot } from './helpers/reference.js';

const EDIT = {
  source: 'a cat riding a bicycle',
  target: 'a dog riding a bicycle',
  mode: 'replace',
  steps: '3',
  seed: '7',
  backend: 'wasm',
  run: '1',
};
const missing = !existsSync(CHROMIUM)
  ? `chromium at ${CHROMIUM} (apt-get install chromium, or set PTP_CHROMIUM)`
  : !hasReference
    ? `the reference fixtures (${referenceDir})`
    : undefined;

describeNeeding(
  'web page (chromium) with SD-XL models',
  missing,
  existsSync(CHROMIUM) ? 'PTP_REQUIRE_REFERENCE' : 'PTP_REQUIRE_BROWSER',
  function () {
    let outDir: string;
    let server: Server;
    let browser: Browser;
    let base: string;

    before(async function () {
      outDir = mkdtempSync(join(tmpdir(), 'ptp-web-sdxl-'));
      await buildPage({ outDir, copyModel: false });
      ({ url: base, server } = await serveStatic(
        {
          '/': outDir,
          '/models/tiny-sdxl/': join(referenceDir, 'tiny-sdxl'),
          '/models/sdxl-base/': join(repoRoot, 'weights-tools', 'sdxl-config'),
        },
        { isolate: true },
      ));
      browser = await launchChromium();
    });
    after(async () => {
      await browser?.close();
      server?.close();
      if (outDir) rmSync(outDir, { recursive: true, force: true });
    });

    async function open(
      q: Record<string, string>,
    ): Promise<{ page: Page; state: string; errors: string[]; requests: string[] }> {
      const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
      const errors: string[] = [];
      const requests: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('request', (r) => requests.push(new URL(r.url()).pathname));
      await page.goto(`${base}/?${new URLSearchParams(q).toString()}`);
      await page.waitForFunction(() => document.body.dataset.state !== 'running', undefined, {
        timeout: 480_000,
        polling: 250,
      });
      return { page, state: (await page.evaluate(() => document.body.dataset.state))!, errors, requests };
    }

    it('tiny-sdxl: the edit (two text encoders, added conditioning, force-zeros unconditional branch) matches Node within 1 u8 level', async () => {
      const q = { ...EDIT, model: 'models/tiny-sdxl/' };
      const edit = checkSettings(settingsFromQuery(new URLSearchParams(q).toString()).settings);
      const pipe = await loadPipelineFromDirectory(join(referenceDir, 'tiny-sdxl'));
      let reference: Rgb8[];
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
        built.controller.dispose();
        reference = r.images.map((im) => ({ width: im.width, height: im.height, data: imageToUint8(im) }));
      } finally {
        pipe.dispose();
      }
      const { page, state, errors, requests } = await open(q);
      expect(state, (await page.locator('[data-role="error"]').textContent()) ?? '').to.equal('done');
      expect(errors).to.deep.equal([]);
      expect(requests).to.include('/models/tiny-sdxl/text_encoder_2/model.safetensors');
      for (const [i, role] of ['source', 'edit'].entries()) {
        const got = await pagePixels(page, `[data-role="${role}"]`);
        expect([got.width, got.height]).to.deep.equal([128, 128]);
        const max = got.data.reduce((m, v, k) => Math.max(m, Math.abs(v - reference[i].data[k])), 0);
        expect(max, `${role} vs Node, max u8 levels`).to.be.at.most(1);
      }
      await page.close();
    });

    it('SD-XL base at 1024×1024 on wasm: refused from the configs with the memory it needs; no weight is fetched', async () => {
      const { page, state, requests } = await open({ ...EDIT, model: 'models/sdxl-base/' });
      expect(state).to.equal('error');
      const message = (await page.locator('[data-role="error"]').textContent())!;
      expect(message).to.match(
        /^1024×1024 does not fit: it needs about [\d.]+ GiB of backend memory \(UNet call 2\.[\d] GiB, VAE decode 4\.0 GiB, 0\.00 GiB in use\) but the wasm heap budget \(PTP_WASM_HEAP_LIMIT_MB\) is 3\.5 GiB; choose a smaller size\.$/,
      );
      expect(requests.filter((r) => r.endsWith('.safetensors'))).to.deep.equal([]);
      await page.close();
    });
  },
);
