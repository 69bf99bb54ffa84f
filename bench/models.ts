/**
 * Model benchmarks: the text encoder, the UNet and the VAE decoder built from a diffusers model
 * directory's config files with random weights (speed does not depend on the values), timed as
 * medians, plus one profiled run per module for the per-layer-type breakdown.
 */
import * as tf from '@tensorflow/tfjs-core';
import { uploadWeight } from '../src/backend/weight-upload.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClipTextModel } from '../src/models/clip/text-model.js';
import { UNet2DConditionModel } from '../src/models/unet/unet.js';
import { AutoencoderKL } from '../src/models/vae/autoencoder-kl.js';
import type { Module } from '../src/nn/module.js';
import type { Residency } from '../src/nn/param.js';
import { f16ToF32, f32ToF16Bits } from '../src/io/dtypes.js';
import { profileBreakdown, type Breakdown } from './profile.js';
import { timeIt, tracker } from './timing.js';

const json = (dir: string, sub: string) =>
  JSON.parse(readFileSync(join(dir, sub, 'config.json'), 'utf8')) as Record<string, unknown>;

/** `n` deterministic uniform(−1, 1) values (xorshift32 from `seed`). */
export function uniformValues(n: number, seed: number): Float32Array {
  const p = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < p.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    p[i] = ((s >>> 0) / 2 ** 32) * 2 - 1;
  }
  return p;
}

/** A shared block of uniform(−1, 1) values that random weights are cut from (fast to fill). */
const PATTERN = uniformValues((1 << 22) + 1, 0x9e3779b9);

/**
 * Fills every weight like PyTorch's default init (uniform ±1/√fan_in; norm weights 1, biases
 * small), so activations stay in a normal range (no overflow or denormals to skew timings).
 */
export function randomizeWeights(m: Module, opts: { hostFloat16?: boolean } = {}): void {
  let offset = 0;
  for (const [key, p] of m.namedParams()) {
    const shape = p.torchShape;
    const v = new Float32Array(p.size);
    const isNorm = /norm|ln_|layer_norm/.test(key) && shape.length === 1;
    if (isNorm && key.endsWith('weight')) v.fill(1);
    else {
      const fanIn = shape.length > 1 ? shape.slice(1).reduce((a, b) => a * b, 1) : 64;
      const bound = key.endsWith('bias') ? 0.01 : 1 / Math.sqrt(fanIn);
      for (let i = 0; i < v.length;) {
        const start = (offset = (offset * 1103515245 + 12345) >>> 10) % (1 << 21);
        const n = Math.min(v.length - i, PATTERN.length - start);
        for (let j = 0; j < n; j++) v[i + j] = PATTERN[start + j] * bound;
        i += n;
      }
    }
    p.setTorchValues(v);
    if (opts.hostFloat16) p.setHostPrecision('float16');
  }
}

export interface ModuleBench {
  name: string;
  seconds: number;
  runs: number[];
  /** Process CPU seconds (all threads) of a run. */
  cpuSeconds: number;
  breakdown: Breakdown;
  /** Process high-water RSS (bytes) after this module's runs. */
  rssBytes: number;
  params: number;
}

/** `reps` timed runs after `warmup`, then one profiled run; with reps 0 the profiled run is the timing. */
async function benchModule(
  name: string,
  m: Module,
  run: () => tf.Tensor | tf.Tensor[],
  reps: number,
  warmup: number,
): Promise<ModuleBench> {
  const timing = await timeIt(run, reps, warmup);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const breakdown = await profileBreakdown(run);
  const profiled = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  tracker.sample();
  const runs = reps > 0 ? timing.runs : [profiled];
  const cpuSeconds = reps > 0 ? timing.cpuMedian : (c.user + c.system) / 1e6;
  return {
    name,
    seconds: reps > 0 ? timing.median : profiled,
    runs,
    cpuSeconds,
    breakdown,
    rssBytes: tracker.peakRssBytes(),
    params: m.numParams(),
  };
}

/** CLIP text encoder forward, batch 2 × 77 tokens. */
export async function benchTextEncoder(dir: string, reps: number): Promise<ModuleBench> {
  const m = ClipTextModel.fromConfig(json(dir, 'text_encoder'));
  randomizeWeights(m);
  const vocab = m.config.vocabSize;
  const ids = [0, 1].map((b) => Array.from({ length: 77 }, (_, i) => (i * 7919 + b * 104729) % vocab));
  try {
    return await benchModule(
      'text encoder (batch 2×77)',
      m,
      () => {
        const o = m.forward(ids);
        return [o.lastHiddenState, o.poolerOutput];
      },
      reps,
      1,
    );
  } finally {
    m.dispose();
  }
}

/**
 * One UNet step at latent `size`×`size` with CFG (batch 2), with the given weight residency
 * (`hostFloat16`: float16 host copies, as an fp16 checkpoint loads; SD-XL's 2.6 G weights take
 * 5.1 GB so). An SD-XL UNet gets its added conditioning (pooled embeddings, time ids of the size).
 */
export async function benchUNet(
  dir: string,
  reps: number,
  residency: Residency,
  size = 64,
  opts: { hostFloat16?: boolean } = {},
): Promise<ModuleBench & { upload: UploadCost }> {
  const cfg = json(dir, 'unet');
  const m = UNet2DConditionModel.fromConfig(cfg);
  m.setResidency(residency);
  randomizeWeights(m, opts);
  const c = m.config;
  const sample = tf.randomNormal([2, size, size, c.inChannels], 0, 1, 'float32', 1) as tf.Tensor4D;
  const context = tf.randomNormal([2, 77, c.crossAttentionDim[0]], 0, 1, 'float32', 2) as tf.Tensor3D;
  const px = size * 8;
  const added = c.additionEmbedType
    ? {
        textEmbeds: tf.randomNormal(
          [2, c.projectionClassEmbeddingsInputDim - 6 * c.additionTimeEmbedDim],
          0,
          1,
          'float32',
          4,
        ) as tf.Tensor2D,
        timeIds: [0, 1].map(() => [px, px, 0, 0, px, px]),
      }
    : undefined;
  try {
    const r = await benchModule(
      `UNet step (CFG batch 2, ${size}×${size})`,
      m,
      () => m.forward(sample, 999, context, undefined, { added }),
      reps,
      1,
    );
    return { ...r, upload: measureUpload(m) };
  } finally {
    tf.dispose([sample, context, added?.textEmbeds]);
    m.dispose();
  }
}

/** VAE decode of [1, size, size, 4] latents (to 8·size pixels). */
export async function benchVae(dir: string, reps: number, size = 64): Promise<ModuleBench> {
  const m = AutoencoderKL.fromConfig(json(dir, 'vae'), { encoder: false });
  randomizeWeights(m);
  const z = tf.randomNormal([1, size, size, m.config.latentChannels], 0, 1, 'float32', 3) as tf.Tensor4D;
  try {
    return await benchModule(`VAE decode (${size}×${size} → ${8 * size}×${8 * size})`, m, () => m.decode(z), reps, 1);
  } finally {
    z.dispose();
    m.dispose();
  }
}

/** Typical weight values as float16 bits (for the upcast timing). */
const PATTERN_F16 = Uint16Array.from({ length: 4096 }, (_, i) => f32ToF16Bits(PATTERN[i] * 0.05));

export interface UploadCost {
  /** Seconds to upload every weight once from fp32 host memory (the streaming cost per step). */
  fp32: number;
  /** Extra seconds per step if the host copy were fp16 (upcast per upload), extrapolated. */
  fp16Extra: number;
  bytes: number;
}

/**
 * The per-step cost of streaming `m`'s weights through the library's upload path
 * (src/backend/weight-upload.ts: the native backend's uploader, or tf.tensor): each weight
 * uploaded and freed once from its fp32 host copy; then the same from fp16 host bits, timed on 16
 * Mi values and scaled to the parameter count.
 */
export function measureUpload(m: Module): UploadCost {
  let bytes = 0;
  const t0 = performance.now();
  for (const [, p] of m.namedParams()) {
    const t = uploadWeight(p.values(), p.shape as number[]);
    bytes += t.size * 4;
    t.dispose();
  }
  const fp32 = (performance.now() - t0) / 1000;
  const half = new Uint16Array(1 << 24);
  for (let i = 0; i < half.length; i++) half[i] = PATTERN_F16[i & 4095];
  const full = new Float32Array(half.length);
  f16ToF32(half, full);
  const best = (values: Float32Array | Uint16Array) => {
    tf.dispose(uploadWeight(values.subarray(0, 1 << 20), [1 << 20])); // warm-up (JIT, allocator)
    let ms = Infinity;
    for (let r = 0; r < 3; r++) {
      const t1 = performance.now();
      tf.dispose(uploadWeight(values, [values.length]));
      ms = Math.min(ms, performance.now() - t1);
    }
    return ms / 1000 / values.length;
  };
  const extraPerValue = Math.max(0, best(half) - best(full));
  return { fp32, fp16Extra: extraPerValue * (bytes / 4), bytes };
}
