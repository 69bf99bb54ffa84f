/** Loading the model and latents for the model-running commands, and saving latents after a run. */
import type { CommandContext } from './command.js';
import type { ModelRunOptions } from './model-options.js';
import type { HostTensor } from '../pipeline/host-tensor.js';
import type { GenerateResult, StableDiffusionPipeline } from '../pipeline/pipeline.js';
import { loadPipelineFromDirectory } from '../node/pipeline.js';
import { readLatentsFile, writeLatentsFile } from '../node/latents-file.js';

/** Activates the backend (printing it) and loads the pipeline and any given latents. */
export async function loadModel(o: ModelRunOptions, ctx: CommandContext, extra: { vaeEncoder?: boolean } = {}): Promise<{ pipe: StableDiffusionPipeline; latents?: HostTensor }> {
  const backend = await ctx.initBackend();
  ctx.err(`backend: ${backend.description}`);
  const latents = o.latentsFile ? await readLatentsFile(o.latentsFile) : undefined;
  const t0 = Date.now();
  const pipe = await loadPipelineFromDirectory(o.model, { variant: o.variant, residency: o.residency, attentionSlice: o.attentionSlice, vaeEncoder: extra.vaeEncoder });
  ctx.err(`model: ${o.model} loaded in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return { pipe, latents };
}

/** Writes --save-latents (initial and final latents, NCHW) when asked. */
export async function saveRunLatents(o: ModelRunOptions, r: GenerateResult, meta: Record<string, string>): Promise<void> {
  if (!o.saveLatents) return;
  await writeLatentsFile(o.saveLatents, { latents: r.latents, initial_latents: r.initialLatents }, { ...meta, timesteps: r.timesteps.join(',') });
}
