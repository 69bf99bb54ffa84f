/**
 * `convert`: a Stable Diffusion 1.x single-file `.safetensors` checkpoint (CompVis key names) → a
 * complete diffusers model directory:
 *
 *   unet/diffusion_pytorch_model.safetensors, vae/diffusion_pytorch_model.safetensors,
 *   text_encoder/model.safetensors, plus model_index.json, every component's config and the
 *   tokenizer files from the bundled SD-1.5 config set (weights-tools/sd15-config).
 *
 * Streams tensor by tensor (the multi-GB checkpoint is never held in memory). Pickle checkpoints
 * (.ckpt) are refused with a clear message.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { castFloatBytes } from '../src/io/dtypes.js';
import { isPickleName, pickleError } from '../src/io/pickle.js';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../src/io/safetensors.js';
import { FileByteSink, FileByteSource } from '../src/node/file-source.js';
import { checkDirTarget, writeDirAtomic } from '../src/node/atomic-write.js';
import { sd1LayoutFromConfigs, type Sd1Component } from './sd1-keymap.js';
import { planSd1Conversion, type PlanEntry } from './sd1-plan.js';
import { readSd15Config, readSd15Json, SD15_CONFIG_FILES } from './sd15-config.js';

export interface ConvertOptions {
  /** Write float16 weights (half the size); default float32. */
  fp16?: boolean;
  /** Replace an existing non-empty output folder (default: refuse). */
  force?: boolean;
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
};

type Json = Record<string, unknown>;

/**
 * Compares a few anchor shapes with the SD-1.5 configs: a checkpoint of another family fails here
 * with a clear reason; a different UNet input width (inpainting: 9) is carried into the config.
 */
function checkAnchors(entries: readonly PlanEntry[], cfg: { unet: Json; vae: Json; text_encoder: Json }, notes: string[]): string[] {
  const shape = (c: Sd1Component, k: string) => entries.find((e) => e.component === c && e.dst === k)?.dstShape;
  const problems: string[] = [];
  const expectDim = (c: Sd1Component, key: string, dim: number, want: unknown, what: string) => {
    const s = shape(c, key);
    if (s && s[dim] !== want) problems.push(`${c} ${key} has ${what} ${s[dim]}, SD-1.x has ${want}: not a Stable Diffusion 1.x checkpoint`);
  };
  const unetWidths = cfg.unet.block_out_channels as number[];
  expectDim('unet', 'conv_in.weight', 0, unetWidths[0], 'width');
  expectDim('unet', 'conv_out.weight', 0, cfg.unet.out_channels, 'output channels');
  expectDim('unet', 'down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight', 1, cfg.unet.cross_attention_dim, 'cross-attention width');
  expectDim('vae', 'encoder.conv_in.weight', 0, (cfg.vae.block_out_channels as number[])[0], 'width');
  expectDim('text_encoder', 'text_model.embeddings.token_embedding.weight', 0, cfg.text_encoder.vocab_size, 'vocabulary size');
  expectDim('text_encoder', 'text_model.embeddings.token_embedding.weight', 1, cfg.text_encoder.hidden_size, 'hidden size');
  const inCh = shape('unet', 'conv_in.weight')?.[1];
  if (inCh !== undefined && inCh !== cfg.unet.in_channels) {
    notes.push(`unet conv_in takes ${inCh} channels (SD-1.5: ${cfg.unet.in_channels}); unet/config.json in_channels set to ${inCh}`);
    cfg.unet.in_channels = inCh;
  }
  return problems;
}

/** Writes one component's tensors to `path`. */
async function writeComponent(path: string, tensors: TensorToWrite[]): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeSafetensors(await FileByteSink.create(path), tensors, { format: 'pt' });
}

async function writeConfigs(outDir: string, unetConfig: Json): Promise<void> {
  for (const rel of SD15_CONFIG_FILES) {
    let text = await readSd15Config(rel);
    if (rel === 'model_index.json') {
      // No safety checker weights are produced: mark the optional components absent.
      const index = JSON.parse(text) as Json;
      Object.assign(index, { safety_checker: [null, null], feature_extractor: [null, null], requires_safety_checker: false });
      text = `${JSON.stringify(index, null, 2)}\n`;
    } else if (rel === 'unet/config.json') {
      text = `${JSON.stringify(unetConfig, null, 2)}\n`;
    }
    await mkdir(join(outDir, dirname(rel)), { recursive: true });
    await writeFile(join(outDir, rel), text);
  }
}

/**
 * Converts the single-file checkpoint `input` into the diffusers directory `outDir` (new or empty,
 * or any folder with `force`). The directory is written under a temporary name beside `outDir`
 * and renamed when complete, so an interrupted conversion leaves no folder that looks complete.
 */
export async function convertCheckpoint(input: string, outDir: string, opts: ConvertOptions = {}): Promise<ConvertResult> {
  if (isPickleName(input)) throw pickleError(input);
  const file = await SafetensorsFile.open(await FileByteSource.open(input));
  try {
    const cfg = {
      unet: await readSd15Json('unet/config.json'),
      vae: await readSd15Json('vae/config.json'),
      text_encoder: await readSd15Json('text_encoder/config.json'),
    };
    const plan = planSd1Conversion(file.keys().map((k) => file.info(k)), sd1LayoutFromConfigs(cfg.unet, cfg.vae));
    const notes: string[] = [];
    const problems = [...plan.problems, ...checkAnchors(plan.entries, cfg, notes)];
    if (problems.length) {
      throw new Error(`${input}: cannot convert (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    }
    await checkDirTarget(outDir, opts.force);
    await mkdir(dirname(outDir), { recursive: true });
    const dtype = opts.fp16 ? 'F16' : 'F32';
    const bytesPer = dtype === 'F16' ? 2 : 4;
    const total = plan.entries.length;
    let done = 0;
    const components: ConvertedComponent[] = [];
    await writeDirAtomic(outDir, async (tmp) => {
      for (const component of ['unet', 'vae', 'text_encoder'] as const) {
        const entries = plan.entries.filter((e) => e.component === component);
        const tensors: TensorToWrite[] = entries.map((e) => ({
          name: e.dst,
          dtype,
          shape: e.dstShape,
          data: async () => {
            const bytes = castFloatBytes(await file.readBytes(e.src), file.info(e.src).dtype, dtype, `${input}: tensor "${e.src}"`);
            opts.onProgress?.(++done, total, e.src);
            return bytes;
          },
        }));
        await writeComponent(join(tmp, WEIGHT_FILE[component]), tensors);
        const params = entries.reduce((s, e) => s + e.dstShape.reduce((a, b) => a * b, 1), 0);
        components.push({ component, file: join(outDir, WEIGHT_FILE[component]), tensors: entries.length, params, bytes: params * bytesPer });
      }
      await writeConfigs(tmp, cfg.unet);
    }, { replace: opts.force });
    return { input, outDir, dtype, components, ignored: [...plan.ignored], notes };
  } finally {
    await file.close();
  }
}
