/**
 * `npm run bench:web [-- --steps=5 --backends=webgl,webgpu,wasm --model-dir=DIR --screenshot=FILE]`:
 * the web page in headless chromium (WebGL/WebGPU on SwiftShader here), one edit per backend with
 * `&run=1`, the page's own timings read back. Prints a table with ratios to wasm and ends with one
 * JSON line. `--screenshot` saves the page after the first backend's run (the README's picture).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { demoModelDir } from '../src/node/package-files.js';
import { buildPage } from '../web/build.js';
import { launchChromium } from '../web/chromium.js';
import { serveStatic } from '../web/server.js';

const arg = (name: string, dflt: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const steps = Number(arg('steps', '5'));
const backends = arg('backends', 'webgl,webgpu,wasm').split(',');
const modelDir = resolve(arg('model-dir', demoModelDir()));
const screenshot = arg('screenshot', '');
const timeoutS = Number(arg('timeout', '900'));

interface Row {
  backend: string;
  description?: string;
  loadS?: number;
  firstStepS?: number;
  secondsPerStep?: number;
  decodeS?: number;
  readbacks?: number;
  error?: string;
}

/** "12.34 s" → 12.34 from the page's performance list. */
function seconds(perf: Record<string, string>, key: string): number | undefined {
  const v = Object.entries(perf).find(([k]) => k.startsWith(key))?.[1];
  const m = v && /^([\d.]+) s/.exec(v);
  return m ? Number(m[1]) : undefined;
}

async function main(): Promise<void> {
  const out = mkdtempSync(join(tmpdir(), 'ptp-bench-web-'));
  await buildPage({ outDir: out, copyModel: false });
  const { url, server } = await serveStatic({ '/': out, '/models/shapes/': modelDir }, { isolate: true });
  const browser = await launchChromium({ webgpu: true });
  const rows: Row[] = [];
  console.log(`web page, ${steps} steps, default edit, model ${modelDir}`);
  try {
    for (const [i, backend] of backends.entries()) {
      const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
      const row: Row = { backend };
      try {
        await page.goto(`${url}/?steps=${steps}&seed=1&backend=${backend}&run=1`);
        await page.waitForFunction(() => document.body.dataset.state !== 'running', undefined, { timeout: timeoutS * 1000, polling: 500 });
        if ((await page.evaluate(() => document.body.dataset.state)) !== 'done') {
          row.error = (await page.locator('[data-role="error"]').textContent()) ?? 'failed';
        } else {
          const perf = await page.evaluate(() => {
            const dl = document.querySelector('[data-role="perf"]')!;
            const keys = Array.from(dl.querySelectorAll('dt')).map((d) => d.textContent ?? '');
            const values = Array.from(dl.querySelectorAll('dd')).map((d) => d.textContent ?? '');
            return Object.fromEntries(keys.map((k, j) => [k, values[j]]));
          });
          Object.assign(row, {
            description: perf.backend, loadS: seconds(perf, 'model load'), firstStepS: seconds(perf, 'first step'),
            secondsPerStep: seconds(perf, 'seconds per step'), decodeS: seconds(perf, 'decode'), readbacks: Number(await page.locator('[data-role="perf"]').getAttribute('data-readbacks')),
          });
          if (screenshot && i === 0) {
            await page.screenshot({ path: screenshot, fullPage: true });
            console.log(`screenshot: ${screenshot}`);
          }
        }
      } catch (e) {
        row.error = (e as Error).message.split('\n')[0];
      } finally {
        await page.close().catch(() => {});
      }
      rows.push(row);
      const r = row.error ? `failed: ${row.error}` : `${row.secondsPerStep} s/step (first step ${row.firstStepS} s, load ${row.loadS} s, decode ${row.decodeS} s, reads during sampling ${row.readbacks}) — ${row.description}`;
      console.log(`  ${backend}: ${r}`);
    }
  } finally {
    await browser.close();
    server.close();
    rmSync(out, { recursive: true, force: true });
  }
  const wasm = rows.find((r) => r.backend === 'wasm')?.secondsPerStep;
  const json: Record<string, number | string> = { web_steps: steps };
  for (const r of rows) {
    if (r.secondsPerStep === undefined) continue;
    json[`web_${r.backend}_s_per_step`] = r.secondsPerStep;
    if (wasm && r.backend !== 'wasm') {
      json[`web_${r.backend}_vs_wasm`] = +(r.secondsPerStep / wasm).toFixed(2);
      console.log(`  ${r.backend} / wasm: ${(r.secondsPerStep / wasm).toFixed(2)}× the time per step`);
    }
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
