/**
 * Builds a StableDiffusionPipeline from a diffusers model directory (platform-neutral: any
 * FileStore; `loadPipelineFromDirectory` in src/node opens one on disk).
 *
 * Memory strategy: weights always live on the host (Float32Array, or float16 bits for fp16
 * files). With 'resident' residency every weight is also uploaded to the backend once; with
 * 'stream' a block's weights are uploaded when the block runs and freed when it ends, so the
 * backend holds one block's weights at a time (needed on wasm, whose single heap is < 4 GiB
 * while SD-1.5 is ~4.2 GB in fp32). 'auto' streams on wasm when the weights exceed
 * `streamAboveBytes`, and keeps everything resident elsewhere.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { FileStore } from '../io/file-store.js';
import { CONFIG_FILES, ModelDir, openModelDir, type ModelDirOptions } from '../io/model-dir.js';
import { loadWeights } from '../nn/load-weights.js';
import { checkSliceSize } from '../nn/attention-core.js';
import type { Residency } from '../nn/param.js';
import { ClipTokenizer, DEFAULT_MODEL_MAX_LENGTH, type TruncationHandler } from '../models/clip/tokenizer.js';
import { tokenizerOptionsFromFiles } from '../models/clip/tokenizer-config.js';
import { ClipTextModel, ClipTextModelWithProjection } from '../models/clip/text-model.js';
import { checkContextLength, ClipPromptEncoder, type ContextLengthSources } from '../models/clip/prompt-encoder.js';
import { DualClipPromptEncoder } from '../models/clip/dual-prompt-encoder.js';
import type { JsonObject } from '../io/config.js';
import type { Module } from '../nn/module.js';
import type { TokenizerFiles } from '../io/model-dir.js';
import { UNet2DConditionModel } from '../models/unet/unet.js';
import { AutoencoderKL } from '../models/vae/autoencoder-kl.js';
import { StableDiffusionPipeline } from './pipeline.js';
import { log } from '../util/log.js';

export interface LoadPipelineOptions {
  /** Default 'auto'. */
  residency?: Residency | 'auto';
  /** With 'auto' on wasm: stream when the float32 weights exceed this (default 1.5 GiB). */
  streamAboveBytes?: number;
  /** Also load the VAE encoder (needed for real-image editing). Default false. */
  vaeEncoder?: boolean;
  /** Keep float16 weights as float16 on the host. Default true. */
  keepFloat16?: boolean;
  /** Called when a prompt is longer than the model's text context, e.g. 77 tokens (default: a logged warning). */
  onTruncate?: TruncationHandler;
  /** Weights variant to prefer when opening a FileStore, e.g. "fp16" (see `openModelDir`). */
  variant?: string;
  /** Queries per attention chunk (see `StableDiffusionPipeline.setAttentionSlice`); default automatic. */
  attentionSlice?: number;
  /** Stops loading between components once aborted, and becomes the pipeline's `signal`. */
  signal?: AbortSignal;
}

/** Bytes the weights of `dir` take in float32. */
function float32Bytes(dir: ModelDir): number {
  let n = 0;
  for (const c of dir.weightComponents()) {
    const src = dir.weights(c);
    for (const k of src.keys()) n += (src.info(k)!.shape as number[]).reduce((a, b) => a * b, 1) * 4;
  }
  return n;
}

/** The files that set a model directory's text context length (`second`: SD-XL's tokenizer_2 and text_encoder_2). */
function contextSources(dir: ModelDir, second = false): ContextLengthSources {
  const [tokenizer, encoder] = second
    ? (['tokenizer_2', 'text_encoder_2'] as const)
    : (['tokenizer', 'text_encoder'] as const);
  return {
    tokenizer: `${dir.name}/${tokenizer}/tokenizer_config.json`,
    textEncoder: `${dir.name}/${CONFIG_FILES[encoder]}`,
  };
}

/**
 * The text context length of a model directory without loading it: tokenizer_config.json's
 * `model_max_length` (77 when absent), checked against text_encoder/config.json's
 * `max_position_embeddings` (one-line error naming both files when they disagree).
 */
export function modelContextLength(dir: ModelDir): number {
  const tok = dir.tokenizer;
  if (!tok) throw new Error(`${dir.name}: the tokenizer was not loaded`);
  const length = tokenizerOptionsFromFiles(tok.config, tok.specialTokens).modelMaxLength ?? DEFAULT_MODEL_MAX_LENGTH;
  const positions = dir.config('text_encoder').max_position_embeddings;
  const where = contextSources(dir);
  if (typeof positions !== 'number')
    throw new Error(`${where.textEncoder}: max_position_embeddings is missing or not a number`);
  checkContextLength(length, positions, where);
  return length;
}

export function chooseResidency(dir: ModelDir, opts: LoadPipelineOptions): Residency {
  const r = opts.residency ?? 'auto';
  if (r !== 'auto') return r;
  const big = float32Bytes(dir) > (opts.streamAboveBytes ?? 1.5 * 2 ** 30);
  return tf.getBackend() === 'wasm' && big ? 'stream' : 'resident';
}

/**
 * Loads tokenizer, text encoder, UNet, VAE and the scheduler config of a diffusers model (SD-XL:
 * both tokenizers and text encoders, and `force_zeros_for_empty_prompt` from model_index.json): an
 * opened `ModelDir`, or a `FileStore` (a directory, a URL prefix, memory), which is opened
 * (with `variant`) and closed again.
 */
export async function loadPipeline(
  source: FileStore | ModelDir,
  opts: LoadPipelineOptions = {},
): Promise<StableDiffusionPipeline> {
  checkSliceSize(opts.attentionSlice);
  if (source instanceof ModelDir) return loadFromDir(source, opts);
  const dirOpts: ModelDirOptions = { variant: opts.variant };
  const dir = await openModelDir(source, dirOpts);
  try {
    return await loadFromDir(dir, opts);
  } finally {
    await dir.close();
  }
}

/**
 * The CLIP tokenizer of an open model directory (`second`: SD-XL's tokenizer_2), from the files
 * it read when it opened: a command that needs the tokenizer before the weights load (to check
 * an edit's words) takes it from here instead of reading the files again.
 */
export function clipTokenizerOf(dir: ModelDir, second = false, onTruncate?: TruncationHandler): ClipTokenizer {
  const files: TokenizerFiles | undefined = second ? dir.tokenizer2 : dir.tokenizer;
  if (!files) throw new Error(`${dir.name}: the ${second ? 'tokenizer_2' : 'tokenizer'} was not loaded`);
  return ClipTokenizer.fromVocab(files.vocab, files.merges, {
    ...tokenizerOptionsFromFiles(files.config, files.specialTokens),
    onTruncate,
  });
}

async function loadFromDir(dir: ModelDir, opts: LoadPipelineOptions): Promise<StableDiffusionPipeline> {
  const residency = chooseResidency(dir, opts);
  log.info(`weights: ${residency === 'stream' ? 'streamed per block from host memory' : 'resident on the backend'}`);
  const common = { residency, keepFloat16: opts.keepFloat16 };
  const tokenizer = clipTokenizerOf(dir, false, opts.onTruncate);
  const where = (c: keyof typeof CONFIG_FILES) => `${dir.name}/${CONFIG_FILES[c]}`;
  const text = ClipTextModel.fromConfig(dir.config('text_encoder'), where('text_encoder'));
  const lengths = contextSources(dir);
  checkContextLength(tokenizer.modelMaxLength, text.config.maxPositionEmbeddings, lengths);
  const unet = UNet2DConditionModel.fromConfig(dir.config('unet'), where('unet'));
  const sdxl = dir.hasTextEncoder2;
  if (unet.config.additionEmbedType === 'text_time' && !sdxl) {
    throw new Error(
      `${where('unet')}: the UNet takes SD-XL's added conditioning (addition_embed_type "text_time") but model_index.json lists no text_encoder_2`,
    );
  }
  const text2 = sdxl
    ? ClipTextModelWithProjection.fromConfig(dir.config('text_encoder_2'), where('text_encoder_2'))
    : undefined;
  const tokenizer2 = sdxl ? clipTokenizerOf(dir, true, opts.onTruncate) : undefined;
  const lengths2 = contextSources(dir, true);
  if (text2 && tokenizer2)
    DualClipPromptEncoder.checkContextLengths(tokenizer, text, tokenizer2, text2, [lengths, lengths2]);
  const vae = AutoencoderKL.fromConfig(dir.config('vae'), { encoder: opts.vaeEncoder ?? false }, where('vae'));
  const models: [Module, 'text_encoder' | 'text_encoder_2' | 'unet' | 'vae'][] = [
    [text, 'text_encoder'],
    ...(text2 ? [[text2, 'text_encoder_2'] as [Module, 'text_encoder_2']] : []),
    [unet, 'unet'],
    [vae, 'vae'],
  ];
  try {
    for (const [model, component] of models) {
      opts.signal?.throwIfAborted();
      await loadWeights(model, dir.weights(component), common);
    }
  } catch (e) {
    for (const [model] of models) model.dispose();
    throw e;
  }
  const prompt =
    text2 && tokenizer2
      ? new DualClipPromptEncoder(tokenizer, text, tokenizer2, text2, [lengths, lengths2])
      : new ClipPromptEncoder(tokenizer, text, lengths);
  const pipe = new StableDiffusionPipeline({
    text: prompt,
    unet,
    vae,
    schedulerConfig: dir.config('scheduler'),
    // diffusers' StableDiffusionXLPipeline registers force_zeros_for_empty_prompt=True unless the index says otherwise.
    forceZerosForEmptyPrompt: sdxl && (dir.modelIndex as JsonObject).force_zeros_for_empty_prompt !== false,
  });
  pipe.setAttentionSlice(opts.attentionSlice);
  pipe.signal = opts.signal;
  return pipe;
}
