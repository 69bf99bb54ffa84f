/**
 * The cost of null-text inversion at SD-1.5 size: 512×512 (64² latents), random weights from
 * ../shared/reference/sd15-config kept on the host (float16, as the fp16 variant files load) and
 * streamed to the backend per block. Times one plain UNet call (batch 1) for scale, then one step
 * of the optimisation with `--iterations` Adam iterations (each: a UNet forward on the block tape,
 * then the backward recomputing one block at a time), and reports seconds per iteration, the peak
 * live backend bytes against the wasm heap guard, and one JSON line. Run in its own process:
 * `npm run bench -- --only=nulltext`, or
 *
 *   node dist/bench/null-text.js [--iterations=2] [--size=512] [--fp32]
 */
import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initNodeBackend } from '../src/node/backend.js';
import { getWasmHeapLimit, resetWasmPeakBytes, wasmPeakBytes } from '../src/backend/wasm-patches.js';
import { UNet2DConditionModel } from '../src/models/unet/unet.js';
import { createScheduler } from '../src/models/schedulers/index.js';
import { TorchGenerator } from '../src/models/random.js';
import { nullTextOptimize } from '../src/pipeline/null-text.js';
import { randomizeWeights } from './models.js';
import { tracker } from './timing.js';

const root = resolve(fileURLToPath(import.meta.url), '..', '..', process.argv[1]?.includes('/dist/') ? '..' : '');
const sd = join(process.env.PTP_REFERENCE_DIR ?? resolve(root, '..', 'shared', 'reference'), 'sd15-config');
const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const iterations = Number(arg('iterations') ?? 2);
const size = Number(arg('size') ?? 512);
const fp16 = !process.argv.includes('--fp32');
const json = (sub: string, file = 'config.json') =>
  JSON.parse(readFileSync(join(sd, sub, file), 'utf8')) as Record<string, unknown>;
const mb = (b: number) => Math.round(b / 2 ** 20);
const randn = (shape: number[], seed: number) => tf.tensor(new TorchGenerator(seed).randn(shape), shape);

async function main(): Promise<void> {
  const backend = await initNodeBackend(process.env.PTP_BACKEND ?? 'wasm');
  tracker.start();
  console.log(
    `backend: ${backend.description}; weights: random, host ${fp16 ? 'float16' : 'float32'}, streamed per block; ${size}×${size}`,
  );
  const unet = UNet2DConditionModel.fromConfig(json('unet'));
  unet.setResidency('stream');
  randomizeWeights(unet);
  if (fp16) for (const [, p] of unet.namedParams()) p.setHostPrecision('float16');
  const h = size / 8;
  const dim = unet.config.crossAttentionDim[0];
  // A synthetic one-step trajectory x₀ → x_T and text embeddings; the random loss never stops early.
  const trajectory = [randn([1, h, h, 4], 1) as tf.Tensor4D, randn([1, h, h, 4], 2) as tf.Tensor4D];
  const cond = tf.mul(randn([1, 77, dim], 3), 0.5) as tf.Tensor3D;
  const uncond = tf.mul(randn([1, 77, dim], 4), 0.5) as tf.Tensor3D;
  const scheduler = createScheduler(json('scheduler', 'scheduler_config.json'), { type: 'ddim' });

  /** CPU seconds of the process (all threads): steadier than wall time on a shared machine. */
  const cpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  resetWasmPeakBytes();
  let t = performance.now();
  let c = cpu();
  tf.dispose(unet.forward(trajectory[1], 981, cond));
  const forwardS = (performance.now() - t) / 1000;
  const forwardCpu = cpu() - c;
  const forwardPeak = wasmPeakBytes();
  console.log(
    `  UNet forward, batch 1 (no tape): ${forwardS.toFixed(1)} s (${forwardCpu.toFixed(1)} CPU s), peak live backend ${mb(forwardPeak)} MiB`,
  );

  resetWasmPeakBytes();
  const times: number[] = [];
  const cpuTimes: number[] = [];
  t = performance.now();
  c = cpu();
  const r = await nullTextOptimize({
    unet,
    scheduler,
    cond,
    uncond,
    trajectory,
    innerSteps: iterations,
    earlyStop: 0,
    guidance: 7.5,
    onIteration: (p) => {
      const now = performance.now();
      const nowCpu = cpu();
      times.push((now - t) / 1000);
      cpuTimes.push(nowCpu - c);
      t = now;
      c = nowCpu;
      console.log(
        `  iteration ${p.iteration + 1}/${p.iterations}: ${times[times.length - 1].toFixed(1)} s, ${cpuTimes[cpuTimes.length - 1].toFixed(1)} CPU s (the first includes the conditional forward), loss ${p.loss.toExponential(2)}`,
      );
    },
  });
  tracker.sample();
  const peak = wasmPeakBytes();
  const finite = r.uncondEmbeddings.dataSync().every(Number.isFinite);
  tf.dispose([r.uncondEmbeddings, r.latents, ...trajectory, cond, uncond]);
  /** Mean over the iterations after the first (which also runs the conditional forward). */
  const perIter = (xs: number[]) => (xs.length > 1 ? xs.slice(1).reduce((a, b) => a + b, 0) / (xs.length - 1) : xs[0]);
  const perIteration = perIter(times);
  const perIterationCpu = perIter(cpuTimes);
  const out = {
    nulltext_size: `${size}x${size}`,
    nulltext_iteration_s: +perIteration.toFixed(1),
    nulltext_iteration_over_forward: +(perIteration / forwardS).toFixed(2),
    nulltext_iteration_cpu_s: +perIterationCpu.toFixed(1),
    nulltext_iteration_over_forward_cpu: +(perIterationCpu / forwardCpu).toFixed(2),
    nulltext_unet_forward_s: +forwardS.toFixed(1),
    nulltext_unet_forward_cpu_s: +forwardCpu.toFixed(1),
    nulltext_iterations: times.length,
    nulltext_host_weights: fp16 ? 'float16' : 'float32',
    nulltext_peak_backend_mb: mb(Math.max(peak, tracker.backend)),
    nulltext_forward_peak_backend_mb: mb(forwardPeak),
    nulltext_heap_limit_mb: mb(getWasmHeapLimit()),
    nulltext_wasm_heap_mb:
      backend.tfName === 'wasm'
        ? mb((tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length)
        : null,
    nulltext_peak_rss_mb: mb(tracker.peakRssBytes()),
    nulltext_embeddings_finite: finite,
  };
  console.log(
    `null-text: ${out.nulltext_iteration_s} s per Adam iteration (${out.nulltext_iteration_over_forward}× a batch-1 UNet forward; in CPU time ${out.nulltext_iteration_cpu_s} s, ${out.nulltext_iteration_over_forward_cpu}×); peak live backend ${out.nulltext_peak_backend_mb} MiB (limit ${out.nulltext_heap_limit_mb}), wasm heap ${out.nulltext_wasm_heap_mb} MiB, peak RSS ${out.nulltext_peak_rss_mb} MiB`,
  );
  console.log(JSON.stringify(out));
  unet.dispose();
}

await main();
process.exit(0);
