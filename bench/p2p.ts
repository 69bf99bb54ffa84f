/**
 * The SD-1.5-sized Prompt-to-Prompt edit on the selected backend: 512×512, two prompts (UNet
 * batch 4 with CFG), Replace + LocalBlend, random weights built from ../shared/reference/
 * sd15-config, every weight kept on the host (float16, as the fp16 variant files load) and
 * streamed to the backend per block. Prints progress and one JSON line with the time, the peak
 * process RSS, the peak live backend bytes and the wasm heap size. Run in its own process (so
 * the RSS high-water mark is this run's): `npm run bench -- --only=p2p`, or
 *
 *   node dist/bench/p2p.js [--steps=2] [--fp32]
 */
import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initNodeBackend } from '../src/node/backend.js';
import { getWasmHeapLimit, resetWasmPeakBytes, wasmPeakBytes } from '../src/backend/wasm-patches.js';
import { ClipTokenizer } from '../src/models/clip/tokenizer.js';
import { ClipTextModel } from '../src/models/clip/text-model.js';
import { ClipPromptEncoder } from '../src/models/clip/prompt-encoder.js';
import { UNet2DConditionModel } from '../src/models/unet/unet.js';
import { AutoencoderKL } from '../src/models/vae/autoencoder-kl.js';
import { StableDiffusionPipeline } from '../src/pipeline/pipeline.js';
import { AttentionReplace, LocalBlend } from '../src/index.js';
import type { Module } from '../src/nn/module.js';
import { randomizeWeights } from './models.js';
import { tracker } from './timing.js';

const root = resolve(fileURLToPath(import.meta.url), '..', '..', process.argv[1]?.includes('/dist/') ? '..' : '');
const sd = join(process.env.PTP_REFERENCE_DIR ?? resolve(root, '..', 'shared', 'reference'), 'sd15-config');
const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const steps = Number(arg('steps') ?? 2);
const fp16 = !process.argv.includes('--fp32');
const json = (sub: string, file = 'config.json') =>
  JSON.parse(readFileSync(join(sd, sub, file), 'utf8')) as Record<string, unknown>;
const mb = (b: number) => Math.round(b / 2 ** 20);

/** Random weights, streamed; host copies in float16 unless --fp32. */
function prepare<T extends Module>(m: T): T {
  m.setResidency('stream');
  randomizeWeights(m);
  if (fp16) for (const [, p] of m.namedParams()) p.setHostPrecision('float16');
  return m;
}

async function main(): Promise<void> {
  const backend = await initNodeBackend(process.env.PTP_BACKEND ?? 'wasm');
  tracker.start();
  console.log(
    `backend: ${backend.description}; weights: random, host ${fp16 ? 'float16' : 'float32'}, streamed per block`,
  );
  const tokenizer = ClipTokenizer.fromFiles(
    readFileSync(join(sd, 'tokenizer/vocab.json'), 'utf8'),
    readFileSync(join(sd, 'tokenizer/merges.txt'), 'utf8'),
  );
  const text = prepare(ClipTextModel.fromConfig(json('text_encoder')));
  const unet = prepare(UNet2DConditionModel.fromConfig(json('unet')));
  const vae = prepare(AutoencoderKL.fromConfig(json('vae'), { encoder: false }));
  const pipe = new StableDiffusionPipeline({
    text: new ClipPromptEncoder(tokenizer, text),
    unet,
    vae,
    schedulerConfig: json('scheduler', 'scheduler_config.json'),
  });
  const prompts = ['a cat riding a bicycle', 'a dog riding a bicycle'];
  const controller = new AttentionReplace({
    tokenizer,
    prompts,
    numSteps: steps,
    crossReplaceSteps: 0.8,
    selfReplaceSteps: 0.4,
    localBlend: new LocalBlend(tokenizer, prompts, ['cat', 'dog']),
  });
  resetWasmPeakBytes();
  tracker.sample();
  const t0 = performance.now();
  const r = await pipe.edit({
    prompts,
    steps,
    seed: 8888,
    scheduler: 'ddim',
    controller,
    onStep: (s) => console.log(`  step ${s.step + 1}/${s.steps}: ${((performance.now() - t0) / 1000).toFixed(1)} s`),
  });
  const seconds = (performance.now() - t0) / 1000;
  tracker.sample();
  const finite = r.images.every((im) => im.data.every(Number.isFinite));
  const out = {
    p2p_edit_s: +seconds.toFixed(1),
    p2p_steps: steps,
    p2p_size: `${r.images[0].width}x${r.images[0].height}`,
    p2p_prompts: prompts.length,
    p2p_host_weights: fp16 ? 'float16' : 'float32',
    p2p_peak_rss_mb: mb(tracker.peakRssBytes()),
    p2p_peak_backend_mb: mb(Math.max(wasmPeakBytes(), tracker.backend)),
    p2p_heap_limit_mb: mb(getWasmHeapLimit()),
    p2p_wasm_heap_mb:
      backend.tfName === 'wasm'
        ? mb((tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length)
        : null,
    p2p_images_finite: finite,
  };
  console.log(
    `edit finished in ${out.p2p_edit_s} s; peak RSS ${out.p2p_peak_rss_mb} MiB, peak live backend ${out.p2p_peak_backend_mb} MiB (limit ${out.p2p_heap_limit_mb}), wasm heap ${out.p2p_wasm_heap_mb} MiB`,
  );
  console.log(JSON.stringify(out));
  controller.dispose();
  pipe.dispose();
}

await main();
process.exit(0);
