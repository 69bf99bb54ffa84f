/** Loading the model and latents for the model-running commands, and saving latents after a run. */
import type { CommandContext } from './command.js';
import { UsageError } from './args.js';
import { defaultImageSize } from '../pipeline/image-size.js';
import type { ModelRunOptions } from './model-options.js';
import type { HostTensor } from '../pipeline/host-tensor.js';
import type { GenerateResult, StableDiffusionPipeline } from '../pipeline/pipeline.js';
import { loadPipeline } from '../pipeline/load.js';
import { checkRunMemory, modelRunPlan, RUN_DEFAULTS, type ModelRunPlan, type RunMemory } from '../pipeline/run-plan.js';
import { parseUNetConfig } from '../models/unet/config.js';
import { parseVaeConfig } from '../models/vae/config.js';
import { createScheduler } from '../models/schedulers/index.js';
import { wasmHeapBudget } from '../backend/wasm-patches.js';
import type { ModelDir } from '../io/model-dir.js';
import { openModelDirectory } from '../node/model-dir.js';
import { readLatentsFile, writeLatentsFile } from '../node/latents-file.js';

/**
 * Reads any given latents, opens the model directory (or takes the one `opened`) and checks the run against its configs
 * (image size, clip skip, steps) before the backend starts; then activates the backend (printing
 * it), checks the memory the run needs (`prompts` images at once) and loads the pipeline (with the
 * VAE encoder when `run.vaeEncoder`). Ctrl-C (ctx.signal) stops loading, and later sampling, before
 * the next step.
 */
export async function loadModel(
  o: ModelRunOptions,
  ctx: CommandContext,
  run: { prompts?: number; vaeEncoder?: boolean } = {},
  opened?: ModelDir,
): Promise<{ pipe: StableDiffusionPipeline; latents?: HostTensor }> {
  const signal = ctx.interruptible();
  const latents = o.latentsFile ? await readLatentsFile(o.latentsFile) : undefined;
  const dir = opened ?? (await openModelDirectory(o.model, { variant: o.variant }));
  try {
    const plan = checkRun(dir, o, ctx, latents, run.prompts ?? 1);
    const backend = await ctx.initBackend();
    ctx.err(`backend: ${backend.description}`);
    checkRunMemory(plan.memory, 0, wasmHeapBudget(), plan.size);
    signal.throwIfAborted();
    const t0 = Date.now();
    const pipe = await loadPipeline(dir, {
      residency: o.residency,
      attentionSlice: o.attentionSlice,
      vaeEncoder: run.vaeEncoder,
      signal,
    });
    ctx.err(`model: ${o.model} loaded in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return { pipe, latents };
  } finally {
    if (!opened) await dir.close();
  }
}

/**
 * Opens --model (with --variant) once for a command that reads it before loading (`opened` of
 * `loadModel`; the caller closes it). `usage`: a broken directory is a usage error (exit 2, its
 * first line), as for photo edits, which check the model before anything heavy.
 */
export async function openModel(o: ModelRunOptions, usage = false): Promise<ModelDir> {
  try {
    return await openModelDirectory(o.model, { variant: o.variant });
  } catch (e) {
    if (usage) throw new UsageError((e as Error).message.split('\n')[0]);
    throw e;
  }
}

/**
 * The run against the model's configs: --clip-skip against the text encoder's layers, the image
 * size (usage errors naming the multiple and the default size, and a note off the model's native
 * size: SD-2.1 768-v gives poor images at 512), the step count against the scheduler; returns the
 * size and the memory the run needs (src/pipeline/run-plan.ts).
 */
function checkRun(
  dir: ModelDir,
  o: ModelRunOptions,
  ctx: CommandContext,
  latents: HostTensor | undefined,
  prompts: number,
): { size: { height: number; width: number }; memory: RunMemory } {
  if (o.clipSkip) {
    const layers = dir.config('text_encoder').num_hidden_layers;
    if (typeof layers === 'number' && o.clipSkip >= layers) {
      throw new UsageError(
        `--clip-skip ${o.clipSkip} leaves no layer: the text encoder has ${layers} layers (use 0..${layers - 1})`,
      );
    }
  }
  const unet = parseUNetConfig(dir.config('unet'), `${dir.name}/unet/config.json`);
  const vae = parseVaeConfig(dir.config('vae'), `${dir.name}/vae/config.json`);
  const batch = prompts * ((o.guidance ?? RUN_DEFAULTS.guidance) > 1 ? 2 : 1);
  let plan: ModelRunPlan;
  try {
    plan = modelRunPlan(unet, vae, { height: o.height, width: o.width, latentsShape: latents?.shape, batch });
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/^(height|width)/, '--$1'));
  }
  const { rule, size } = plan;
  const d = defaultImageSize(rule);
  if (size.height !== d || size.width !== d) {
    ctx.err(
      `note: ${size.width}×${size.height} is not this model's native size ${d}×${d} (unet sample_size ${rule.sampleSize} × VAE factor ${rule.vaeFactor})`,
    );
  }
  // The step count against the scheduler (e.g. more steps than training timesteps).
  if (o.steps !== undefined)
    createScheduler(dir.config('scheduler'), o.scheduler ? { type: o.scheduler } : {}).setTimesteps(o.steps);
  return { size, memory: plan.memory };
}

/** Writes --save-latents (initial and final latents, NCHW) when asked. */
export async function saveRunLatents(
  o: ModelRunOptions,
  r: GenerateResult,
  meta: Record<string, string>,
): Promise<void> {
  if (!o.saveLatents) return;
  await writeLatentsFile(
    o.saveLatents,
    { latents: r.latents, initial_latents: r.initialLatents },
    { ...meta, timesteps: r.timesteps.join(',') },
  );
}
