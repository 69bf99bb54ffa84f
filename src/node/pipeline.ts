/** Loading a StableDiffusionPipeline from a diffusers directory on disk. */
import { loadPipeline, type LoadPipelineOptions } from '../pipeline/load.js';
import type { StableDiffusionPipeline } from '../pipeline/pipeline.js';
import { openModelDirectory } from './model-dir.js';

export interface LoadFromDirectoryOptions extends LoadPipelineOptions {
  /** Weights variant to prefer, e.g. "fp16". */
  variant?: string;
}

/** Opens `path` (diffusers layout), loads every component and closes the weight files. */
export async function loadPipelineFromDirectory(path: string, opts: LoadFromDirectoryOptions = {}): Promise<StableDiffusionPipeline> {
  const dir = await openModelDirectory(path, { variant: opts.variant });
  try {
    return await loadPipeline(dir, opts);
  } finally {
    await dir.close();
  }
}
