/**
 * Stable Diffusion 1.x / 2.x / XL text-to-image with an optional attention controller (Prompt-to-Prompt).
 *
 *   prompts ─tokenizer─▶ ids ─text encoder─▶ cond [P,T,D]      ("" ─▶ uncond; T = context length, 77 for SD)
 *   x_T (seeded or given) ─▶ for t: eps = unet([x,x], t, [uncond, cond], controller); CFG; step;
 *   controller.onStepEnd ─▶ vae.decode(x / scaling_factor) ─▶ images
 *
 * SD-XL (a UNet with addition_embed_type "text_time"): two text encoders give cond and each
 * prompt's pooled embedding, which goes to the UNet with the micro-conditioning time ids
 * (size-conditioning.ts); without negative prompts and with `forceZerosForEmptyPrompt` the
 * unconditional embeddings are zeros.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { AttentionController } from '../nn/attention-control.js';
import { setAttentionSlice } from '../nn/attention.js';
import type { AddedConditioning, UNet2DConditionModel } from '../models/unet/unet.js';
import type { AutoencoderKL } from '../models/vae/autoencoder-kl.js';
import type { PromptTokenizer } from '../models/clip/tokenizer.js';
import type { PromptEncodeOptions } from '../models/clip/prompt-encoder.js';
import type { PooledPromptEmbeddings } from '../models/clip/dual-prompt-encoder.js';
import { createScheduler, type Scheduler, type SchedulerConfigJson } from '../models/schedulers/index.js';
import { nchwToNhwc, nhwcToNchwHost, readHost, type HostTensor } from './host-tensor.js';
import { nullTextOptimize, nullTextSettings, type NullTextSettings } from './null-text.js';
import type { FloatImage, RgbImage } from '../util/image.js';
import { imageToModelInput } from './image-input.js';
import { initialLatents } from './latents.js';
import { defaultImageSize, imageSizeRuleOf, resolveImageSize, type ImageSizeRule } from './image-size.js';
import { ddimInvert } from './invert.js';
import { sample, type StepInfo } from './sampler.js';
import { checkRunMemory, estimateRunMemory, RUN_DEFAULTS } from './run-plan.js';
import { checkSizeConditioning, sizeTimeIds, unetTimeIds, type SizeConditioning } from './size-conditioning.js';
import { wasmHeapBudget } from '../backend/wasm-patches.js';

/** Tokenizer + text model: prompts → embeddings [P, T, D] (T: the context length, 77 for SD). */
export interface PromptEncoder {
  /** Embeds prompts (padded/truncated to the model length). */
  encode(prompts: readonly string[], opts?: PromptEncodeOptions): tf.Tensor3D;
  /** SD-XL: the embeddings with each prompt's pooled embedding (see `DualClipPromptEncoder`). */
  encodePooled?(prompts: readonly string[], opts?: PromptEncodeOptions): PooledPromptEmbeddings;
  /** The tokenizer (Prompt-to-Prompt controllers locate words with it). */
  readonly tokenizer?: PromptTokenizer;
  /** Tokens per embedding, T (default: the tokenizer's `modelMaxLength`). */
  readonly contextLength?: number;
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
  /**
   * SD-XL (model_index.json `force_zeros_for_empty_prompt`): without negative prompts the
   * unconditional embeddings (and pooled embeddings) are zeros instead of those of "". Default false.
   */
  forceZerosForEmptyPrompt?: boolean;
}

/** The text conditioning of some prompts: embeddings, and for SD-XL the pooled embeddings. */
export interface PromptConditioning {
  /** [P, T, D] (T = the context length). */
  embeds: tf.Tensor3D;
  /** SD-XL: [P, pooled D] (text_encoder_2's projected pooled output); undefined for SD-1/2. */
  pooled?: tf.Tensor2D;
}

export interface GenerateOptions extends SizeConditioning {
  prompts: readonly string[];
  /**
   * One per prompt; default "" (the unconditional prompt), or zero embeddings for an SD-XL model
   * with `force_zeros_for_empty_prompt` (as diffusers: given "" prompts are encoded).
   */
  negativePrompts?: readonly string[];
  /**
   * Unconditional embeddings per step, [steps, T, D] (`uncondEmbeddings` of a null-text
   * inversion): row i is used for every prompt at step i instead of the negative prompts'
   * embedding. Needs guidance > 1 and one row per timestep of the run: they are sampled with
   * DDIM (as the inversion made them) unless `scheduler` says otherwise.
   */
  uncondEmbeddings?: HostTensor | tf.Tensor3D;
  /** Default 50. */
  steps?: number;
  /** Classifier-free guidance scale; ≤ 1 disables guidance. Default 7.5. */
  guidance?: number;
  /**
   * Guidance rescale φ in [0, 1] (diffusers 0.25 `guidance_rescale`, Lin et al. 2023 §3.4; 0.7 in
   * the paper): mixes in the guided prediction rescaled to the conditional prediction's standard
   * deviation, against over-exposure on zero-terminal-SNR models. Default 0 (plain guidance).
   */
  guidanceRescale?: number;
  /** Image size in pixels; defaults to the UNet's sample_size × VAE factor. Must be divisible by 8·(UNet factor). */
  height?: number;
  width?: number;
  /** Initial latents NCHW [P or 1, 4, h/8, w/8]; overrides `seed`. */
  latents?: HostTensor | tf.Tensor4D;
  seed?: number;
  /** Scheduler short name ('ddim', 'pndm', 'euler', 'lms', 'dpmpp'), a diffusers class name, or an instance. */
  scheduler?: string | Scheduler;
  /**
   * Skip the last n text-encoder layers for the prompts (diffusers 0.25 `clip_skip`: the final
   * LayerNorm of hidden_states[−(n+1)]; the negative prompts keep the last layer, as diffusers does).
   * n = 1 is "Clip skip 2" in A1111-style UIs. Default 0.
   */
  clipSkip?: number;
  controller?: AttentionController;
  /** Called after every denoising step; a returned promise is awaited before the next step. */
  onStep?: (info: StepInfo) => unknown;
  /** Cancels the run: checked before every step and every image decode (default: the pipeline's `signal`); the run rejects with `signal.reason`. */
  signal?: AbortSignal;
  /** Skip the VAE decode (returns latents only). */
  decode?: boolean;
  // SD-XL's micro-conditioning (originalSize, cropsCoordsTopLeft, targetSize and negative*) comes from SizeConditioning.
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
  /** Stops the inversion before its next step once aborted (default: the pipeline's `signal`). */
  signal?: AbortSignal;
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

export interface NullTextInvertOptions extends InvertOptions, Omit<NullTextSettings, 'onStep'> {
  /** Progress of the null-text optimisation, per step (the DDIM inversion reports through `onStep`). */
  onNullTextStep?: (info: StepInfo) => void;
}

export interface NullTextInversionResult extends InversionResult {
  /**
   * The optimised unconditional embedding of every step, [steps, T, D]: pass it as
   * `uncondEmbeddings` (with `latents`, the same scheduler, steps and guidance) to generate/edit.
   */
  uncondEmbeddings: HostTensor;
  /** Guidance scale the embeddings were optimised for. */
  guidance: number;
  /** Loss of every Adam iteration, per step. */
  losses: number[][];
}

export class StableDiffusionPipeline {
  /**
   * Aborts this pipeline's runs: each stops before its next step (and before decoding) with the
   * signal's reason, e.g. the CLI's Ctrl-C. A run's own `signal` option takes precedence.
   */
  signal: AbortSignal | undefined;

  constructor(readonly components: PipelineComponents) {}

  /** Pixels per latent pixel (8 for SD). */
  get vaeScaleFactor(): number {
    return this.components.vae.downscale;
  }

  /** What fixes the accepted image sizes (VAE and UNet factors, sample_size). */
  get imageSizeRule(): ImageSizeRule {
    return imageSizeRuleOf(this.components.unet.config, this.components.vae.config);
  }

  /** Default image size: sample_size × VAE factor (512 for SD-1.x and SD-2.1-base, 768 for SD-2.1). */
  get defaultSize(): number {
    return defaultImageSize(this.imageSizeRule);
  }

  /** A scheduler from the model's config, optionally of another type. */
  scheduler(type?: string): Scheduler {
    return createScheduler(this.components.schedulerConfig, type ? { type } : {});
  }

  /** Whether the UNet takes SD-XL's added conditioning (pooled text embeddings and time ids). */
  get usesAddedConditioning(): boolean {
    return this.components.unet.config.additionEmbedType === 'text_time';
  }

  /** The prompt tokenizer, for building Prompt-to-Prompt controllers (SD-XL: the first one). */
  get tokenizer(): PromptTokenizer {
    const t = this.components.text.tokenizer;
    if (!t) throw new Error("this pipeline's prompt encoder exposes no tokenizer");
    return t;
  }

  /**
   * Tokens per prompt embedding, T: the text context length (the tokenizer's `modelMaxLength`, which
   * loading checks against the text encoder's positions; 77 for SD). Controllers and per-step
   * unconditional embeddings have this many tokens.
   */
  get contextLength(): number {
    const t = this.components.text;
    const n = t.contextLength ?? t.tokenizer?.modelMaxLength;
    if (n === undefined)
      throw new Error("this pipeline's prompt encoder states no context length (give it contextLength or a tokenizer)");
    return n;
  }

  /** Text embeddings [P, T, D] (T = `contextLength`; caller disposes); `clipSkip` as in `GenerateOptions`. */
  encodePrompts(prompts: readonly string[], opts: PromptEncodeOptions = {}): tf.Tensor3D {
    return opts.clipSkip ? this.components.text.encode(prompts, opts) : this.components.text.encode(prompts);
  }

  /** Embeddings and, when the UNet takes added conditioning (SD-XL), pooled embeddings (caller disposes). */
  encodeConditioning(prompts: readonly string[], opts: PromptEncodeOptions = {}): PromptConditioning {
    if (!this.usesAddedConditioning) return { embeds: this.encodePrompts(prompts, opts) };
    const text = this.components.text;
    if (!text.encodePooled)
      throw new Error('this UNet needs pooled text embeddings (SD-XL), which the prompt encoder does not give');
    return opts.clipSkip ? text.encodePooled(prompts, opts) : text.encodePooled(prompts);
  }

  /**
   * The unconditional conditioning for `cond`: the negative prompts' when given, else zeros shaped
   * like `cond` (SD-XL with `forceZerosForEmptyPrompt`, diffusers' `zeros_like`), else the encoding
   * of "" (diffusers: negative prompts get no clip skip). The caller disposes it.
   */
  negativeConditioning(cond: PromptConditioning, negatives?: readonly string[]): PromptConditioning {
    if (negatives) return this.encodeConditioning(negatives);
    if (this.components.forceZerosForEmptyPrompt)
      return { embeds: tf.zerosLike(cond.embeds), pooled: cond.pooled && tf.zerosLike(cond.pooled) };
    return this.encodeConditioning(new Array<string>(cond.embeds.shape[0]).fill(''));
  }

  /** Text-to-image for each prompt. */
  async generate(opts: GenerateOptions): Promise<GenerateResult> {
    const prompts = opts.prompts;
    if (!prompts.length) throw new Error('at least one prompt is needed');
    const guidance = opts.guidance ?? RUN_DEFAULTS.guidance;
    const negatives = opts.negativePrompts;
    if (negatives && negatives.length !== prompts.length) {
      throw new Error(`${negatives.length} negative prompts for ${prompts.length} prompts`);
    }
    checkSizeConditioning(opts, this.usesAddedConditioning);
    const steps = opts.steps ?? RUN_DEFAULTS.steps;
    const perStep = opts.uncondEmbeddings;
    if (perStep) this.checkUncondEmbeddings(perStep.shape, steps, guidance, negatives !== undefined);
    const { height, width } = this.imageSize(opts);
    const f = this.vaeScaleFactor;
    const guided = guidance > 1;
    this.checkMemory({ height, width }, prompts.length * (guided ? 2 : 1));
    const signal = opts.signal ?? this.signal;
    const scheduler =
      typeof opts.scheduler === 'object' ? opts.scheduler : this.scheduler(opts.scheduler ?? (perStep && 'ddim'));
    const cond = this.encodeConditioning(prompts, { clipSkip: opts.clipSkip });
    const uncond = guided ? this.negativeConditioning(cond, negatives) : undefined;
    if (uncond && perStep) {
      // Per-step unconditional embeddings replace the negative ones (the pooled ones stay).
      uncond.embeds.dispose();
      uncond.embeds = toTensor3d(perStep);
    }
    const added = this.addedConditioning(cond, uncond, { height, width }, opts);
    const x0 = initialLatents(
      { batch: prompts.length, channels: this.components.unet.config.inChannels, height: height / f, width: width / f },
      { latents: opts.latents, seed: opts.seed, shared: opts.sharedLatents },
    );
    let final: tf.Tensor4D | undefined;
    try {
      const r = await sample({
        signal,
        unet: this.components.unet,
        scheduler,
        cond: cond.embeds,
        uncond: uncond?.embeds,
        uncondPerStep: perStep !== undefined,
        added,
        latents: x0,
        steps,
        guidance,
        guidanceRescale: opts.guidanceRescale,
        controller: opts.controller,
        onStep: opts.onStep,
        keepLatentsPerStep: opts.keepLatentsPerStep,
      });
      final = r.latents;
      const images = opts.decode === false ? [] : await this.decode(final, signal);
      const [b, h, w, c] = final.shape;
      return {
        images,
        latents: await nhwcToNchwHost(final),
        initialLatents: await nhwcToNchwHost(x0),
        timesteps: r.timesteps,
        latentsPerStep: r.latentsPerStep && stackNhwcAsNchw(r.latentsPerStep, [b, h, w, c]),
      };
    } finally {
      disposeConditioning(cond, uncond);
      tf.dispose([x0, added?.textEmbeds]);
      final?.dispose();
    }
  }

  /**
   * The UNet's added conditioning of a run for SD-XL (undefined otherwise): the pooled embeddings
   * of the batch ([uncond..., cond...] with guidance) and the time ids of every row
   * (size-conditioning.ts, diffusers' row order). The caller disposes `textEmbeds`.
   */
  private addedConditioning(
    cond: PromptConditioning,
    uncond: PromptConditioning | undefined,
    size: { height: number; width: number },
    micro: SizeConditioning,
  ): AddedConditioning | undefined {
    if (!this.usesAddedConditioning) return undefined;
    const n = cond.embeds.shape[0];
    const textEmbeds = uncond ? (tf.concat([uncond.pooled!, cond.pooled!], 0) as tf.Tensor2D) : tf.clone(cond.pooled!);
    return { textEmbeds, timeIds: unetTimeIds(sizeTimeIds(micro, size), n, uncond !== undefined) };
  }

  /**
   * Prompt-to-Prompt: all prompts sampled together from one shared initial latent, with the
   * controller editing the attention of the edited prompts.
   */
  async edit(opts: EditOptions): Promise<GenerateResult> {
    if (opts.prompts.length < 2 && !opts.controller)
      throw new Error('edit needs a source and at least one edited prompt');
    return this.generate({ ...opts, sharedLatents: true });
  }

  /**
   * DDIM inversion of a real image (null-text notebook `ddim_inversion`): VAE-encode (mean ·
   * scaling factor), then run DDIM backwards with the prompt's embedding only (guidance 1).
   * Needs the VAE encoder (load with `vaeEncoder: true`). Sampling from these latents with
   * guidance > 1 reconstructs the image only approximately: `invertNullText` fixes that.
   */
  async invert(opts: InvertOptions): Promise<InversionResult> {
    const { vae, unet } = this.components;
    if (!vae.hasEncoder) throw new Error('invert needs the VAE encoder: load the pipeline with { vaeEncoder: true }');
    const { width, height } = opts.image;
    this.imageSize({ prompts: [opts.prompt], height, width });
    const scheduler = opts.scheduler ?? this.scheduler('ddim');
    const x0 = tf.tidy(() => vae.encodeLatents(imageToModelInput(opts.image)));
    const cond = this.encodeConditioning([opts.prompt]);
    const added = this.addedConditioning(cond, undefined, { height, width }, {});
    try {
      const r = await ddimInvert({
        unet,
        scheduler,
        cond: cond.embeds,
        added,
        latents: x0,
        steps: opts.steps ?? RUN_DEFAULTS.steps,
        onStep: opts.onStep,
        signal: opts.signal ?? this.signal,
      });
      try {
        return {
          latents: await nhwcToNchwHost(r.latents),
          imageLatents: await nhwcToNchwHost(x0),
          trajectory: stackNhwcAsNchw(r.trajectory, r.latents.shape),
          timesteps: r.timesteps,
        };
      } finally {
        r.latents.dispose();
      }
    } finally {
      disposeConditioning(cond);
      tf.dispose([x0, added?.textEmbeds]);
    }
  }

  /**
   * Null-text inversion (the null_text_w_ptp notebook): DDIM inversion (`invert`), then the
   * per-step optimisation of the unconditional embedding so that guided sampling from the
   * inverted latents retraces the inversion. Generate or edit with `latents`, `uncondEmbeddings`,
   * the same scheduler settings, steps and guidance to reconstruct or edit the image.
   */
  async invertNullText(opts: NullTextInvertOptions): Promise<NullTextInversionResult> {
    const settings = nullTextSettings(opts);
    const scheduler = opts.scheduler ?? this.scheduler('ddim');
    const inv = await this.invert({ ...opts, scheduler });
    const [n, , c, h, w] = inv.trajectory.shape;
    const per = c * h * w;
    const trajectory = Array.from({ length: n }, (_, k) =>
      nchwToNhwc({ shape: [1, c, h, w], data: inv.trajectory.data.subarray(k * per, (k + 1) * per) }),
    );
    const cond = this.encodeConditioning([opts.prompt]);
    // The starting null embedding: what sampling uses without negative prompts ("", or zeros for SD-XL).
    const uncond = this.negativeConditioning(cond);
    const size = { height: opts.image.height, width: opts.image.width };
    const addedCond = this.addedConditioning(cond, undefined, size, {});
    const addedUncond = this.addedConditioning(uncond, undefined, size, {});
    try {
      const r = await nullTextOptimize({
        unet: this.components.unet,
        scheduler,
        cond: cond.embeds,
        uncond: uncond.embeds,
        addedCond,
        addedUncond,
        trajectory,
        ...settings,
        onStep: opts.onNullTextStep,
        onIteration: opts.onIteration,
      });
      try {
        return {
          ...inv,
          uncondEmbeddings: await readHost(r.uncondEmbeddings),
          guidance: settings.guidance,
          losses: r.losses,
        };
      } finally {
        tf.dispose([r.uncondEmbeddings, r.latents]);
      }
    } finally {
      disposeConditioning(cond, uncond);
      tf.dispose([...trajectory, addedCond?.textEmbeds, addedUncond?.textEmbeds]);
    }
  }

  /**
   * Latents NHWC → images in [0,1], one VAE call per image to bound memory (`signal` is checked
   * before each); the pixels are read back asynchronously.
   */
  async decode(latents: tf.Tensor4D, signal?: AbortSignal): Promise<FloatImage[]> {
    const images: FloatImage[] = [];
    for (let i = 0; i < latents.shape[0]; i++) {
      signal?.throwIfAborted();
      const img = tf.tidy(() => this.components.vae.decodeLatents(tf.slice(latents, [i, 0, 0, 0], [1, -1, -1, -1])));
      const [, height, width] = img.shape;
      try {
        images.push({ width, height, data: (await readHost(img)).data });
      } finally {
        img.dispose();
      }
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

  /** Checks per-step unconditional embeddings [steps, T, D] against a run (one-line errors). */
  private checkUncondEmbeddings(shape: readonly number[], steps: number, guidance: number, negatives: boolean): void {
    const d = this.components.unet.config.crossAttentionDim[0];
    const t = this.contextLength;
    if (shape.length !== 3 || shape[1] !== t || shape[2] !== d) {
      throw new Error(`uncondEmbeddings have shape [${shape.join(', ')}], expected [steps, ${t}, ${d}] for this model`);
    }
    if (shape[0] !== steps)
      throw new Error(
        `uncondEmbeddings hold ${shape[0]} steps, the run has ${steps}: sample with the inversion's step count`,
      );
    if (guidance <= 1)
      throw new Error(`uncondEmbeddings need classifier-free guidance (guidance > 1), got ${guidance}`);
    if (negatives) throw new Error('give either negativePrompts or uncondEmbeddings, not both');
  }

  private imageSize(opts: GenerateOptions): { height: number; width: number } {
    return resolveImageSize(
      { height: opts.height, width: opts.width, latentsShape: opts.latents?.shape },
      this.imageSizeRule,
    );
  }

  /** Refuses, before any step, a run whose activations cannot fit the backend's memory budget. */
  private checkMemory(size: { height: number; width: number }, batch: number): void {
    const { unet, vae } = this.components;
    const attention = unet.config.downBlockTypes.map((t) => t === 'CrossAttnDownBlock2D');
    const mem = estimateRunMemory(
      { unet: unet.config.blockOutChannels, vae: vae.config.blockOutChannels, unetAttention: attention },
      { ...size, vaeFactor: this.vaeScaleFactor, batch },
    );
    checkRunMemory(mem, tf.memory().numBytes, wasmHeapBudget(), size);
  }
}

function disposeConditioning(...cs: (PromptConditioning | undefined)[]): void {
  for (const c of cs) if (c) tf.dispose([c.embeds, c.pooled]);
}

/** A new backend tensor [n, tokens, d] from a host or backend tensor. */
function toTensor3d(x: HostTensor | tf.Tensor3D): tf.Tensor3D {
  return x instanceof tf.Tensor ? tf.clone(x) : tf.tensor3d(x.data, x.shape as [number, number, number]);
}

function stackNhwcAsNchw(steps: Float32Array[], [b, h, w, c]: number[]): HostTensor {
  const per = b * h * w * c;
  const out = new Float32Array(steps.length * per);
  steps.forEach((s, k) => {
    for (let n = 0; n < b; n++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++)
          for (let ch = 0; ch < c; ch++)
            out[k * per + ((n * c + ch) * h + y) * w + x] = s[((n * h + y) * w + x) * c + ch];
  });
  return { shape: [steps.length, b, c, h, w], data: out };
}
