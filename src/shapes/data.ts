/**
 * Training batches from the shapes world (src/shapes/world): seeded per step, so a run resumed from a
 * checkpoint sees exactly the batches it would have seen.
 */
import { COLOURS, Rng, SHAPES, captionOf, renderScene, sampleScene } from './world/index.js';
import type { ClipTokenizer } from '../models/clip/tokenizer.js';

/** A seed for (run seed, step, stream): the streams of one step (images, noise, timesteps) differ. */
export function stepSeed(seed: number, step: number, stream = 0): number {
  let h =
    Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(step + 1, 0xc2b2ae35) ^ Math.imul(stream + 7, 0x27d4eb2f);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  return (h ^ (h >>> 13)) >>> 0;
}

export interface ShapesBatch {
  /** NHWC [n, size, size, 3] values in [−1, 1]. */
  pixels: Float32Array;
  captions: string[];
  size: number;
  n: number;
}

/** `n` random scenes rendered at `size`×`size`, with their captions. */
export function shapesBatch(seed: number, step: number, n: number, size: number): ShapesBatch {
  const rng = new Rng(stepSeed(seed, step));
  const pixels = new Float32Array(n * size * size * 3);
  const captions: string[] = [];
  for (let i = 0; i < n; i++) {
    const scene = sampleScene(rng);
    captions.push(captionOf(scene));
    const img = renderScene(scene, size);
    const off = i * size * size * 3;
    for (let j = 0; j < img.data.length; j++) pixels[off + j] = img.data[j] / 127.5 - 1;
  }
  return { pixels, captions, size, n };
}

/**
 * Random `crop`×`crop` windows of a batch (one per image, positions from the step's seed): the
 * convolutional autoencoder trains on windows 4× cheaper than whole images.
 */
export function randomCrops(batch: ShapesBatch, crop: number, seed: number, step: number): ShapesBatch {
  if (crop >= batch.size) return batch;
  const rng = new Rng(stepSeed(seed, step, 2));
  const { size, n } = batch;
  const pixels = new Float32Array(n * crop * crop * 3);
  for (let i = 0; i < n; i++) {
    const x0 = rng.int(0, size - crop);
    const y0 = rng.int(0, size - crop);
    for (let y = 0; y < crop; y++) {
      const src = ((i * size + y0 + y) * size + x0) * 3;
      pixels.set(batch.pixels.subarray(src, src + crop * 3), (i * crop + y) * crop * 3);
    }
  }
  return { pixels, captions: batch.captions, size: crop, n };
}

/** Every word the caption grammar uses. */
export function grammarWords(): string[] {
  return ['a', 'an', 'small', 'big', 'and', 'on', 'background', ...COLOURS, ...SHAPES];
}

/** Every token id a caption of the grammar (or the empty prompt) can produce, BOS/EOS included. */
export function grammarTokenIds(tokenizer: ClipTokenizer): number[] {
  const ids = new Set<number>();
  for (const w of grammarWords()) for (const id of tokenizer.encode(w)) ids.add(id);
  for (const id of tokenizer.call(['']).inputIds[0]) ids.add(id);
  return [...ids];
}
