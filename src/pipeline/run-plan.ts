/**
 * A check of a sampling run that needs only the model's configs, so it runs before any weight is
 * loaded and before any step (with the image size, src/pipeline/image-size.ts): whether the activations
 * fit in the backend's memory budget (the wasm heap: a 4096×4096 image cannot be decoded in it).
 *
 * The memory estimate scales live tensor bytes measured with the allocation guard (wasm; both grow
 * linearly with the pixel count):
 *   UNet call   ≈ max over levels ℓ of k_ℓ · B·N_ℓ·C_ℓ · 4 bytes   (batch B incl. the CFG copy;
 *                 level ℓ has N_ℓ = h·w/4^ℓ latent pixels and C_ℓ channels; k = 58 at a level with
 *                 attention, 16 without)
 *   VAE decode  ≈  4 · H·W·max(C₀, C₁) · 4  (one image of H×W pixels, C₀/C₁ = first two block widths)
 * k = 58 was measured on tiny-sd, where level 0 has attention and dominates (58·B·h·w·C₀); SD-XL's
 * level 0 has none, its level 1 (C₁ = 2·C₀ at a quarter of the pixels) dominates: tiny-sdxl measures
 * 31.5·B·h·w·C₀ against 29 + its level-0 resnets, and the real SD-XL UNet (random weights, streamed)
 * grows by about 19–25 · B·h·w·C₀ per pixel between 256² and 512², i.e. ~1.2 GiB at 1024² with CFG,
 * as the estimate says. It leaves out what a controller stores and the streamed weights of the running
 * layer, so it is a lower estimate: only sizes that cannot fit are refused.
 */
import type { UNetConfig } from '../models/unet/config.js';
import type { VaeConfig } from '../models/vae/config.js';
import { imageSizeRuleOf, resolveImageSize, type ImageSizeRule } from './image-size.js';

/**
 * Defaults of a sampling run, declared once: the pipeline, null-text inversion and every CLI
 * command take them (and `--help` shows them from here). SD's own: 50 steps, guidance 7.5.
 */
export const RUN_DEFAULTS = { steps: 50, guidance: 7.5 } as const;

/** Estimated peak live tensor bytes of a run's stages (see the module comment). */
export interface RunMemory {
  /** One UNet call on the whole batch. */
  unetBytes: number;
  /** One VAE decode (images are decoded one at a time). */
  vaeBytes: number;
}

/** Live bytes per latent pixel, sample and channel at a UNet level with / without attention. */
const UNET_LEVEL_FACTOR = { attention: 58, resnets: 16 };

/**
 * Widths of the UNet and VAE (their configs' block_out_channels; `unetAttention`: which UNet levels
 * have attention, default all) and the run's size and batch.
 */
export function estimateRunMemory(
  widths: { unet: readonly number[]; vae: readonly number[]; unetAttention?: readonly boolean[] },
  run: { height: number; width: number; vaeFactor: number; batch: number },
): RunMemory {
  const latentPixels = (run.height / run.vaeFactor) * (run.width / run.vaeFactor);
  const vaeWidth = Math.max(widths.vae[0], widths.vae[1] ?? 0);
  const level = widths.unet.map(
    (c, l) =>
      (widths.unetAttention?.[l] === false ? UNET_LEVEL_FACTOR.resnets : UNET_LEVEL_FACTOR.attention) *
      (latentPixels / 4 ** l) *
      c,
  );
  return {
    unetBytes: run.batch * Math.max(...level) * 4,
    vaeBytes: 4 * run.height * run.width * vaeWidth * 4,
  };
}

/** What a run of a model needs, from its parsed configs: the image size (checked) and the memory. */
export interface ModelRunPlan {
  rule: ImageSizeRule;
  size: { height: number; width: number };
  memory: RunMemory;
}

/**
 * The plan of a run from the UNet and VAE configs alone (before any weight loads): the asked
 * height/width, else those of given NCHW latents, else the model's default size (errors name the
 * multiple and the default), and the memory of `batch` UNet samples (incl. the CFG copy).
 */
export function modelRunPlan(
  unet: UNetConfig,
  vae: VaeConfig,
  req: { height?: number; width?: number; latentsShape?: readonly number[]; batch: number },
): ModelRunPlan {
  const rule = imageSizeRuleOf(unet, vae);
  const size = resolveImageSize(req, rule);
  const memory = estimateRunMemory(
    {
      unet: unet.blockOutChannels,
      vae: vae.blockOutChannels,
      unetAttention: unet.downBlockTypes.map((t) => t === 'CrossAttnDownBlock2D'),
    },
    { ...size, vaeFactor: rule.vaeFactor, batch: req.batch },
  );
  return { rule, size, memory };
}

/** A run refused before it starts because it cannot fit the backend's memory (the message says what it needs). */
export class RunMemoryError extends Error {
  override name = 'RunMemoryError';
}

const gib = (b: number) => `${(b / 2 ** 30).toFixed(b < 2 ** 30 ? 2 : 1)} GiB`;

/**
 * Throws a one-line error when `liveBytes` (already on the backend, e.g. resident weights) plus
 * the larger stage does not fit `budget` (bytes; undefined = no known limit).
 */
export function checkRunMemory(
  mem: RunMemory,
  liveBytes: number,
  budget: { bytes: number; name: string } | undefined,
  size: { height: number; width: number },
): void {
  if (!budget) return;
  const need = liveBytes + Math.max(mem.unetBytes, mem.vaeBytes);
  if (need <= budget.bytes) return;
  throw new RunMemoryError(
    `${size.width}×${size.height} does not fit: it needs about ${gib(need)} of backend memory ` +
      `(UNet call ${gib(mem.unetBytes)}, VAE decode ${gib(mem.vaeBytes)}, ${gib(liveBytes)} in use) but the ${budget.name} is ${gib(budget.bytes)}; choose a smaller size`,
  );
}
