/**
 * Error of the native backend's precisions on the pipeline fixtures (tiny-sd, 256×256,
 * DDIM-50 and PNDM-20 with CFG, from ../shared/reference/cases): for fp32 and bf16, the largest
 * |ours − diffusers| of every output and the smallest atol (at the fixtures' rtol) it meets,
 * next to the fixture tolerance. Ends with one JSON line.
 *
 *   node --import tsx bench/precision.ts [--cases=pipeline_ddim50,pipeline_pndm20] [--precisions=fp32,bf16]
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SafetensorsFile } from '../src/io/safetensors.js';
import { FileByteSource } from '../src/node/file-source.js';
import { initNodeBackend } from '../src/node/backend.js';
import { setNativePrecision } from '../src/node/native/candidate.js';
import type { NativePrecision } from '../src/node/native/addon.js';
import { loadPipelineFromDirectory } from '../src/node/pipeline.js';

const root = resolve(fileURLToPath(import.meta.url), '..', '..', process.argv[1]?.includes('/dist/') ? '..' : '');
const refDir = process.env.PTP_REFERENCE_DIR ?? resolve(root, '..', 'shared', 'reference');
const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const cases = (arg('cases') ?? 'pipeline_ddim50,pipeline_pndm20').split(',');
const precisions = (arg('precisions') ?? 'fp32,bf16').split(',') as NativePrecision[];

interface Tol {
  atol: number;
  rtol: number;
}

/** Max |a − b| and the smallest atol with |a − b| ≤ atol + rtol·|b| everywhere. */
function errors(a: ArrayLike<number>, b: ArrayLike<number>, rtol: number) {
  let maxAbs = 0;
  let atol = 0;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    maxAbs = Math.max(maxAbs, d);
    atol = Math.max(atol, d - rtol * Math.abs(b[i]));
  }
  return { maxAbs, atol };
}

async function main(): Promise<void> {
  const backend = await initNodeBackend('native');
  console.log(`backend: ${backend.description}`);
  const index = JSON.parse(readFileSync(join(refDir, 'cases', 'index.json'), 'utf8')) as {
    cases: Record<string, { prompts: string[]; negative_prompts?: string[]; tolerance: Record<string, Tol> }>;
  };
  const pipe = await loadPipelineFromDirectory(join(refDir, 'tiny-sd'));
  const out: Record<string, unknown> = {};
  const rows: string[][] = [['case', 'precision', 'output', 'max |Δ|', 'atol met', 'fixture atol', 'within fixture']];
  for (const name of cases) {
    const meta = index.cases[name];
    const file = await SafetensorsFile.open(await FileByteSource.open(join(refDir, 'cases', `${name}.safetensors`)));
    const fx = async (k: string) => ({ data: await file.readFloat32(k), shape: [...file.info(k).shape] });
    for (const p of precisions) {
      setNativePrecision(p);
      const t0 = performance.now();
      const r = await pipe.generate({
        prompts: meta.prompts,
        negativePrompts: meta.negative_prompts,
        steps: name.includes('pndm') ? 20 : 50,
        guidance: 7.5,
        latents: await fx('init_latents'),
        scheduler: name.includes('pndm') ? 'pndm' : 'ddim',
        keepLatentsPerStep: true,
      });
      const seconds = (performance.now() - t0) / 1000;
      const image = new Float32Array(r.images.flatMap((im) => Array.from(im.data)));
      const perStep = r.latentsPerStep!.data;
      const stepSize = perStep.length / r.latentsPerStep!.shape[0];
      for (const [key, got] of [
        ['step 1 latents', perStep.subarray(0, stepSize)],
        ['latents_per_step', perStep],
        ['final_latents', r.latents.data],
        ['image', image],
      ] as const) {
        const fxKey = key === 'step 1 latents' ? 'latents_per_step' : key;
        const tol = meta.tolerance[fxKey];
        const want = (await fx(fxKey)).data;
        const e = errors(got, want.subarray(0, got.length), tol.rtol);
        rows.push([
          name,
          p,
          key,
          e.maxAbs.toExponential(2),
          e.atol.toExponential(2),
          String(tol.atol),
          e.atol <= tol.atol ? 'yes' : 'no',
        ]);
        out[`${name}_${p}_${key.replace(/ /g, '_')}_atol`] = +e.atol.toExponential(3);
      }
      out[`${name}_${p}_s`] = +seconds.toFixed(2);
    }
  }
  setNativePrecision('fp32');
  pipe.dispose();
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  rows.forEach((r, k) => {
    console.log(r.map((c, i) => c.padEnd(w[i])).join('  '));
    if (k === 0) console.log(w.map((n) => '-'.repeat(n)).join('  '));
  });
  console.log(JSON.stringify(out));
}

await main();
process.exit(0);
