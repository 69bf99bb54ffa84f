/**
 * Soak: several Prompt-to-Prompt sampling runs of many steps in one process (tiny-sd, Replace +
 * LocalBlend, one controller reused by every run, images decoded), checking that nothing
 * accumulates: after the first (warm-up) run, the live tensors and backend bytes at every step
 * and at the end of each run are the same as in the run before, and the process RSS stops
 * growing. Prints a table per run and one JSON line; exits 1 when the tensors or bytes are not
 * flat. Not a test (it takes minutes): `npm run soak`, or
 *
 *   node --import tsx bench/soak.ts [--runs=3] [--steps=100] [--size=128]
 */
import * as tf from '@tensorflow/tfjs-core';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initNodeBackend } from '../src/node/backend.js';
import { loadPipelineFromDirectory } from '../src/node/pipeline.js';
import { AttentionReplace } from '../src/ptp/replace.js';
import { LocalBlend } from '../src/ptp/local-blend.js';

const root = resolve(fileURLToPath(import.meta.url), '..', '..', process.argv[1]?.includes('/dist/') ? '..' : '');
const model = join(process.env.PTP_REFERENCE_DIR ?? resolve(root, '..', 'shared', 'reference'), 'tiny-sd');
const arg = (name: string, dflt: number) =>
  Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? dflt);
const runs = arg('runs', 3);
const steps = arg('steps', 100);
const size = arg('size', 128);
const mib = (b: number) => +(b / 2 ** 20).toFixed(1);

interface Sample {
  numTensors: number;
  numBytes: number;
  rss: number;
}

const sample = (): Sample => ({
  numTensors: tf.memory().numTensors,
  numBytes: tf.memory().numBytes,
  rss: process.memoryUsage.rss(),
});

async function main(): Promise<number> {
  const backend = await initNodeBackend(process.env.PTP_BACKEND ?? 'wasm');
  const beforeLoad = sample();
  const pipe = await loadPipelineFromDirectory(model);
  const prompts = ['a cat riding a bicycle', 'a dog riding a bicycle'];
  const tokenizer = pipe.tokenizer;
  const controller = new AttentionReplace({
    tokenizer,
    prompts,
    crossReplaceSteps: 0.8,
    selfReplaceSteps: 0.4,
    localBlend: new LocalBlend(tokenizer, prompts, ['cat', 'dog']),
  });
  console.log(
    `soak: ${backend.description}; ${runs} runs × ${steps} steps, ${size}×${size}, 2 prompts (UNet batch 4), Replace + LocalBlend (one controller for every run)`,
  );
  const perRun: { seconds: number; steps: Sample[]; end: Sample }[] = [];
  for (let r = 0; r < runs; r++) {
    const stepSamples: Sample[] = [];
    const t0 = performance.now();
    const out = await pipe.edit({
      prompts,
      steps,
      seed: 8888 + r,
      height: size,
      width: size,
      scheduler: 'ddim',
      controller,
      onStep: () => stepSamples.push(sample()),
    });
    if (out.images.length !== 2) throw new Error('expected two images');
    perRun.push({ seconds: (performance.now() - t0) / 1000, steps: stepSamples, end: sample() });
    const e = perRun[r].end;
    const during = stepSamples.map((s) => s.numTensors);
    console.log(
      `  run ${r + 1}: ${perRun[r].seconds.toFixed(1)} s; tensors during ${Math.min(...during)}–${Math.max(...during)}, after ${e.numTensors}; ` +
        `backend ${mib(e.numBytes)} MiB; RSS ${mib(e.rss)} MiB (peak during ${mib(Math.max(...stepSamples.map((s) => s.rss)))} MiB)`,
    );
  }
  controller.dispose();
  pipe.dispose();
  const end = sample();
  // Flat: every run after the first matches the one before step by step and at its end.
  const same = (a: Sample, b: Sample) => a.numTensors === b.numTensors && a.numBytes === b.numBytes;
  const flat = perRun
    .slice(1)
    .every((run, i) => same(run.end, perRun[i].end) && run.steps.every((s, k) => same(s, perRun[i].steps[k])));
  const rssGrowth = runs > 2 ? perRun[runs - 1].end.rss - perRun[1].end.rss : 0;
  console.log(
    `  after dispose: ${end.numTensors} tensors (${beforeLoad.numTensors} before loading), ${mib(end.numBytes)} MiB backend`,
  );
  console.log(
    `  tensors and bytes flat after the warm-up run: ${flat ? 'yes' : 'NO'}; RSS change from the end of run 2 to the end of run ${runs}: ${mib(rssGrowth)} MiB`,
  );
  console.log(
    JSON.stringify({
      soak_runs: runs,
      soak_steps: steps,
      soak_size: size,
      soak_flat: flat,
      soak_tensors_after_run: perRun.map((r) => r.end.numTensors),
      soak_backend_mb_after_run: perRun.map((r) => mib(r.end.numBytes)),
      soak_rss_mb_after_run: perRun.map((r) => mib(r.end.rss)),
      soak_rss_growth_after_warmup_mb: mib(rssGrowth),
      soak_seconds_per_run: perRun.map((r) => +r.seconds.toFixed(1)),
      soak_tensors_after_dispose: end.numTensors,
    }),
  );
  return flat && end.numTensors === beforeLoad.numTensors ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`soak: ${(e as Error).message}`);
    process.exit(2);
  },
);
