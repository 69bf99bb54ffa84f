/**
 * Stage 2 of the demo model: the UNet and the text encoder, trained together from scratch on
 * the frozen autoencoder's latents of a pool of rendered scenes (captions dropped 10 % of the
 * time, so classifier-free guidance works), on the recipe's noise schedule and prediction type,
 * with min-SNR weighting, AdamW, gradient clipping and an exponential moving average of the
 * weights (what is sampled and shipped).
 */
import * as tf from '@tensorflow/tfjs-core';
import { join } from 'node:path';
import type { AutoencoderKL } from '../../models/vae/autoencoder-kl.js';
import { UNet2DConditionModel } from '../../models/unet/unet.js';
import { ClipTextModel } from '../../models/clip/text-model.js';
import type { ClipTokenizer } from '../../models/clip/tokenizer.js';
import { DDIMScheduler } from '../../models/schedulers/ddim.js';
import { StableDiffusionPipeline, type PromptEncoder } from '../../pipeline/pipeline.js';
import { Adam } from '../../nn/adam.js';
import { Ema } from '../../train/ema.js';
import { initWeights } from '../../train/init.js';
import { lrAt } from '../../train/lr.js';
import { optimiseStep } from '../../train/step.js';
import { diffusionLoss, sampleTimestep, type DiffusionObjective } from '../../train/diffusion.js';
import { CompactVocab } from '../../train/vocab.js';
import { SHAPES_RECIPE, shapesSchedulerConfig, type ShapesRecipe } from '../../shapes/configs.js';
import { grammarTokenIds, stepSeed } from '../../shapes/data.js';
import { LatentPool } from '../../shapes/latent-pool.js';
import { Rng } from '../../shapes/world/index.js';
import { StageRun, pastDeadline, type StageProgress } from '../train/stage-run.js';
import { imageGrid } from '../../draw/grid.js';
import { toRgbImage } from '../../util/image.js';
import { writePng } from '../png.js';

export interface UnetStageOptions {
  dir: string;
  steps: number;
  batch: number;
  lr: number;
  seed: number;
  checkpointEvery: number;
  /** Probability of training on the empty caption. Default 0.1. */
  dropCaption?: number;
  onProgress?: (p: StageProgress) => void;
  /** Stop (after a checkpoint) once this time (ms since the epoch) has passed; the run resumes later. */
  deadline?: number;
  /** Default: the shipped model's. */
  recipe?: ShapesRecipe;
  /** Captions of the sample grid written at each checkpoint. */
  sampleCaptions: readonly string[];
  /** Progress of encoding the scene pool (before the first step). */
  onPool?: (done: number, total: number) => void;
}

/** The models of the stage; `text` has the compact vocabulary. */
export interface UnetStageModels {
  unet: UNet2DConditionModel;
  text: ClipTextModel;
  vocab: CompactVocab;
  tokenizer: ClipTokenizer;
  run: StageRun;
  recipe: ShapesRecipe;
  /** Runs `fn` with the averaged (EMA) weights loaded. */
  withAveraged<T>(fn: () => T): T;
  dispose(): void;
}

/**
 * Token ids of prompts at the text model's context length: the tokenizer's padded ids cut to
 * `length` (a prompt whose end-of-text token would be cut is an error naming it).
 */
export function contextIds(tokenizer: ClipTokenizer, prompts: readonly string[], length: number): number[][] {
  const ids = tokenizer.call([...prompts]).inputIds;
  return ids.map((row, i) => {
    if (row.length < length)
      throw new Error(`the tokenizer pads to ${row.length} tokens, fewer than the text model's ${length}`);
    const cut = row.slice(0, length);
    if (!cut.includes(tokenizer.eosTokenId))
      throw new Error(`prompt "${prompts[i]}" is longer than the text model's ${length} tokens`);
    return cut;
  });
}

/** A prompt encoder over the compact-vocabulary text model. */
export function compactPromptEncoder(
  tokenizer: ClipTokenizer,
  text: ClipTextModel,
  vocab: CompactVocab,
): PromptEncoder {
  const length = text.config.maxPositionEmbeddings;
  return {
    tokenizer,
    encode: (prompts) => text.forward(vocab.map(contextIds(tokenizer, prompts, length))).lastHiddenState,
  };
}

/** The loss of the recipe's schedule: ᾱ and the prediction type from its scheduler config. */
export function recipeObjective(recipe: ShapesRecipe): DiffusionObjective {
  const scheduler = DDIMScheduler.fromConfig(recipe.scheduler ?? shapesSchedulerConfig);
  return {
    alphasCumprod: scheduler.alphasCumprod,
    prediction: scheduler.predictionType,
    minSnrGamma: recipe.minSnrGamma ?? 5,
  };
}

/** UNet weights that start at zero (each residual branch starts as the identity, the output as 0). */
export const UNET_ZERO_INIT = (k: string) =>
  /resnets\.\d+\.conv2\.weight$|proj_out\.weight$|^conv_out\.weight$/.test(k);

export async function trainUnetStage(
  o: UnetStageOptions,
  vae: AutoencoderKL,
  tokenizer: ClipTokenizer,
): Promise<UnetStageModels> {
  const recipe = o.recipe ?? SHAPES_RECIPE;
  const vocab = new CompactVocab(grammarTokenIds(tokenizer));
  const text = ClipTextModel.fromConfig({ ...recipe.text, vocab_size: vocab.size });
  const unet = UNet2DConditionModel.fromConfig(recipe.unet);
  initWeights(text, { seed: o.seed + 1 });
  initWeights(unet, { seed: o.seed + 2, zeroInit: UNET_ZERO_INIT });
  text.setTrainable(true, 'text.');
  unet.setTrainable(true, 'unet.');
  const params = [
    ...text.trainableParams().map(([k, p]) => [`text_encoder/${k}`, p] as const),
    ...unet.trainableParams().map(([k, p]) => [`unet/${k}`, p] as const),
  ];
  const vars = params.map(([, p]) => p.trainableVariable!);
  const opt = new Adam(vars, { lr: o.lr, weightDecay: 0.01 });
  const ema = new Ema(vars, 0.999);
  const run = new StageRun(o.dir, 'unet', o.steps, params, opt, ema);
  const objective = recipeObjective(recipe);
  const steps = objective.alphasCumprod.length;
  const encoder = compactPromptEncoder(tokenizer, text, vocab);
  let step = await run.resume();
  const pool =
    step < o.steps
      ? await LatentPool.build(vae, {
          seed: o.seed,
          count: recipe.latentPool ?? 32768,
          imageSize: recipe.imageSize,
          onProgress: o.onPool,
        })
      : undefined;
  try {
    for (; pool && step < o.steps; step++) {
      opt.lr = lrAt(step, { base: o.lr, warmup: Math.min(200, o.steps / 10), total: o.steps });
      const { latents, captions: drawn } = pool.batch(pool.indices(step, o.batch));
      const rng = new Rng(stepSeed(o.seed, step, 3));
      const captions = drawn.map((c) => (rng.chance(o.dropCaption ?? 0.1) ? '' : c));
      const timesteps = captions.map(() => sampleTimestep(rng.uniform(), recipe.timestepPower ?? 0, steps));
      const noise = tf.randomNormal(latents.shape, 0, 1, 'float32', stepSeed(o.seed, step, 4)) as tf.Tensor4D;
      try {
        const r = optimiseStep(
          () => diffusionLoss(unet, { latents, noise, timesteps, context: encoder.encode(captions) }, objective),
          opt,
          1,
        );
        ema.update();
        run.record(step, r.loss, o.onProgress);
      } finally {
        tf.dispose([latents, noise]);
      }
      if ((step + 1) % o.checkpointEvery === 0 || step + 1 === o.steps || pastDeadline(o.deadline)) {
        await run.checkpoint();
        await writeSamples(
          join(o.dir, `unet-samples-${String(step + 1).padStart(6, '0')}.png`),
          o.sampleCaptions,
          ema,
          unet,
          vae,
          encoder,
          recipe.scheduler ?? shapesSchedulerConfig,
        );
      }
      if (pastDeadline(o.deadline)) break;
    }
  } finally {
    opt.dispose();
  }
  return {
    unet,
    text,
    vocab,
    tokenizer,
    run,
    recipe,
    withAveraged: (fn) => ema.withAveraged(fn),
    dispose: () => {
      ema.dispose();
      unet.dispose();
      text.dispose();
    },
  };
}

/** Generations of fixed captions (seed i for caption i) with the averaged weights. */
async function writeSamples(
  path: string,
  captions: readonly string[],
  ema: Ema,
  unet: UNet2DConditionModel,
  vae: AutoencoderKL,
  text: PromptEncoder,
  scheduler: Record<string, unknown>,
): Promise<void> {
  const pipe = new StableDiffusionPipeline({ text, unet, vae, schedulerConfig: scheduler });
  const images = await ema.withAveragedAsync(async () => {
    const out = [];
    for (let i = 0; i < captions.length; i++) {
      const r = await pipe.generate({ prompts: [captions[i]], seed: i, steps: 20, guidance: 5 });
      out.push(...r.images);
    }
    return out;
  });
  const rgb = images.map((im) => toRgbImage(im));
  await writePng(path, imageGrid(rgb, Math.min(4, rgb.length), captions));
}
