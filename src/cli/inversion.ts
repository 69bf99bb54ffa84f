/**
 * Null-text inversion of a photo for `ptp invert` and `ptp edit --image`: options, the checks made
 * before any heavy work (image readable, sizes, numbers, model identity), the run with progress,
 * and the reconstruction with its PSNR.
 */
import type { OptionSpec, ParsedArgs } from './args.js';
import { UsageError } from './args.js';
import type { CommandContext } from './command.js';
import type { ModelRunOptions } from './model-options.js';
import { progressPrinter } from './progress.js';
import { readImageFile } from '../node/images.js';
import { modelFingerprint, type InversionData } from '../node/inversion-file.js';
import type { ModelDir } from '../io/model-dir.js';
import { fitImage, type CropOffsets } from '../util/resize.js';
import { psnr, toRgbImage, type RgbImage } from '../util/image.js';
import { createScheduler, type Scheduler } from '../models/schedulers/index.js';
import type { NullTextProgress } from '../pipeline/null-text.js';
import type { StableDiffusionPipeline } from '../pipeline/pipeline.js';
import { modelContextLength } from '../pipeline/load.js';
import type { HostTensor } from '../pipeline/host-tensor.js';
import { nchwToNhwc } from '../pipeline/host-tensor.js';
import { defaultImageSize, imageSizeRuleOf } from '../pipeline/image-size.js';
import { parseUNetConfig, type UNetConfig } from '../models/unet/config.js';
import { parseVaeConfig, type VaeConfig } from '../models/vae/config.js';

/** Options of the inversion (besides the model options and the prompt). */
export const INVERSION_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'inner-steps',
    type: 'number',
    range: { integer: true, min: 1 },
    valueName: '<n>',
    description: 'Adam iterations per step at most (default 10)',
  },
  {
    name: 'early-stop',
    type: 'number',
    range: { min: 0 },
    valueName: '<eps>',
    description: "stop a step's iterations once the loss < eps + step·2e-5 (default 1e-5)",
  },
  {
    name: 'steps-offset',
    type: 'number',
    range: { integer: true, min: 0 },
    valueName: '<n>',
    description: "override the scheduler's steps_offset (the null-text notebook uses 0)",
  },
  {
    name: 'offsets',
    type: 'string',
    valueName: '<l,r,t,b>',
    description: 'pixels cut from the left, right, top, bottom before the centre crop (default 0,0,0,0)',
  },
];

export interface InversionSettings {
  imagePath: string;
  innerSteps: number;
  earlyStop: number;
  stepsOffset?: number;
  offsets: CropOffsets;
}

/** Reads and checks the inversion options. */
export function inversionSettings(args: ParsedArgs, imagePath: string): InversionSettings {
  const o = args.options;
  const innerSteps = (o['inner-steps'] as number | undefined) ?? 10;
  const earlyStop = (o['early-stop'] as number | undefined) ?? 1e-5;
  const stepsOffset = o['steps-offset'] as number | undefined;
  let offsets: CropOffsets = {};
  if (o.offsets !== undefined) {
    const parts = String(o.offsets)
      .split(',')
      .map((s) => s.trim());
    const v = parts.map(Number);
    if (parts.length !== 4 || parts.some((p) => p === '') || v.some((x) => !Number.isInteger(x) || x < 0)) {
      throw new UsageError(
        `--offsets: expected four non-negative integers left,right,top,bottom, got "${String(o.offsets)}"`,
      );
    }
    offsets = { left: v[0], right: v[1], top: v[2], bottom: v[3] };
  }
  return { imagePath, innerSteps, earlyStop, stepsOffset, offsets };
}

/** What the model directory says about sizes, read from its configs (no weights loaded). */
export interface ModelGeometry {
  /** Default image size (sample_size × VAE factor). */
  defaultSize: number;
  /** Image sizes must be multiples of this. */
  unit: number;
  fingerprint: string;
  /** steps_offset of the model's scheduler config. */
  stepsOffset: number;
  /** Pixels per latent cell (2^(VAE blocks − 1)). */
  vaeFactor: number;
  latentChannels: number;
  /** Width of the text embeddings the UNet attends to. */
  contextDim: number;
  /** Tokens per text embedding (the tokenizer's model_max_length, checked against the text encoder). */
  contextLength: number;
  /** The model's scheduler config (for the DDIM timesteps of an inversion). */
  schedulerConfig: Record<string, unknown>;
}

/** The sizes and fingerprint of an open model directory (errors name what is wrong with it). */
export async function modelGeometry(dir: ModelDir): Promise<ModelGeometry> {
  const sched = dir.config('scheduler') as { steps_offset?: number };
  let unet: UNetConfig, vae: VaeConfig, contextLength: number;
  try {
    unet = parseUNetConfig(dir.config('unet'), `${dir.name}/unet/config.json`);
    vae = parseVaeConfig(dir.config('vae'), `${dir.name}/vae/config.json`);
    contextLength = modelContextLength(dir);
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0]);
  }
  const rule = imageSizeRuleOf(unet, vae);
  return {
    defaultSize: defaultImageSize(rule),
    unit: rule.vaeFactor * rule.unetFactor,
    fingerprint: await modelFingerprint(dir),
    stepsOffset: sched.steps_offset ?? 0,
    vaeFactor: rule.vaeFactor,
    latentChannels: vae.latentChannels,
    contextDim: unet.crossAttentionDim[0],
    contextLength,
    schedulerConfig: sched as Record<string, unknown>,
  };
}

/** Image size of the run: --height/--width or the model's default, checked against the model. */
export function runSize(o: ModelRunOptions, g: ModelGeometry): { width: number; height: number } {
  const width = o.width ?? o.height ?? g.defaultSize;
  const height = o.height ?? o.width ?? g.defaultSize;
  for (const [name, v] of [
    ['height', height],
    ['width', width],
  ] as const) {
    if (v % g.unit !== 0) throw new UsageError(`--${name} ${v} must be a multiple of ${g.unit} for this model`);
  }
  return { width, height };
}

/** Reads the photo and fits it to the run size (load_512 for a square size). */
export async function readPhoto(s: InversionSettings, size: { width: number; height: number }): Promise<RgbImage> {
  let photo: RgbImage;
  try {
    photo = await readImageFile(s.imagePath);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  return fitImage(photo, size.width, size.height, s.offsets);
}

/** The DDIM scheduler of the inversion and of every run that uses it. */
export function inversionScheduler(pipe: StableDiffusionPipeline, stepsOffset: number): Scheduler {
  return createScheduler({ ...pipe.components.schedulerConfig, steps_offset: stepsOffset }, { type: 'ddim' });
}

function iterationPrinter(ctx: CommandContext): (p: NullTextProgress) => void {
  let last = 0;
  return (p) => {
    const line = `null-text: step ${p.step + 1}/${p.steps} iteration ${p.iteration + 1}/${p.iterations} loss ${p.loss.toExponential(2)}${p.stopped ? ' (early stop)' : ''}, ${(p.elapsedMs / 1000).toFixed(0)} s`;
    if (ctx.interactive) process.stderr.write(`\r${line}\x1b[K`);
    else if (ctx.verbose || Date.now() - last > 30_000) {
      last = Date.now();
      ctx.err(line);
    }
  };
}

/** Inverts the photo and samples its reconstruction; returns the file contents and the reconstructed image. */
export async function invertPhoto(
  pipe: StableDiffusionPipeline,
  ctx: CommandContext,
  run: {
    image: RgbImage;
    prompt: string;
    steps: number;
    guidance: number;
    stepsOffset: number;
    model: string;
    fingerprint: string;
    settings: InversionSettings;
  },
): Promise<{ data: InversionData; reconstruction: RgbImage }> {
  const t0 = Date.now();
  const r = await pipe.invertNullText({
    image: run.image,
    prompt: run.prompt,
    steps: run.steps,
    guidance: run.guidance,
    innerSteps: run.settings.innerSteps,
    earlyStop: run.settings.earlyStop,
    scheduler: inversionScheduler(pipe, run.stepsOffset),
    onStep: progressPrinter(ctx, 'DDIM inversion'),
    onIteration: iterationPrinter(ctx),
    onNullTextStep: progressPrinter(ctx, 'null-text'),
  });
  const iterations = r.losses.reduce((n, l) => n + l.length, 0);
  ctx.err(
    `inverted in ${((Date.now() - t0) / 1000).toFixed(1)} s (${iterations} Adam iterations over ${run.steps} steps; last loss ${r.losses[r.losses.length - 1].slice(-1)[0].toExponential(2)})`,
  );
  const reconstruction = await reconstruct(
    pipe,
    ctx,
    run.prompt,
    r.latents,
    r.uncondEmbeddings,
    run.steps,
    run.guidance,
    run.stepsOffset,
  );
  const vae = toRgbImage(await decodeLatents(pipe, r.imageLatents));
  const db = psnr(reconstruction, run.image);
  ctx.out(
    `reconstruction PSNR ${db.toFixed(2)} dB against the input (the VAE round trip alone: ${psnr(vae, run.image).toFixed(2)} dB)`,
  );
  const data: InversionData = {
    latents: r.latents,
    uncondEmbeddings: r.uncondEmbeddings,
    timesteps: r.timesteps,
    image: run.image,
    meta: {
      prompt: run.prompt,
      model: run.model,
      fingerprint: run.fingerprint,
      steps: run.steps,
      innerSteps: run.settings.innerSteps,
      earlyStop: run.settings.earlyStop,
      guidance: run.guidance,
      stepsOffset: run.stepsOffset,
      psnr: db,
    },
  };
  return { data, reconstruction };
}

/** Guided sampling from inverted latents with the per-step embeddings. */
async function reconstruct(
  pipe: StableDiffusionPipeline,
  ctx: CommandContext,
  prompt: string,
  latents: HostTensor,
  uncond: HostTensor,
  steps: number,
  guidance: number,
  stepsOffset: number,
): Promise<RgbImage> {
  const r = await pipe.generate({
    prompts: [prompt],
    latents,
    uncondEmbeddings: uncond,
    steps,
    guidance,
    scheduler: inversionScheduler(pipe, stepsOffset),
    onStep: progressPrinter(ctx, 'reconstruction'),
  });
  return toRgbImage(r.images[0]);
}

async function decodeLatents(pipe: StableDiffusionPipeline, latents: HostTensor) {
  const x = nchwToNhwc(latents);
  try {
    return (await pipe.decode(x))[0];
  } finally {
    x.dispose();
  }
}
