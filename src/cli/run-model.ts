/** Loading the model and latents for the model-running commands, and saving latents after a run. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CommandContext } from './command.js';
import { UsageError } from './args.js';
import { checkImageDimension, defaultImageSize, imageSizeRuleFromConfigs } from '../pipeline/image-size.js';
import type { ModelRunOptions } from './model-options.js';
import type { HostTensor } from '../pipeline/host-tensor.js';
import type { GenerateResult, StableDiffusionPipeline } from '../pipeline/pipeline.js';
import { loadPipelineFromDirectory } from '../node/pipeline.js';
import { readLatentsFile, writeLatentsFile } from '../node/latents-file.js';

async function readJsonOrUndefined(path: string): Promise<unknown> {
  return readFile(path, 'utf8').then((t) => JSON.parse(t) as unknown, () => undefined);
}

/**
 * Checks --height/--width and --clip-skip against the model's configs before any weight is read
 * (usage errors naming the multiple and the default size, or the layer count), and notes a size
 * other than the model's native one (SD-2.1 768-v gives poor images at 512). Malformed configs are
 * left for the loader to report.
 */
async function checkAgainstConfigs(o: ModelRunOptions, ctx: CommandContext, latents?: HostTensor): Promise<void> {
  if (o.clipSkip) {
    const layers = ((await readJsonOrUndefined(join(o.model, 'text_encoder', 'config.json'))) as Record<string, unknown> | undefined)?.num_hidden_layers;
    if (typeof layers === 'number' && o.clipSkip >= layers) {
      throw new UsageError(`--clip-skip ${o.clipSkip} leaves no layer: the text encoder has ${layers} layers (use 0..${layers - 1})`);
    }
  }
  const rule = imageSizeRuleFromConfigs(await readJsonOrUndefined(join(o.model, 'unet', 'config.json')), await readJsonOrUndefined(join(o.model, 'vae', 'config.json')));
  if (!rule) return;
  for (const [name, v] of [['height', o.height], ['width', o.width]] as const) {
    if (v === undefined) continue;
    try {
      checkImageDimension(`--${name}`, v, rule);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  const d = defaultImageSize(rule);
  const fromLatents = (i: number) => (latents?.shape.length === 4 ? latents.shape[i] * rule.vaeFactor : d);
  const [h, w] = [o.height ?? fromLatents(2), o.width ?? fromLatents(3)];
  if (h !== d || w !== d) ctx.err(`note: ${w}×${h} is not this model's native size ${d}×${d} (unet sample_size ${rule.sampleSize} × VAE factor ${rule.vaeFactor})`);
}

/** Activates the backend (printing it) and loads the pipeline and any given latents. */
export async function loadModel(o: ModelRunOptions, ctx: CommandContext): Promise<{ pipe: StableDiffusionPipeline; latents?: HostTensor }> {
  const latents = o.latentsFile ? await readLatentsFile(o.latentsFile) : undefined;
  await checkAgainstConfigs(o, ctx, latents);
  const backend = await ctx.initBackend();
  ctx.err(`backend: ${backend.description}`);
  const t0 = Date.now();
  const pipe = await loadPipelineFromDirectory(o.model, { variant: o.variant, residency: o.residency, attentionSlice: o.attentionSlice });
  ctx.err(`model: ${o.model} loaded in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return { pipe, latents };
}

/** Writes --save-latents (initial and final latents, NCHW) when asked. */
export async function saveRunLatents(o: ModelRunOptions, r: GenerateResult, meta: Record<string, string>): Promise<void> {
  if (!o.saveLatents) return;
  await writeLatentsFile(o.saveLatents, { latents: r.latents, initial_latents: r.initialLatents }, { ...meta, timesteps: r.timesteps.join(',') });
}
