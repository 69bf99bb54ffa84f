/**
 * The background probes of the quality report (issue 19): does the background come from the caption?
 *
 * - plain: "a <colour> <shape> on a <bg> background" for each of the 8 background colours × fixed
 *   seeds 0, 1, …; the share of seeds whose background follows the caption, per colour.
 * - noise mean: the same captions and noise, with the noise's per-channel spatial mean set to another
 *   palette colour's latent mean × `NOISE_MEAN_SCALE`; the share of backgrounds that still follow the
 *   caption. A model whose schedule leaks the image's mean colour into x_T (SD's scaled-linear betas
 *   sampled from t = 951) draws the noise's colour instead.
 *
 * A colour's latent mean is the per-channel mean of the model's own VAE encoding (mean · scaling
 * factor) of a flat image of that palette colour. Noise reaches the pipeline as its `latents` option,
 * so the probes work for any prediction type, schedule and text context of the model.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { StableDiffusionPipeline } from '../../pipeline/pipeline.js';
import type { HostTensor } from '../../pipeline/host-tensor.js';
import { TorchGenerator } from '../../models/random.js';
import { alphasCumprod, makeBetas } from '../../models/schedulers/betas.js';
import { imageToUint8, type FloatImage, type RgbImage } from '../../util/image.js';
import { COLOURS, PALETTE, SHAPES, backgroundFollows, captionOf, type ColourName } from '../../shapes/world/index.js';
import type { QualitySettings } from './score.js';

/**
 * √ᾱ at t = 951 of SD's scaled-linear schedule (β 0.00085–0.012, 1000 steps): 0.0903. That is how
 * much of the clean latent x_T kept where the old schedule (`leading` spacing, steps_offset 1, 20
 * steps) started sampling — the leak of the image's mean colour that the noise-mean probe imitates.
 * (√ᾱ at t = 999 of the same schedule is 0.0683.)
 */
export const NOISE_MEAN_SCALE = Math.sqrt(
  alphasCumprod(
    makeBetas({
      betaSchedule: 'scaled_linear',
      betaStart: 0.00085,
      betaEnd: 0.012,
      numTrainTimesteps: 1000,
      trainedBetas: null,
    }),
  )[951],
);

/** Most seeds per colour: the noise colour is the palette's opposite, rotated by the seed (4 seeds keep it off the background). */
export const MAX_PROBE_SEEDS = 4;
export const DEFAULT_PROBE_SEEDS = 4;

export interface ProbeCase {
  background: ColourName;
  caption: string;
  /** Seed of the noise (the same for every colour). */
  seed: number;
  /** The colour whose latent mean the noise-mean probe gives the noise. */
  noiseColour: ColourName;
}

/** The probes' captions: per seed s, background b (palette order), object colour b + 1 + s and noise colour b + 4 + s (mod 8), shape b + s (mod 4). */
export function probeCases(seeds = DEFAULT_PROBE_SEEDS): ProbeCase[][] {
  if (!Number.isInteger(seeds) || seeds < 0 || seeds > MAX_PROBE_SEEDS)
    throw new Error(`background probes: seeds must be an integer in 0–${MAX_PROBE_SEEDS}, got ${seeds}`);
  const n = COLOURS.length;
  return Array.from({ length: seeds }, (_, s) =>
    COLOURS.map((background, b) => {
      const colour = COLOURS[(b + 1 + s) % n],
        shape = SHAPES[(b + s) % SHAPES.length];
      return {
        background,
        seed: s,
        noiseColour: COLOURS[(b + 4 + s) % n],
        caption: captionOf({ objects: [{ colour, shape }], background }),
      };
    }),
  );
}

/** Per palette colour, the per-channel mean of the VAE latent (mean · scaling factor) of a flat image of it. Needs the VAE encoder. */
export function paletteLatentMeans(pipe: StableDiffusionPipeline): Record<ColourName, number[]> {
  const vae = pipe.components.vae;
  if (!vae.hasEncoder)
    throw new Error('the noise-mean probe needs the VAE encoder: load the pipeline with { vaeEncoder: true }');
  const size = pipe.defaultSize;
  const data = new Float32Array(COLOURS.length * size * size * 3);
  COLOURS.forEach((c, k) => {
    for (let p = 0; p < size * size; p++)
      for (let ch = 0; ch < 3; ch++) data[(k * size * size + p) * 3 + ch] = PALETTE[c][ch] / 127.5 - 1;
  });
  const means = tf.tidy(() => tf.mean(vae.encodeLatents(tf.tensor4d(data, [COLOURS.length, size, size, 3])), [1, 2]));
  const rows = means.arraySync() as number[][];
  means.dispose();
  return Object.fromEntries(COLOURS.map((c, k) => [c, rows[k]])) as Record<ColourName, number[]>;
}

/** Unit noise NCHW [1, C, h, w] of `seed` (as the pipeline draws it). */
function seedNoise(seed: number, shape: number[]): Float32Array {
  return new TorchGenerator(seed).randn(shape);
}

/** `noise` with each channel's spatial mean replaced by `mean[c]` · NOISE_MEAN_SCALE. */
export function shiftNoiseMean(noise: Float32Array, shape: number[], mean: readonly number[]): Float32Array {
  const [, c, h, w] = shape;
  const out = Float32Array.from(noise);
  for (let ch = 0; ch < c; ch++) {
    const part = out.subarray(ch * h * w, (ch + 1) * h * w);
    const m = part.reduce((a, b) => a + b, 0) / part.length;
    for (let i = 0; i < part.length; i++) part[i] += NOISE_MEAN_SCALE * mean[ch] - m;
  }
  return out;
}

export interface ProbeResult {
  case: ProbeCase;
  /** The background follows the caption with the plain noise / with the shifted noise mean. */
  plain: boolean;
  shifted: boolean;
  images: { plain: RgbImage; shifted: RgbImage };
}

export interface ProbeSummary {
  /** Per background colour, the share of seeds whose background follows the caption (plain noise). */
  background_follows_caption: Record<ColourName, number>;
  /** The least of those. */
  background_follows_caption_min: number;
  /** Share of all cases whose background still follows the caption with the noise's mean shifted to another colour's. */
  noise_mean_probe: number;
}

const rgb = (im: FloatImage): RgbImage => ({ width: im.width, height: im.height, data: imageToUint8(im) });

/** Runs both probes: per seed, one batch of the 8 captions with the plain noise and one with the shifted noise. */
export async function runBackgroundProbes(
  pipe: StableDiffusionPipeline,
  settings: QualitySettings,
  seeds = DEFAULT_PROBE_SEEDS,
  onCase?: (r: ProbeResult) => void,
): Promise<ProbeResult[]> {
  const cases = probeCases(seeds);
  if (cases.length === 0) return [];
  const means = paletteLatentMeans(pipe);
  const latentSize = pipe.defaultSize / pipe.vaeScaleFactor;
  const shape = [1, means.red.length, latentSize, latentSize];
  const out: ProbeResult[] = [];
  for (const row of cases) {
    const noise = seedNoise(row[0].seed, shape);
    const batch = (parts: Float32Array[]): HostTensor => {
      const data = new Float32Array(parts.length * noise.length);
      parts.forEach((p, k) => data.set(p, k * noise.length));
      return { shape: [parts.length, ...shape.slice(1)], data };
    };
    const run = async (latents: HostTensor) =>
      (
        await pipe.generate({
          prompts: row.map((c) => c.caption),
          latents,
          steps: settings.steps,
          guidance: settings.guidance,
          scheduler: 'ddim',
        })
      ).images.map(rgb);
    const plain = await run(batch(row.map(() => noise)));
    const shifted = await run(batch(row.map((c) => shiftNoiseMean(noise, shape, means[c.noiseColour]))));
    row.forEach((c, k) => {
      const r = {
        case: c,
        plain: backgroundFollows(plain[k], c.background),
        shifted: backgroundFollows(shifted[k], c.background),
        images: { plain: plain[k], shifted: shifted[k] },
      };
      out.push(r);
      onCase?.(r);
    });
  }
  return out;
}

/** The probes' summary (NaN where there are no cases). */
export function summariseProbes(results: readonly ProbeResult[]): ProbeSummary {
  const share = (xs: boolean[]) => (xs.length ? xs.filter(Boolean).length / xs.length : NaN);
  const perColour = Object.fromEntries(
    COLOURS.map((c) => [c, share(results.filter((r) => r.case.background === c).map((r) => r.plain))]),
  ) as Record<ColourName, number>;
  return {
    background_follows_caption: perColour,
    background_follows_caption_min: results.length ? Math.min(...Object.values(perColour)) : NaN,
    noise_mean_probe: share(results.map((r) => r.shifted)),
  };
}
