/**
 * `convert`: a Stable Diffusion 1.x, 2.x or XL single-file `.safetensors` checkpoint (original ldm /
 * generative-models key names) → a complete diffusers model directory:
 *
 *   unet/diffusion_pytorch_model.safetensors, vae/diffusion_pytorch_model.safetensors,
 *   text_encoder/model.safetensors (SD-XL: and text_encoder_2/model.safetensors), plus
 *   model_index.json, every component's config and the tokenizer files from a bundled config set
 *   (weights-tools/sd15-config, sd21-base-config, sd21-config, sdxl-config).
 *
 * The family comes from the text encoder keys: `cond_stage_model.transformer.*` (CLIP ViT-L, SD-1.x),
 * `cond_stage_model.model.*` (OpenCLIP ViT-H, SD-2.x: fused q/k/v split, last block dropped) or
 * `conditioner.embedders.*` (SD-XL base: CLIP ViT-L and OpenCLIP ViT-bigG with its text projection;
 * the UNet's label_emb becomes add_embedding).
 * An SD-2.x file does not say whether it is 2.x-base (512, epsilon) or 2.x-v (768, v_prediction):
 * the two have the same keys and shapes, and diffusers assumes v-prediction at 768 unless
 * `global_step` is 875000 — safetensors files carry no `global_step`, so it converts 2.1-base as a
 * 768 v model. Here it is never guessed: `predictionType` (or `imageSize` 512/768) must say it.
 *
 * Streams tensor by tensor (the multi-GB checkpoint is never held in memory). Pickle checkpoints
 * (.ckpt) are refused with a clear message.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { castFloatBytes, DTYPE_BYTES } from '../src/io/dtypes.js';
import { isPickleName, pickleError } from '../src/io/pickle.js';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../src/io/safetensors.js';
import { FileByteSink, FileByteSource } from '../src/node/file-source.js';
import { checkDirTarget, writeDirAtomic } from '../src/node/atomic-write.js';
import { layoutComponents, sd1LayoutFromConfigs, type Sd1Component } from './sd1-keymap.js';
import { detectFamily, FAMILY_NAME, type ModelFamily } from './family.js';

export { detectFamily, FAMILY_NAME, type ModelFamily } from './family.js';
import { planSd1Conversion, type PlanEntry } from './sd1-plan.js';
import { configSetFiles, readConfigSetFile, readConfigSetJson, type ConfigSet } from './config-sets.js';

/** What the UNet predicts (the scheduler config's prediction_type). */
export type PredictionType = 'epsilon' | 'v_prediction';

export interface ConvertOptions {
  /** Write float16 weights (half the size); default float32. */
  fp16?: boolean;
  /** Replace an existing non-empty output folder (default: refuse). */
  force?: boolean;
  /**
   * What the UNet predicts. Required for SD-2.x unless `imageSize` is 512 (→ epsilon, 2.x-base) or
   * 768 (→ v_prediction, 2.x 768-v); picks the SD-2.1-base or SD-2.1 config set. SD-1.x: default epsilon.
   */
  predictionType?: PredictionType;
  /** The image size the model was trained at (unet sample_size = size / 8); default that of the config set (SD-XL: 1024). */
  imageSize?: number;
  /** Called after each tensor is read and re-encoded. */
  onProgress?: (done: number, total: number, key: string) => void;
}

export interface ConvertedComponent {
  component: Sd1Component;
  /** Path of the written safetensors file. */
  file: string;
  tensors: number;
  params: number;
  bytes: number;
}

export interface ConvertResult {
  input: string;
  outDir: string;
  dtype: 'F32' | 'F16';
  family: ModelFamily;
  /** The bundled config set written. */
  configSet: ConfigSet;
  predictionType: PredictionType;
  imageSize: number;
  components: ConvertedComponent[];
  /** Checkpoint keys left out on purpose (EMA copy, schedule buffers, ...). */
  ignored: { key: string; reason: string }[];
  /** Adjustments made to the bundled configs. */
  notes: string[];
}

/** Weight file name of each component in the diffusers layout. */
export const WEIGHT_FILE: Readonly<Record<Sd1Component, string>> = {
  unet: 'unet/diffusion_pytorch_model.safetensors',
  vae: 'vae/diffusion_pytorch_model.safetensors',
  text_encoder: 'text_encoder/model.safetensors',
  text_encoder_2: 'text_encoder_2/model.safetensors',
};

type Json = Record<string, unknown>;

interface Configs {
  unet: Json;
  vae: Json;
  text_encoder: Json;
  /** SD-XL only. */
  text_encoder_2?: Json;
  scheduler: Json;
}

const SET_NAME: Readonly<Record<ConfigSet, string>> = {
  sd15: 'SD-1.5',
  'sd21-base': 'SD-2.1-base',
  sd21: 'SD-2.1',
  sdxl: 'SD-XL base 1.0',
};
const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

/** A conversion option that is missing or invalid for this checkpoint (the CLI reports it as a usage error). */
export class ConvertOptionError extends Error {
  override name = 'ConvertOptionError';
}

/** The config set, prediction type and image size of a conversion (an error when SD-2.x is ambiguous). */
export function chooseConfigSet(
  family: ModelFamily,
  opts: Pick<ConvertOptions, 'predictionType' | 'imageSize'>,
): { set: ConfigSet; predictionType: PredictionType; imageSize: number } {
  const size = opts.imageSize;
  if (size !== undefined && !(Number.isInteger(size) && size > 0 && size % 64 === 0)) {
    throw new ConvertOptionError(
      `image size ${size} must be a positive multiple of 64 (the UNet's sample_size is size / 8)`,
    );
  }
  if (family === 'sd1')
    return { set: 'sd15', predictionType: opts.predictionType ?? 'epsilon', imageSize: size ?? 512 };
  // SD-XL base predicts epsilon at 1024 (v-prediction fine-tunes exist: --prediction-type says so).
  if (family === 'sdxl')
    return { set: 'sdxl', predictionType: opts.predictionType ?? 'epsilon', imageSize: size ?? 1024 };
  const predictionType = opts.predictionType ?? (size === 768 ? 'v_prediction' : size === 512 ? 'epsilon' : undefined);
  if (!predictionType) {
    throw new ConvertOptionError(
      'an SD-2.x checkpoint: its keys and shapes do not say whether it is a 2.x-base model (512×512, predicts epsilon) or a ' +
        '768-v model (768×768, predicts v). Say which: --prediction-type epsilon for stable-diffusion-2(-1)-base, ' +
        '--prediction-type v_prediction for stable-diffusion-2(-1) (768); --image-size 512/768 alone implies the same',
    );
  }
  const set: ConfigSet = predictionType === 'v_prediction' ? 'sd21' : 'sd21-base';
  return { set, predictionType, imageSize: size ?? (set === 'sd21' ? 768 : 512) };
}

/**
 * Compares a few anchor shapes with the configs: a checkpoint of another family fails here with a
 * clear reason; a different UNet input width (inpainting: 9) and the checkpoint's attention
 * projection kind (Linear [C, C] or 1×1 conv [C, C, 1, 1]) are carried into the unet config.
 */
function checkAnchors(
  entries: readonly PlanEntry[],
  cfg: Configs,
  family: ModelFamily,
  setName: string,
  notes: string[],
): string[] {
  const shape = (c: Sd1Component, k: string) => entries.find((e) => e.component === c && e.dst === k)?.dstShape;
  const problems: string[] = [];
  const name = FAMILY_NAME[family];
  const expectDim = (c: Sd1Component, key: string, dim: number, want: unknown, what: string) => {
    const s = shape(c, key);
    if (s && s[dim] !== want)
      problems.push(
        `${c} ${key} has ${what} ${s[dim]}, ${name} has ${want}: not a Stable Diffusion ${name.slice(3)} checkpoint`,
      );
  };
  const unetWidths = cfg.unet.block_out_channels as number[];
  expectDim('unet', 'conv_in.weight', 0, unetWidths[0], 'width');
  expectDim('unet', 'conv_out.weight', 0, cfg.unet.out_channels, 'output channels');
  const firstCross = entries.find((e) => e.component === 'unet' && e.dst.endsWith('.attn2.to_k.weight'))?.dst;
  if (firstCross) expectDim('unet', firstCross, 1, cfg.unet.cross_attention_dim, 'cross-attention width');
  expectDim('vae', 'encoder.conv_in.weight', 0, (cfg.vae.block_out_channels as number[])[0], 'width');
  for (const c of ['text_encoder', 'text_encoder_2'] as const) {
    const tc = cfg[c];
    if (!tc) continue;
    expectDim(c, 'text_model.embeddings.token_embedding.weight', 0, tc.vocab_size, 'vocabulary size');
    expectDim(c, 'text_model.embeddings.token_embedding.weight', 1, tc.hidden_size, 'hidden size');
  }
  if (cfg.text_encoder_2) {
    expectDim('text_encoder_2', 'text_projection.weight', 0, cfg.text_encoder_2.projection_dim, 'projection size');
    expectDim(
      'unet',
      'add_embedding.linear_1.weight',
      1,
      cfg.unet.projection_class_embeddings_input_dim,
      'added-conditioning input width',
    );
  }
  const inCh = shape('unet', 'conv_in.weight')?.[1];
  if (inCh !== undefined && inCh !== cfg.unet.in_channels) {
    notes.push(
      `unet conv_in takes ${inCh} channels (${setName}: ${cfg.unet.in_channels}); unet/config.json in_channels set to ${inCh}`,
    );
    cfg.unet.in_channels = inCh;
  }
  const proj = entries.filter((e) => e.component === 'unet' && /attentions\.\d+\.proj_(?:in|out)\.weight$/.test(e.dst));
  const ranks = new Set(proj.map((e) => e.srcShape.length));
  if (ranks.size > 1) {
    problems.push(
      `unet proj_in/proj_out weights mix Linear [C, C] and 1×1 conv [C, C, 1, 1] shapes (e.g. ${proj
        .map((e) => `${e.src} ${fmt(e.srcShape)}`)
        .slice(0, 2)
        .join(', ')})`,
    );
  } else if (ranks.size === 1) {
    const linear = ranks.has(2);
    if (linear !== (cfg.unet.use_linear_projection === true)) {
      notes.push(
        `unet attention projections are ${linear ? 'Linear [C, C]' : '1×1 convs [C, C, 1, 1]'} (${setName}: ${linear ? 'convs' : 'Linear'}); unet/config.json use_linear_projection set to ${linear}`,
      );
      cfg.unet.use_linear_projection = linear;
    }
  }
  return problems;
}

/** Writes one component's tensors to `path`. */
async function writeComponent(path: string, tensors: TensorToWrite[]): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeSafetensors(await FileByteSink.create(path), tensors, { format: 'pt' });
}

const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;

async function writeConfigs(outDir: string, set: ConfigSet, cfg: Configs): Promise<void> {
  for (const rel of configSetFiles(set)) {
    let text = await readConfigSetFile(set, rel);
    if (rel === 'model_index.json' && set !== 'sdxl') {
      // No safety checker weights are produced: mark the optional components absent.
      const index = JSON.parse(text) as Json;
      Object.assign(index, {
        safety_checker: [null, null],
        feature_extractor: [null, null],
        requires_safety_checker: false,
      });
      text = json(index);
    } else if (rel === 'unet/config.json') {
      text = json(cfg.unet);
    } else if (rel === 'scheduler/scheduler_config.json') {
      text = json(cfg.scheduler);
    }
    await mkdir(join(outDir, dirname(rel)), { recursive: true });
    await writeFile(join(outDir, rel), text);
  }
}

/** The bytes of a plan entry: the whole source tensor (transposed when asked), or its rows [start, stop) (a part of a fused q/k/v tensor). */
async function sourceBytes(file: SafetensorsFile, e: PlanEntry): Promise<Uint8Array> {
  if (e.transpose) return transposeBytes(await file.readBytes(e.src), e.srcShape, DTYPE_BYTES[file.info(e.src).dtype]);
  if (!e.rows) return file.readBytes(e.src);
  const info = file.info(e.src);
  const rowBytes = info.shape.slice(1).reduce((a, b) => a * b, 1) * DTYPE_BYTES[info.dtype];
  return file.source.read(info.start + e.rows[0] * rowBytes, (e.rows[1] - e.rows[0]) * rowBytes);
}

/** A row-major [rows, cols] matrix of `size`-byte elements → [cols, rows]. */
function transposeBytes(src: Uint8Array, [rows, cols]: readonly number[], size: number): Uint8Array {
  const out = new Uint8Array(src.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++)
      out.set(src.subarray((r * cols + c) * size, (r * cols + c + 1) * size), (c * rows + r) * size);
  }
  return out;
}

/**
 * Converts the single-file checkpoint `input` into the diffusers directory `outDir` (new or empty,
 * or any folder with `force`). The directory is written under a temporary name beside `outDir`
 * and renamed when complete, so an interrupted conversion leaves no folder that looks complete.
 */
export async function convertCheckpoint(
  input: string,
  outDir: string,
  opts: ConvertOptions = {},
): Promise<ConvertResult> {
  if (isPickleName(input)) throw pickleError(input);
  const file = await SafetensorsFile.open(await FileByteSource.open(input));
  try {
    const family = detectFamily(file.keys());
    let choice: ReturnType<typeof chooseConfigSet>;
    try {
      choice = chooseConfigSet(family, opts);
    } catch (e) {
      throw new ConvertOptionError(`${input}: ${(e as Error).message}`);
    }
    const { set, predictionType, imageSize } = choice;
    const cfg: Configs = {
      unet: await readConfigSetJson(set, 'unet/config.json'),
      vae: await readConfigSetJson(set, 'vae/config.json'),
      text_encoder: await readConfigSetJson(set, 'text_encoder/config.json'),
      text_encoder_2: family === 'sdxl' ? await readConfigSetJson(set, 'text_encoder_2/config.json') : undefined,
      scheduler: await readConfigSetJson(set, 'scheduler/scheduler_config.json'),
    };
    const layout = sd1LayoutFromConfigs(cfg.unet, cfg.vae);
    if (family === 'sd2') layout.openClipLayers = cfg.text_encoder.num_hidden_layers as number;
    if (family === 'sdxl') layout.sdxl = { openClipLayers2: cfg.text_encoder_2!.num_hidden_layers as number };
    const plan = planSd1Conversion(
      file.keys().map((k) => file.info(k)),
      layout,
    );
    const notes: string[] = [];
    const problems = [...plan.problems, ...checkAnchors(plan.entries, cfg, family, SET_NAME[set], notes)];
    if (problems.length) {
      throw new Error(
        `${input}: cannot convert (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      );
    }
    const bundledPrediction = cfg.scheduler.prediction_type ?? 'epsilon';
    if (bundledPrediction !== predictionType) {
      notes.push(`scheduler prediction_type set to ${predictionType} (${SET_NAME[set]}: ${String(bundledPrediction)})`);
      cfg.scheduler.prediction_type = predictionType;
    }
    if ((cfg.unet.sample_size as number) * 8 !== imageSize) {
      notes.push(
        `unet sample_size set to ${imageSize / 8} for ${imageSize}×${imageSize} images (${SET_NAME[set]}: ${cfg.unet.sample_size})`,
      );
      cfg.unet.sample_size = imageSize / 8;
    }
    await checkDirTarget(outDir, opts.force);
    await mkdir(dirname(outDir), { recursive: true });
    const dtype = opts.fp16 ? 'F16' : 'F32';
    const bytesPer = dtype === 'F16' ? 2 : 4;
    const total = plan.entries.length;
    let done = 0;
    const components: ConvertedComponent[] = [];
    await writeDirAtomic(
      outDir,
      async (tmp) => {
        for (const component of layoutComponents(layout)) {
          const entries = plan.entries.filter((e) => e.component === component);
          const tensors: TensorToWrite[] = entries.map((e) => ({
            name: e.dst,
            dtype,
            shape: e.dstShape,
            data: async () => {
              const bytes = castFloatBytes(
                await sourceBytes(file, e),
                file.info(e.src).dtype,
                dtype,
                `${input}: tensor "${e.src}"`,
              );
              opts.onProgress?.(++done, total, e.src);
              return bytes;
            },
          }));
          await writeComponent(join(tmp, WEIGHT_FILE[component]), tensors);
          const params = entries.reduce((s, e) => s + e.dstShape.reduce((a, b) => a * b, 1), 0);
          components.push({
            component,
            file: join(outDir, WEIGHT_FILE[component]),
            tensors: entries.length,
            params,
            bytes: params * bytesPer,
          });
        }
        await writeConfigs(tmp, set, cfg);
      },
      { replace: opts.force },
    );
    return {
      input,
      outDir,
      dtype,
      family,
      configSet: set,
      predictionType,
      imageSize,
      components,
      ignored: [...plan.ignored],
      notes,
    };
  } finally {
    await file.close();
  }
}
