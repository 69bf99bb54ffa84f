/** Opening a diffusers model directory on disk. */
import { openModelDir, type ModelDir, type ModelDirOptions } from '../io/model-dir.js';
import { NodeFileStore } from './file-store.js';

/** `openModelDir` over the directory `path` (see src/io/model-dir.ts). */
export function openModelDirectory(path: string, opts?: ModelDirOptions): Promise<ModelDir> {
  return openModelDir(new NodeFileStore(path), opts);
}
