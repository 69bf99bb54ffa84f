/**
 * The whole recipe of the shipped demo model: autoencoder, then UNet + text encoder, then the
 * float16 model directory. Every stage resumes from its checkpoint in `dir`, so the run can be
 * spread over several sittings (`maxMinutes` ends a sitting after its next checkpoint).
 */
import { trainVaeStage } from './vae-stage.js';
import { trainUnetStage } from './unet-stage.js';
import { exportShapesModel } from './export.js';
import type { StageProgress, StageState } from '../train/stage-run.js';
import { loadClipTokenizer } from '../clip-tokenizer.js';
import { bundledTokenizerDir } from '../package-files.js';
import { SHAPES_RECIPE, type ShapesRecipe } from '../../shapes/configs.js';
import { loadVaeFrom } from './vae-from.js';
import type { AutoencoderKL } from '../../models/vae/autoencoder-kl.js';

export interface ShapesTrainingOptions {
  /** Run folder: checkpoints, loss curves, sample grids. */
  dir: string;
  /** Where the finished model is written (a diffusers directory). */
  exportTo: string;
  seed: number;
  vaeSteps: number;
  vaeBatch: number;
  vaeCrop: number;
  vaeLr: number;
  unetSteps: number;
  unetBatch: number;
  unetLr: number;
  checkpointEvery: number;
  /** Default: the shipped model's architecture. */
  recipe?: ShapesRecipe;
  /** A model directory whose autoencoder is used as is (the autoencoder stage is skipped). */
  vaeFrom?: string;
  /** Progress of encoding the latent pool (scenes encoded, of `total`). */
  onPool?: (done: number, total: number) => void;
  /** Captions of the sample grids (default SAMPLE_CAPTIONS). */
  sampleCaptions?: readonly string[];
  /** Stop after this many minutes (at a checkpoint); resume later. */
  maxMinutes?: number;
  onProgress?: (p: StageProgress) => void;
  /** Called after each stage and at the end with a one-line note. */
  onNote?: (line: string) => void;
}

/** Captions of the sample grids: one and two objects, sizes, every colour and shape. */
export const SAMPLE_CAPTIONS = [
  'a red circle on a white background',
  'a big blue square on a yellow background',
  'a small green triangle on a black background',
  'a purple star on an orange background',
  'a yellow circle and a blue triangle on a green background',
  'a big white star and a small red square on a purple background',
  'an orange square and a black circle on a white background',
  'a green star on a blue background',
];

export interface ShapesTrainingResult {
  finished: boolean;
  stages: StageState[];
}

export async function trainShapesModel(o: ShapesTrainingOptions): Promise<ShapesTrainingResult> {
  const deadline = o.maxMinutes === undefined ? undefined : Date.now() + o.maxMinutes * 60_000;
  const track = o.onProgress;

  const vaeRes =
    o.vaeFrom !== undefined
      ? await borrowedVae(o.vaeFrom, o.recipe ?? SHAPES_RECIPE, o.onNote)
      : await trainVaeStage({
          dir: o.dir,
          steps: o.vaeSteps,
          batch: o.vaeBatch,
          crop: o.vaeCrop,
          lr: o.vaeLr,
          seed: o.seed,
          klWeight: 1e-4,
          checkpointEvery: o.checkpointEvery,
          onProgress: track,
          deadline,
          recipe: o.recipe,
        });
  const stages = vaeRes.run ? [vaeRes.run.state] : [];
  if (vaeRes.run) {
    if (vaeRes.run.state.step < o.vaeSteps) {
      vaeRes.vae.dispose();
      return { finished: false, stages };
    }
    o.onNote?.(`vae: ${o.vaeSteps} steps done; scaling factor ${vaeRes.scalingFactor.toFixed(4)}`);
  }
  const tokenizer = await loadClipTokenizer(bundledTokenizerDir());
  const models = await trainUnetStage(
    {
      dir: o.dir,
      steps: o.unetSteps,
      batch: o.unetBatch,
      lr: o.unetLr,
      seed: o.seed,
      checkpointEvery: o.checkpointEvery,
      onProgress: track,
      onPool: o.onPool,
      deadline,
      recipe: o.recipe,
      sampleCaptions: o.sampleCaptions ?? SAMPLE_CAPTIONS,
    },
    vaeRes.vae,
    tokenizer,
  );
  try {
    stages.push(models.run.state);
    if (models.run.state.step < o.unetSteps) return { finished: false, stages };
    await exportShapesModel(o.exportTo, { vae: vaeRes.vae, scalingFactor: vaeRes.scalingFactor, models, seed: o.seed });
    const total = stages.reduce((s, st) => s + st.wallSeconds, 0);
    o.onNote?.(
      `exported ${o.exportTo}; training took ${(total / 60).toFixed(1)} min (${stages.map((s) => `${s.stage} ${(s.wallSeconds / 60).toFixed(1)}`).join(', ')})`,
    );
    return { finished: true, stages };
  } finally {
    models.dispose();
    vaeRes.vae.dispose();
  }
}

async function borrowedVae(
  dir: string,
  recipe: ShapesRecipe,
  note?: (line: string) => void,
): Promise<{ vae: AutoencoderKL; scalingFactor: number; run?: undefined }> {
  const b = await loadVaeFrom(dir, recipe);
  note?.(`vae: from ${dir} (not trained again); scaling factor ${b.scalingFactor.toFixed(4)}`);
  return b;
}
