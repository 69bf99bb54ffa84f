/**
 * The autoencoder of an existing model directory as the frozen first stage of a training run
 * (`ptp train --vae-from models/shapes`): the UNet stage is retrained on its latents without
 * training the autoencoder again.
 */
import { AutoencoderKL } from '../../models/vae/autoencoder-kl.js';
import { loadWeights } from '../../nn/load-weights.js';
import type { ShapesRecipe } from '../../shapes/configs.js';
import { openModelDirectory } from '../model-dir.js';

export interface BorrowedVae {
  vae: AutoencoderKL;
  /** The directory's `scaling_factor` (kept for the exported model). */
  scalingFactor: number;
}

/** Loads `<dir>/vae` (encoder included) into the recipe's autoencoder architecture. */
export async function loadVaeFrom(dir: string, recipe: ShapesRecipe): Promise<BorrowedVae> {
  const model = await openModelDirectory(dir);
  try {
    const scalingFactor = Number(model.config('vae').scaling_factor);
    if (!(scalingFactor > 0))
      throw new Error(
        `${dir}/vae/config.json: scaling_factor must be a positive number, got ${model.config('vae').scaling_factor}`,
      );
    const vae = AutoencoderKL.fromConfig(
      { ...recipe.vae, scaling_factor: scalingFactor },
      { encoder: true },
      `${dir}/vae/config.json`,
    );
    try {
      await loadWeights(vae, model.weights('vae'), { residency: 'resident' });
    } catch (e) {
      vae.dispose();
      throw new Error(`--vae-from ${dir}: ${(e as Error).message}`);
    }
    return { vae, scalingFactor };
  } finally {
    await model.close();
  }
}
