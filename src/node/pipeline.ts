/** Loading a StableDiffusionPipeline from a diffusers directory on disk. */
import { loadPipeline, type LoadPipelineOptions } from '../pipeline/load.js';
import type { StableDiffusionPipeline } from '../pipeline/pipeline.js';
import { NodeFileStore } from './file-store.js';

/** Opens `path` (diffusers layout), loads every component and closes the weight files. */
export function loadPipelineFromDirectory(
  path: string,
  opts: LoadPipelineOptions = {},
): Promise<StableDiffusionPipeline> {
  return loadPipeline(new NodeFileStore(path), opts);
}
