/**
 * CPU time per native kernel in one SD-1.5 UNet step (batch 2, 64², weights streamed), VAE
 * decode (64² → 512²), or training step of the demo UNet (src/shapes, batch 16 at 32²,
 * Adam), random weights: process CPU seconds (all threads) around every addon call, summed per
 * kernel, and per convolution shape with its GFLOP per CPU-second. CPU time is what the work
 * costs whatever else runs on the machine; on an idle machine the wall time is about
 * (native CPU s) / threads + (the rest). Ends with one JSON line.
 *
 *   node --import tsx bench/native-profile.ts [unet|vae|train]
 */
import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadNativeAddon } from '../src/node/native/addon.js';
import { initNodeBackend } from '../src/node/backend.js';
import { UNet2DConditionModel } from '../src/models/unet/unet.js';
import { AutoencoderKL } from '../src/models/vae/autoencoder-kl.js';
import { randomizeWeights } from './models.js';
import { shapesUnetConfig } from '../src/shapes/configs.js';
import { initWeights } from '../src/train/init.js';
import { Adam } from '../src/nn/adam.js';
import { optimiseStep } from '../src/train/step.js';
import { diffusionLoss } from '../src/train/diffusion.js';

const root = resolve(fileURLToPath(import.meta.url), '..', '..', process.argv[1]?.includes('/dist/') ? '..' : '');
const sd = join(process.env.PTP_REFERENCE_DIR ?? resolve(root, '..', 'shared', 'reference'), 'sd15-config');
const which = process.argv[2] ?? 'unet';
const cpuMs = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1e3;

const kernels = new Map<string, { cpu: number; calls: number }>();
const convs = new Map<string, { cpu: number; calls: number; flop: number }>();

/** Wraps every kernel of the addon with a CPU-time accumulator. */
function instrument(): void {
  const addon = loadNativeAddon() as unknown as Record<string, (...a: unknown[]) => unknown>;
  for (const name of Object.keys(addon)) {
    if (['info', 'setThreads', 'setPrecision'].includes(name)) continue;
    const fn = addon[name];
    addon[name] = (...args: unknown[]) => {
      const c0 = process.cpuUsage();
      const r = fn(...args);
      const cpu = cpuMs(process.cpuUsage(c0));
      const k = kernels.get(name) ?? { cpu: 0, calls: 0 };
      k.cpu += cpu;
      k.calls++;
      kernels.set(name, k);
      if (name === 'conv2d') {
        // [N,H,W,CI, KH,KW,CO, SH,SW, DH,DW, pads×4, OH,OW]
        const s = args[2] as number[];
        const key = `[${s[0]},${s[1]},${s[2]},${s[3]}] ${s[4]}×${s[5]} → ${s[6]}${s[7] > 1 ? ` /${s[7]}` : ''}`;
        const v = convs.get(key) ?? { cpu: 0, calls: 0, flop: 0 };
        v.cpu += cpu;
        v.calls++;
        v.flop += 2 * s[0] * s[15] * s[16] * s[6] * s[3] * s[4] * s[5];
        convs.set(key, v);
      }
      return r;
    };
  }
}

async function main(): Promise<void> {
  instrument();
  const backend = await initNodeBackend('native');
  console.log(`backend: ${backend.description}`);
  const json = (sub: string) =>
    JSON.parse(readFileSync(join(sd, sub, 'config.json'), 'utf8')) as Record<string, unknown>;
  let run: () => tf.Tensor;
  if (which === 'unet') {
    const m = UNet2DConditionModel.fromConfig(json('unet'));
    m.setResidency('stream');
    randomizeWeights(m);
    const x = tf.randomNormal([2, 64, 64, 4]) as tf.Tensor4D;
    const c = tf.randomNormal([2, 77, 768]) as tf.Tensor3D;
    run = () => m.forward(x, 999, c);
  } else if (which === 'train') {
    const m = UNet2DConditionModel.fromConfig(shapesUnetConfig as unknown as Record<string, unknown>);
    initWeights(m, { seed: 1 });
    m.setTrainable(true, 'profile.');
    const opt = new Adam(
      m.trainableParams().map(([, p]) => p.trainableVariable!),
      { lr: 1e-4 },
    );
    const b = 16;
    const alphas = new Float32Array(1000).map((_, i) => Math.cos((((i / 1000 + 0.008) / 1.008) * Math.PI) / 2) ** 2);
    run = () => {
      const batch = {
        latents: tf.randomNormal([b, 32, 32, 4]) as tf.Tensor4D,
        noise: tf.randomNormal([b, 32, 32, 4]) as tf.Tensor4D,
        context: tf.randomNormal([b, 77, 64]) as tf.Tensor3D,
        timesteps: Array.from({ length: b }, (_, i) => (i * 61) % 1000),
      };
      optimiseStep(
        () => diffusionLoss(m, batch, { alphasCumprod: alphas, prediction: 'epsilon', minSnrGamma: 5 }),
        opt,
        1,
      );
      tf.dispose([batch.latents, batch.noise, batch.context]);
      return tf.scalar(0);
    };
  } else {
    const m = AutoencoderKL.fromConfig(json('vae'), { encoder: false });
    randomizeWeights(m);
    const z = tf.randomNormal([1, 64, 64, 4]) as tf.Tensor4D;
    run = () => m.decode(z);
  }
  tf.dispose(run()); // warm-up
  kernels.clear();
  convs.clear();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  tf.dispose(run());
  const wall = (performance.now() - t0) / 1000;
  const total = cpuMs(process.cpuUsage(c0)) / 1000;
  const native = [...kernels.values()].reduce((a, k) => a + k.cpu, 0) / 1000;
  console.log(
    `${which}: wall ${wall.toFixed(2)} s, process CPU ${total.toFixed(2)} s (native kernels ${native.toFixed(2)}, the rest ${(total - native).toFixed(2)})`,
  );
  for (const [name, k] of [...kernels].sort((a, b) => b[1].cpu - a[1].cpu)) {
    console.log(
      `  ${name.padEnd(22)} ${(k.cpu / 1000).toFixed(2).padStart(6)} CPU s  ${String(k.calls).padStart(4)} calls`,
    );
  }
  console.log('convolutions by shape:');
  for (const [key, v] of [...convs].sort((a, b) => b[1].cpu - a[1].cpu)) {
    console.log(
      `  ${key.padEnd(30)} ${String(v.calls).padStart(3)} calls  ${(v.cpu / 1000).toFixed(2).padStart(5)} CPU s  ${(v.flop / v.cpu / 1e6).toFixed(0).padStart(4)} GFLOP/CPU-s`,
    );
  }
  const out: Record<string, number> = {
    [`${which}_wall_s`]: +wall.toFixed(2),
    [`${which}_cpu_s`]: +total.toFixed(2),
    [`${which}_native_cpu_s`]: +native.toFixed(2),
  };
  for (const [name, k] of kernels) out[`${which}_${name}_cpu_s`] = +(k.cpu / 1000).toFixed(3);
  console.log(JSON.stringify(out));
}

await main();
process.exit(0);
