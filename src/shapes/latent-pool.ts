/**
 * Scenes rendered and encoded once, at the start of the UNet stage: the autoencoder is frozen by
 * then, so re-encoding every batch (what the first demo model did, ~8 % of its step) buys nothing.
 * Batches walk through seeded permutations of the pool, one per epoch, so every scene is seen
 * equally often; everything is a function of (seed, step), so a resumed run draws the same batches.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { AutoencoderKL } from '../models/vae/autoencoder-kl.js';
import { Rng } from './world/index.js';
import { shapesBatch, stepSeed } from './data.js';

/** Scenes rendered and encoded per call of the encoder (fixed: the latents do not depend on how the pool is filled). */
export const POOL_CHUNK = 64;
/** Seed stream of the pool's scenes (the autoencoder's batches use stream 0). */
const POOL_STREAM = 5;

export interface LatentPoolOptions {
  seed: number;
  /** Number of scenes (rounded up to whole chunks). */
  count: number;
  imageSize: number;
  /** Called after each chunk with the scenes encoded so far. */
  onProgress?: (done: number, total: number) => void;
}

export class LatentPool {
  private constructor(
    /** NHWC latents (× scaling factor) of every scene, back to back. */
    private readonly latents: Float32Array,
    readonly captions: readonly string[],
    /** [h, w, c] of one scene's latents. */
    readonly latentShape: readonly [number, number, number],
    private readonly seed: number,
  ) {}

  get size(): number {
    return this.captions.length;
  }

  /** Renders and encodes `count` scenes with the frozen autoencoder, chunk by chunk. */
  static async build(vae: AutoencoderKL, o: LatentPoolOptions): Promise<LatentPool> {
    if (!(Number.isInteger(o.count) && o.count > 0))
      throw new Error(`latent pool: count must be a positive integer, got ${o.count}`);
    const chunks = Math.ceil(o.count / POOL_CHUNK);
    const n = chunks * POOL_CHUNK;
    const f = vae.downscale;
    const shape: [number, number, number] = [o.imageSize / f, o.imageSize / f, vae.config.latentChannels];
    const per = shape[0] * shape[1] * shape[2];
    const latents = new Float32Array(n * per);
    const captions: string[] = [];
    for (let k = 0; k < chunks; k++) {
      const data = shapesBatch(stepSeed(o.seed, k, POOL_STREAM), 0, POOL_CHUNK, o.imageSize);
      const z = tf.tidy(() => vae.encodeLatents(tf.tensor4d(data.pixels, [POOL_CHUNK, o.imageSize, o.imageSize, 3])));
      latents.set(await z.data(), k * POOL_CHUNK * per);
      z.dispose();
      captions.push(...data.captions);
      o.onProgress?.((k + 1) * POOL_CHUNK, n);
    }
    return new LatentPool(latents, captions, shape, o.seed);
  }

  /** Pool indices of the batch of `step` (batches of `batch` scenes through per-epoch permutations). */
  indices(step: number, batch: number): number[] {
    const out: number[] = [];
    for (let pos = step * batch; out.length < batch; pos++) {
      const epoch = Math.floor(pos / this.size);
      out.push(this.permutation(epoch)[pos - epoch * this.size]);
    }
    return out;
  }

  private cached?: { epoch: number; order: Uint32Array };

  private permutation(epoch: number): Uint32Array {
    if (this.cached?.epoch === epoch) return this.cached.order;
    const rng = new Rng(stepSeed(this.seed, epoch, POOL_STREAM + 1));
    const order = new Uint32Array(this.size).map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = rng.int(0, i);
      [order[i], order[j]] = [order[j], order[i]];
    }
    this.cached = { epoch, order };
    return order;
  }

  /** The latents [B, h, w, c] and captions of the given scenes. */
  batch(indices: readonly number[]): { latents: tf.Tensor4D; captions: string[] } {
    const per = this.latentShape[0] * this.latentShape[1] * this.latentShape[2];
    const data = new Float32Array(indices.length * per);
    indices.forEach((i, k) => {
      if (!(Number.isInteger(i) && i >= 0 && i < this.size))
        throw new Error(`latent pool: scene ${i} outside 0..${this.size - 1}`);
      data.set(this.latents.subarray(i * per, (i + 1) * per), k * per);
    });
    return {
      latents: tf.tensor4d(data, [indices.length, ...this.latentShape]),
      captions: indices.map((i) => this.captions[i]),
    };
  }
}
