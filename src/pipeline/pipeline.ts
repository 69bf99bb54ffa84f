/**
 * Stable Diffusion 1.x text-to-image with an optional attention controller (Prompt-to-Prompt).
 *
 *   prompts ─tokenizer─▶ ids ─text encoder─▶ cond [P,77,D]      ("" ─▶ uncond)
 *   x_T (seeded or given) ─▶ for t: eps = unet([x,x], t, [uncond, cond], controller); CFG; step;
 *   controller.onStepEnd ─▶ vae.decode(x / scaling_factor) ─▶ images
 */
import * as tf from '@tensorflow/tfjs-core';
import type { AttentionController } from '../nn/attention-control.js';
import { setAttentionSlice } from '../nn/attention.js';
import type { UNet2DConditionModel } from '../models/unet/unet.js';
import type { AutoencoderKL } from '../models/vae/autoencoder-kl.js';
import type { PromptTokenizer } from '../models/clip/tokenizer.js';
import { createScheduler, type Scheduler, type SchedulerConfigJson } from '../models/schedulers/index.js';
import { hostFromTensor, nhwcToNchwHost, type HostTensor } from './host-tensor.js';
import type { FloatImage, RgbImage } from '../util/image.js';
import { imageToModelInput } from './image-input.js';
import { initialLatents } from './latents.js';
import { ddimInvert } from './invert.js';
import { sample, type StepInfo } from './sampler.js';

/** Tokenizer + text model: prompts → embeddings [P, 77, D]. */
export interface PromptEncoder {
  /** Embeds prompts (padded/truncated to the model length). */
  encode(prompts: readonly string[]): tf.Tensor3D;
  /** The tokenizer (Prompt-to-Prompt controllers locate words with it). */
  readonly tokenizer?: PromptTokenizer;
  /** Queries per attention chunk of the text encoder (see `StableDiffusionPipeline.setAttentionSlice`). */
  setAttentionSlice?(n: number | undefined): void;
  dispose?(): void;
}

export interface PipelineComponents {
  text: PromptEncoder;
  unet: UNet2DConditionModel;
  vae: AutoencoderKL;
  /** scheduler/scheduler_config.json of the model. */
  schedulerConfig: SchedulerConfigJson;
}

export interface GenerateOptions {
  prompts: readonly string[];
  /** One per prompt; default "" (the unconditional prompt). */
  negativePrompts?: readonly string[];
  /** Default 50. */
  steps?: number;
  /** Classifier-free guidance scale; ≤ 1 disables guidance. Default 7.5. */
  guidance?: number;
  /** Image size in pixels; defaults to the UNet's sample_size × VAE factor. Must be divisible by 8·(UNet factor). */
  height?: number;
  width?: number;
  /** Initial latents NCHW [P or 1, 4, h/8, w/8]; overrides `seed`. */
  latents?: HostTensor | tf.Tensor4D;
  seed?: number;
  /** Scheduler short name ('ddim', 'pndm', 'euler', 'lms', 'dpmpp'), a diffusers class name, or an instance. */
  scheduler?: string | Scheduler;
  controller?: AttentionController;
  /** Called after every denoising step; a returned promise is awaited before the next step. */
  onStep?: (info: StepInfo) => unknown;
  /** Cancels the run: checked before every step and every image decode; the run rejects with `signal.reason`. */
  signal?: AbortSignal;
  /** Skip the VAE decode (returns latents only). */
  decode?: boolean;
  keepLatentsPerStep?: boolean;
  /** One initial latent shared by all prompts (Prompt-to-Prompt). Default false for generate. */
  sharedLatents?: boolean;
}

export interface GenerateResult {
  /** One RGB image in [0,1] per prompt (empty when decode is false). */
  images: FloatImage[];
  /** Final latents, NCHW. */
  latents: HostTensor;
  /** Initial (unit-variance) latents actually used, NCHW. */
  initialLatents: HostTensor;
  timesteps: number[];
  /** Latents after each step, NCHW [steps, P, 4, h, w], when asked. */
  latentsPerStep?: HostTensor;
}

export interface EditOptions extends Omit<GenerateOptions, 'sharedLatents'> {
  /** The source prompt first, then the edited prompts. */
  prompts: readonly string[];
}

export interface InvertOptions {
  /** The image: 8-bit RGB (scaled v/127.5 − 1 as the null-text notebook) or float RGB in [0, 1]. */
  image: FloatImage | RgbImage;
  /** A prompt describing the image; its embedding conditions the inversion (no guidance). */
  prompt: string;
  /** Default 50. */
  steps?: number;
  /** A DDIM scheduler; default: the model's scheduler config as DDIM. Edit with the same settings. */
  scheduler?: Scheduler;
  onStep?: (info: StepInfo) => void;
}

export interface InversionResult {
  /** The inverted latents x_T, NCHW [1, 4, h, w]: `latents` for generate/edit with the same scheduler and steps. */
  latents: HostTensor;
  /** x₀ = VAE mean · scaling factor, NCHW [1, 4, h, w]. */
  imageLatents: HostTensor;
  /** x₀ and the latents after each inversion step, NCHW [steps + 1, 1, 4, h, w] (notebook `ddim_latents`). */
  trajectory: HostTensor;
  /** The sampling timesteps (descending); the inversion visits them in reverse. */
  timesteps: number[];
}

export class StableDiffusionPipeline {
  constructor(readonly components: PipelineComponents) {}

  /** Pixels per latent pixel (8 for SD). */
  get vaeScaleFactor(): number {
    return this.components.vae.downscale;
  }

  /** Default image size: sample_size × VAE factor. */
  get defaultSize(): number {
    return this.components.unet.config.sampleSize * this.vaeScaleFactor;
  }

  /** A scheduler from the model's config, optionally of another type. */
  scheduler(type?: string): Scheduler {
    return createScheduler(this.components.schedulerConfig, type ? { type } : {});
  }

  /** The prompt tokenizer, for building Prompt-to-Prompt controllers. */
  get tokenizer(): PromptTokenizer {
    const t = this.components.text.tokenizer;
    if (!t) throw new Error('this pipeline\'s prompt encoder exposes no tokenizer');
    return t;
  }

  /** Text embeddings [P, 77, D] (caller disposes). */
  encodePrompts(prompts: readonly string[]): tf.Tensor3D {
    return this.components.text.encode(prompts);
  }

  /** Text-to-image for each prompt. */
  async generate(opts: GenerateOptions): Promise<GenerateResult> {
    const prompts = opts.prompts;
    if (!prompts.length) throw new Error('at least one prompt is needed');
    const guidance = opts.guidance ?? 7.5;
    const negatives = opts.negativePrompts ?? prompts.map(() => '');
    if (negatives.length !== prompts.length) {
      throw new Error(`${negatives.length} negative prompts for ${prompts.length} prompts`);
    }
    const { height, width } = this.imageSize(opts);
    const f = this.vaeScaleFactor;
    const scheduler = typeof opts.scheduler === 'object' ? opts.scheduler : this.scheduler(opts.scheduler);
    const cond = this.encodePrompts(prompts);
    const uncond = guidance > 1 ? this.encodePrompts(negatives) : undefined;
    const x0 = initialLatents(
      { batch: prompts.length, channels: this.components.unet.config.inChannels, height: height / f, width: width / f },
      { latents: opts.latents, seed: opts.seed, shared: opts.sharedLatents },
    );
    let final: tf.Tensor4D | undefined;
    try {
      const r = await sample({
        unet: this.components.unet,
        scheduler,
        cond,
        uncond,
        latents: x0,
        steps: opts.steps ?? 50,
        guidance,
        controller: opts.controller,
        onStep: opts.onStep,
        signal: opts.signal,
        keepLatentsPerStep: opts.keepLatentsPerStep,
      });
      final = r.latents;
      const images = opts.decode === false ? [] : this.decode(final, opts.signal);
      const [b, h, w, c] = final.shape;
      return {
        images,
        latents: nhwcToNchwHost(final),
        initialLatents: nhwcToNchwHost(x0),
        timesteps: r.timesteps,
        latentsPerStep: r.latentsPerStep && stackNhwcAsNchw(r.latentsPerStep, [b, h, w, c]),
      };
    } finally {
      tf.dispose([cond, x0]);
      if (uncond) uncond.dispose();
      final?.dispose();
    }
  }

  /**
   * Prompt-to-Prompt: all prompts sampled together from one shared initial latent, with the
   * controller editing the attention of the edited prompts.
   */
  async edit(opts: EditOptions): Promise<GenerateResult> {
    if (opts.prompts.length < 2 && !opts.controller) throw new Error('edit needs a source and at least one edited prompt');
    return this.generate({ ...opts, sharedLatents: true });
  }

  /**
   * DDIM inversion of a real image (null-text notebook `ddim_inversion`): VAE-encode (mean ·
   * scaling factor), then run DDIM backwards with the prompt's embedding only (guidance 1).
   * Needs the VAE encoder (load with `vaeEncoder: true`). Null-text optimisation is not done, so
   * editing from these latents with guidance > 1 reconstructs the image only approximately.
   */
  async invert(opts: InvertOptions): Promise<InversionResult> {
    const { vae, unet } = this.components;
    if (!vae.hasEncoder) throw new Error('invert needs the VAE encoder: load the pipeline with { vaeEncoder: true }');
    const { width, height } = opts.image;
    this.imageSize({ prompts: [opts.prompt], height, width });
    const scheduler = opts.scheduler ?? this.scheduler('ddim');
    const x0 = tf.tidy(() => vae.encodeLatents(imageToModelInput(opts.image)));
    const cond = this.encodePrompts([opts.prompt]);
    try {
      const r = ddimInvert({ unet, scheduler, cond, latents: x0, steps: opts.steps ?? 50, onStep: opts.onStep });
      try {
        return {
          latents: nhwcToNchwHost(r.latents),
          imageLatents: nhwcToNchwHost(x0),
          trajectory: stackNhwcAsNchw(r.trajectory, r.latents.shape),
          timesteps: r.timesteps,
        };
      } finally {
        r.latents.dispose();
      }
    } finally {
      tf.dispose([x0, cond]);
    }
  }

  /** Latents NHWC → images in [0,1], one VAE call per image to bound memory (`signal` is checked before each). */
  decode(latents: tf.Tensor4D, signal?: AbortSignal): FloatImage[] {
    const images: FloatImage[] = [];
    for (let i = 0; i < latents.shape[0]; i++) {
      signal?.throwIfAborted();
      const img = tf.tidy(() => this.components.vae.decodeLatents(tf.slice(latents, [i, 0, 0, 0], [1, -1, -1, -1])));
      const [, height, width] = img.shape;
      images.push({ width, height, data: hostFromTensor(img).data });
      img.dispose();
    }
    return images;
  }

  /**
   * Sliced attention: queries per attention chunk in the UNet, VAE and text encoder on the batched
   * and per-head paths (undefined = automatic, a score budget of 256 MiB per chunk); the fused wasm
   * kernel never stores the scores and ignores it. Layers whose probabilities a controller reads
   * are never sliced.
   */
  setAttentionSlice(n: number | undefined): void {
    setAttentionSlice(this.components.unet, n);
    setAttentionSlice(this.components.vae, n);
    this.components.text.setAttentionSlice?.(n);
  }

  /** Frees every weight of the pipeline. */
  dispose(): void {
    this.components.unet.dispose();
    this.components.vae.dispose();
    this.components.text.dispose?.();
  }

  private imageSize(opts: GenerateOptions): { height: number; width: number } {
    const f = this.vaeScaleFactor;
    const shape = opts.latents?.shape;
    const height = opts.height ?? (shape ? shape[2] * f : this.defaultSize);
    const width = opts.width ?? (shape ? shape[3] * f : this.defaultSize);
    const unit = f * this.components.unet.sizeFactor;
    for (const [name, v] of [['height', height], ['width', width]] as const) {
      if (!Number.isInteger(v) || v <= 0 || v % unit !== 0) {
        throw new Error(`${name} ${v} must be a positive multiple of ${unit} (VAE factor ${f} × UNet factor ${this.components.unet.sizeFactor})`);
      }
    }
    return { height, width };
  }
}

function stackNhwcAsNchw(steps: Float32Array[], [b, h, w, c]: number[]): HostTensor {
  const per = b * h * w * c;
  const out = new Float32Array(steps.length * per);
  steps.forEach((s, k) => {
    for (let n = 0; n < b; n++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++)
          for (let ch = 0; ch < c; ch++) out[k * per + ((n * c + ch) * h + y) * w + x] = s[((n * h + y) * w + x) * c + ch];
  });
  return { shape: [steps.length, b, c, h, w], data: out };
}
