/**
 * Stage 1 of the demo model: the autoencoder, trained alone on rendered scenes (staged rather
 * than joint: the UNet then learns on a fixed latent space, and the cheap autoencoder converges
 * in a fraction of the budget). Ends by measuring the latents' spread: scaling_factor = 1/std.
 */
import * as tf from '@tensorflow/tfjs-core';
import { join } from 'node:path';
import { AutoencoderKL } from '../../models/vae/autoencoder-kl.js';
import { Adam } from '../../nn/adam.js';
import { initWeights } from '../../train/init.js';
import { lrAt } from '../../train/lr.js';
import { optimiseStep } from '../../train/step.js';
import { vaeLoss } from '../../train/vae-objective.js';
import { SHAPES_RECIPE, type ShapesRecipe } from '../../shapes/configs.js';
import { randomCrops, shapesBatch, stepSeed } from '../../shapes/data.js';
import { StageRun, pastDeadline, type StageProgress } from '../train/stage-run.js';
import { imageGrid } from '../../draw/grid.js';
import { signedBatchToRgbImages } from '../../util/image.js';
import { writePng } from '../png.js';

export interface VaeStageOptions {
  dir: string;
  steps: number;
  batch: number;
  lr: number;
  seed: number;
  klWeight: number;
  /** Default: the shipped model's. */
  recipe?: ShapesRecipe;
  /** Train on random windows of this size (default: whole images). */
  crop?: number;
  checkpointEvery: number;
  onProgress?: (p: StageProgress) => void;
  /** Stop (after a checkpoint) once this time (ms since the epoch) has passed; the run resumes later. */
  deadline?: number;
}

export interface TrainedVae {
  /** The trained autoencoder, its configuration holding the measured scaling factor. */
  vae: AutoencoderKL;
  scalingFactor: number;
  run: StageRun;
}

export async function trainVaeStage(o: VaeStageOptions): Promise<TrainedVae> {
  const recipe = o.recipe ?? SHAPES_RECIPE;
  const full = recipe.imageSize;
  const vae = AutoencoderKL.fromConfig(recipe.vae);
  initWeights(vae, { seed: o.seed });
  vae.setTrainable(true, 'vae.');
  const params = vae.trainableParams();
  const opt = new Adam(
    params.map(([, p]) => p.trainableVariable!),
    { lr: o.lr },
  );
  const run = new StageRun(o.dir, 'vae', o.steps, params, opt);
  const size = Math.min(o.crop ?? full, full);
  const f = vae.downscale;
  let step = await run.resume();
  try {
    for (; step < o.steps; step++) {
      opt.lr = lrAt(step, { base: o.lr, warmup: Math.min(100, o.steps / 10), total: o.steps });
      const data = randomCrops(shapesBatch(o.seed, step, o.batch, full), size, o.seed, step);
      const r = optimiseStep(
        () => {
          const images = tf.tensor4d(data.pixels, [o.batch, size, size, 3]);
          const noise = tf.randomNormal(
            [o.batch, size / f, size / f, vae.config.latentChannels],
            0,
            1,
            'float32',
            stepSeed(o.seed, step, 1),
          );
          return vaeLoss(vae, images, noise as tf.Tensor4D, o.klWeight).loss;
        },
        opt,
        1,
      );
      run.record(step, r.loss, o.onProgress);
      if ((step + 1) % o.checkpointEvery === 0 || step + 1 === o.steps || pastDeadline(o.deadline))
        await saveVaeCheckpoint(vae, run, o.dir, o.seed, full);
      if (pastDeadline(o.deadline)) break;
    }
    // Measured on the final weights (again when a finished run is continued to more steps).
    if (run.state.step >= o.steps && run.state.extra.scalingFactorAt !== run.state.step) {
      run.state.extra.scalingFactor = latentScalingFactor(vae, o.seed, full);
      run.state.extra.scalingFactorAt = run.state.step;
      await run.checkpoint();
    }
  } finally {
    opt.dispose();
  }
  vae.setTrainable(false);
  const scalingFactor = Number(run.state.extra.scalingFactor ?? 1);
  return { vae: withScalingFactor(vae, recipe.vae, scalingFactor), scalingFactor, run };
}

/** The same autoencoder with `scaling_factor` in its configuration (the UNet trains on latents × it). */
function withScalingFactor(vae: AutoencoderKL, json: Record<string, unknown>, scalingFactor: number): AutoencoderKL {
  const out = AutoencoderKL.fromConfig({ ...json, scaling_factor: scalingFactor });
  const weights = new Map(vae.namedParams());
  for (const [k, p] of out.namedParams()) p.setTorchValues(weights.get(k)!.torchValues());
  vae.dispose();
  return out;
}

async function saveVaeCheckpoint(
  vae: AutoencoderKL,
  run: StageRun,
  dir: string,
  seed: number,
  size: number,
): Promise<void> {
  await run.checkpoint();
  // Reconstructions of fixed scenes: originals on the top row, the autoencoder's below.
  const data = shapesBatch(seed, -1, 8, size);
  const rec = tf.tidy(() => {
    const x = tf.tensor4d(data.pixels, [8, size, size, 3]);
    const d = vae.encode(x);
    const y = vae.decode(d.mean);
    d.dispose();
    return y;
  });
  const images = [
    ...signedBatchToRgbImages(data.pixels, 8, size),
    ...signedBatchToRgbImages(rec.dataSync() as Float32Array, 8, size),
  ];
  rec.dispose();
  await writePng(join(dir, 'vae-reconstructions.png'), imageGrid(images, 8));
}

/** 1 / the standard deviation of the latent means of 64 fixed scenes. */
function latentScalingFactor(vae: AutoencoderKL, seed: number, size: number): number {
  const data = shapesBatch(seed, -2, 64, size);
  const std = tf.tidy(() => {
    const parts: tf.Tensor[] = [];
    for (let i = 0; i < 64; i += 16) {
      const x = tf.tensor4d(data.pixels.subarray(i * size ** 2 * 3, (i + 16) * size ** 2 * 3), [16, size, size, 3]);
      const d = vae.encode(x);
      parts.push(tf.clone(d.mean));
      d.dispose();
    }
    return tf.sqrt(tf.moments(tf.concat(parts)).variance);
  });
  const s = std.dataSync()[0];
  std.dispose();
  return 1 / s;
}
