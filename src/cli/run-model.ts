/** Loading the model and latents for the model-running commands, and saving latents after a run. */
import type { CommandContext } from './command.js';
import type { ModelRunOptions } from './model-options.js';
import type { HostTensor } from '../pipeline/host-tensor.js';
import type { GenerateResult, StableDiffusionPipeline } from '../pipeline/pipeline.js';
import { loadPipeline } from '../pipeline/load.js';
import { checkRunMemory, estimateRunMemory, resolveImageSize } from '../pipeline/run-plan.js';
import { parseUNetConfig } from '../models/unet/config.js';
import { parseVaeConfig } from '../models/vae/config.js';
import { createScheduler } from '../models/schedulers/index.js';
import { backendMemoryBudget } from '../backend/wasm-patches.js';
import type { ModelDir } from '../io/model-dir.js';
import { openModelDirectory } from '../node/model-dir.js';
import { readLatentsFile, writeLatentsFile } from '../node/latents-file.js';

/**
 * Activates the backend (printing it), reads any given latents, opens the model directory and
 * checks the run against its configs (image size, steps, memory: `prompts` images at once)
 * before loading any weight; then loads the pipeline. Ctrl-C (ctx.signal) stops loading, and later
 * sampling, before the next step.
 */
export async function loadModel(o: ModelRunOptions, ctx: CommandContext, run: { prompts?: number } = {}): Promise<{ pipe: StableDiffusionPipeline; latents?: HostTensor }> {
  const signal = ctx.interruptible();
  const backend = await ctx.initBackend();
  ctx.err(`backend: ${backend.description}`);
  const latents = o.latentsFile ? await readLatentsFile(o.latentsFile) : undefined;
  const t0 = Date.now();
  const dir = await openModelDirectory(o.model, { variant: o.variant });
  try {
    checkRun(dir, o, latents, run.prompts ?? 1);
    signal.throwIfAborted();
    const pipe = await loadPipeline(dir, { residency: o.residency, attentionSlice: o.attentionSlice, signal });
    ctx.err(`model: ${o.model} loaded in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return { pipe, latents };
  } finally {
    await dir.close();
  }
}

/** The image size, steps and memory of a run, from the model's configs (see src/pipeline/run-plan.ts). */
function checkRun(dir: ModelDir, o: ModelRunOptions, latents: HostTensor | undefined, prompts: number): void {
  const unet = parseUNetConfig(dir.config('unet'), `${dir.name}/unet/config.json`);
  const vae = parseVaeConfig(dir.config('vae'), `${dir.name}/vae/config.json`);
  const vaeFactor = 2 ** (vae.blockOutChannels.length - 1);
  const size = resolveImageSize(
    { height: o.height, width: o.width, latentsShape: latents?.shape },
    { sampleSize: unet.sampleSize, vaeFactor, unetFactor: 2 ** (unet.downBlockTypes.length - 1) },
  );
  // The step count against the scheduler (e.g. more steps than training timesteps).
  if (o.steps !== undefined) createScheduler(dir.config('scheduler'), o.scheduler ? { type: o.scheduler } : {}).setTimesteps(o.steps);
  const batch = prompts * ((o.guidance ?? 7.5) > 1 ? 2 : 1);
  checkRunMemory(estimateRunMemory({ unet: unet.blockOutChannels, vae: vae.blockOutChannels }, { ...size, vaeFactor, batch }), 0, backendMemoryBudget(), size);
}

/** Writes --save-latents (initial and final latents, NCHW) when asked. */
export async function saveRunLatents(o: ModelRunOptions, r: GenerateResult, meta: Record<string, string>): Promise<void> {
  if (!o.saveLatents) return;
  await writeLatentsFile(o.saveLatents, { latents: r.latents, initial_latents: r.initialLatents }, { ...meta, timesteps: r.timesteps.join(',') });
}
