/**
 * Where a training step of the demo model spends its time: the UNet and the text encoder of
 * src/shapes/configs.ts (SHAPES_RECIPE) trained together as src/node/shapes/unet-stage.ts
 * does (diffusionLoss → optimiseStep: AdamW, clipping), on random latents and token ids (no VAE).
 * Prints the step time, its process CPU time (all threads: what the step costs whatever else
 * runs on the machine) and samples/s (unprofiled steps), then the kernel times of one step from
 * tf.profile grouped by kernel name and by where they run: native kernels (the addon), wasm
 * kernels, and JS (the rest of the step: the engine, the gradient tape, JS kernels). Ends with
 * one JSON line.
 *
 *   npm run bench:train -- [--backend=native|wasm] [--latent=32] [--batch=16] [--tokens=77]
 *                          [--steps=3] [--vocab=64] [--top=30] [--detail=Sum,Multiply]
 * (--detail: times of those kernels by input shapes)
 */
import * as tf from '@tensorflow/tfjs-core';
import { initNodeBackend } from '../src/node/backend.js';
import { kernelRecords, whereOf, type Where } from './profile.js';
import { UNet2DConditionModel } from '../src/models/unet/unet.js';
import { ClipTextModel } from '../src/models/clip/text-model.js';
import { SHAPES_RECIPE } from '../src/shapes/configs.js';
import { initWeights } from '../src/train/init.js';
import { Adam } from '../src/nn/adam.js';
import { optimiseStep } from '../src/train/step.js';
import { diffusionLoss } from '../src/train/diffusion.js';
import { alphasCumprod, makeBetas } from '../src/models/schedulers/betas.js';
import { UNET_ZERO_INIT } from '../src/node/shapes/unet-stage.js';
import { TorchGenerator } from '../src/models/random.js';

function flags(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of process.argv.slice(2)) {
    const m = /^--([a-z-]+)=(.*)$/.exec(a);
    if (!m) throw new Error(`train-profile: unknown argument "${a}" (flags are --name=value)`);
    out[m[1]] = m[2];
  }
  return out;
}

function int(f: Record<string, string>, name: string, dflt: number): number {
  const v = f[name] === undefined ? dflt : Number(f[name]);
  if (!Number.isInteger(v) || v < 1)
    throw new Error(`train-profile: --${name} must be a positive integer, got "${f[name]}"`);
  return v;
}

interface Row {
  name: string;
  where: Where;
  ms: number;
  calls: number;
}

/** Per input-shape times of the kernels named in --detail. */
const detail = new Map<string, Map<string, { ms: number; calls: number }>>();

/** Kernel records of one profiled call: leaves only (scopes such as custom gradients nest them). */
async function profileKernels(f: () => void): Promise<{ rows: Row[]; wallMs: number }> {
  const backend = tf.getBackend();
  tf.env().set('CHECK_COMPUTATION_FOR_ERRORS', false);
  const t0 = performance.now();
  const info = await tf.profile(() => {
    f();
    return tf.scalar(0);
  });
  const wallMs = performance.now() - t0;
  tf.dispose(info.result as tf.Tensor);
  const byName = new Map<string, Row>();
  for (const k of kernelRecords(info, backend)) {
    const ms = Number(k.kernelTimeMs) || 0;
    const r = byName.get(k.name) ?? { name: k.name, where: whereOf(k.name), ms: 0, calls: 0 };
    r.ms += ms;
    r.calls++;
    byName.set(k.name, r);
    const d = detail.get(k.name);
    if (d) {
      const key = `${(k.inputShapes as number[][]).map((x) => `[${x}]`).join(' ')} → ${(k.outputShapes as number[][]).map((x) => `[${x}]`).join(' ')}`;
      const e = d.get(key) ?? { ms: 0, calls: 0 };
      e.ms += ms;
      e.calls++;
      d.set(key, e);
    }
  }
  return { rows: [...byName.values()].sort((a, b) => b.ms - a.ms), wallMs };
}

async function main(): Promise<void> {
  const f = flags();
  const backendName = f.backend ?? 'native';
  const latent = int(f, 'latent', 32);
  const batch = int(f, 'batch', 16);
  const tokens = int(f, 'tokens', 77);
  const steps = int(f, 'steps', 3);
  const vocabSize = int(f, 'vocab', 64);
  const top = int(f, 'top', 30);
  for (const name of (f.detail ?? '').split(',').filter(Boolean)) detail.set(name, new Map());
  const backend = await initNodeBackend(backendName);
  console.log(`backend: ${backend.description}`);

  const recipe = SHAPES_RECIPE;
  const text = ClipTextModel.fromConfig({
    ...recipe.text,
    vocab_size: vocabSize,
    max_position_embeddings: Math.max(tokens, 77),
  });
  const unet = UNet2DConditionModel.fromConfig(recipe.unet);
  initWeights(text, { seed: 1 });
  initWeights(unet, { seed: 2, zeroInit: UNET_ZERO_INIT });
  text.setTrainable(true, 'text.');
  unet.setTrainable(true, 'unet.');
  const vars = [...text.trainableParams(), ...unet.trainableParams()].map(([, p]) => p.trainableVariable!);
  const opt = new Adam(vars, { lr: 1e-4, weightDecay: 0.01 });
  const abar = alphasCumprod(
    makeBetas({
      betaStart: 0.00085,
      betaEnd: 0.012,
      betaSchedule: 'scaled_linear',
      numTrainTimesteps: 1000,
      trainedBetas: null,
    }),
  );
  const channels = unet.config.inChannels;
  const gen = new TorchGenerator(3);

  const step = (i: number) => {
    const ids = Array.from({ length: batch }, () =>
      Array.from(gen.rand(tokens, 0, vocabSize), (u) => Math.min(vocabSize - 1, Math.floor(u))),
    );
    const timesteps = Array.from({ length: batch }, (_, j) => (i * 389 + j * 61) % 1000);
    const latents = tf.randomNormal([batch, latent, latent, channels], 0, 1, 'float32', 10 + i) as tf.Tensor4D;
    const noise = tf.randomNormal([batch, latent, latent, channels], 0, 1, 'float32', 1000 + i) as tf.Tensor4D;
    try {
      return optimiseStep(
        () =>
          diffusionLoss(
            unet,
            { latents, noise, timesteps, context: text.forward(ids).lastHiddenState },
            { alphasCumprod: abar, prediction: 'epsilon', minSnrGamma: 5 },
          ),
        opt,
        1,
      );
    } finally {
      tf.dispose([latents, noise]);
    }
  };

  const tensorsBefore = tf.memory().numTensors;
  step(0); // warm-up: primitive caches, weight layouts
  const times: number[] = [];
  const cpus: number[] = [];
  for (let i = 1; i <= steps; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const r = step(i);
    times.push((performance.now() - t0) / 1000);
    const c = process.cpuUsage(c0);
    cpus.push((c.user + c.system) / 1e6);
    console.log(
      `step ${i}: ${times[times.length - 1].toFixed(3)} s, process CPU ${cpus[cpus.length - 1].toFixed(3)} s, loss ${r.loss.toFixed(4)}`,
    );
  }
  const mid = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
  const median = mid(times);
  const { rows, wallMs } = await profileKernels(() => void step(steps + 1));
  const leaked = tf.memory().numTensors - tensorsBefore;

  const total = (w?: Where) => rows.filter((r) => !w || r.where === w).reduce((a, r) => a + r.ms, 0);
  const native = total('native');
  const wasm = total('wasm');
  const js = Math.max(0, wallMs - native - wasm);
  const jsKernels = total('js');
  const pct = (ms: number) => `${((100 * ms) / wallMs).toFixed(1).padStart(5)} %`;
  console.log(
    `\nlatent ${latent}², batch ${batch}, ${tokens} tokens: step ${median.toFixed(3)} s (median of ${steps}), ${(batch / median).toFixed(2)} samples/s`,
  );
  console.log(
    `profiled step ${(wallMs / 1000).toFixed(3)} s: native kernels ${pct(native)}, wasm kernels ${pct(wasm)}, JS ${pct(js)} (JS kernels ${pct(jsKernels)}, the rest engine and tape)`,
  );
  console.log('kernel                       where    ms      share   calls');
  for (const r of rows.slice(0, top)) {
    console.log(
      `  ${r.name.padEnd(26)} ${r.where.padEnd(6)} ${r.ms.toFixed(0).padStart(7)} ${pct(r.ms)} ${String(r.calls).padStart(6)}`,
    );
  }
  if (rows.length > top)
    console.log(
      `  … ${rows.length - top} more kernels, ${(total() - rows.slice(0, top).reduce((a, r) => a + r.ms, 0)) | 0} ms`,
    );
  for (const [name, d] of detail) {
    console.log(`${name} by shape:`);
    for (const [key, e] of [...d].sort((a, b) => b[1].ms - a[1].ms).slice(0, 12))
      console.log(`  ${e.ms.toFixed(1).padStart(7)} ms ${String(e.calls).padStart(4)}×  ${key}`);
  }
  if (leaked !== 0) console.log(`warning: ${leaked} tensors more than before the steps`);

  const json: Record<string, number | string> = {
    backend: backend.name,
    latent,
    batch,
    tokens,
    train_step_s: +median.toFixed(3),
    train_samples_per_s: +(batch / median).toFixed(3),
    train_step_cpu_s: +mid(cpus).toFixed(3),
    train_profiled_step_s: +(wallMs / 1000).toFixed(3),
    train_native_share: +(native / wallMs).toFixed(3),
    train_wasm_share: +(wasm / wallMs).toFixed(3),
    train_js_share: +(js / wallMs).toFixed(3),
  };
  for (const r of rows.slice(0, top)) json[`ms_${r.name}`] = +r.ms.toFixed(1);
  console.log(JSON.stringify(json));
  opt.dispose();
  unet.dispose();
  text.dispose();
}

await main();
process.exit(0);
