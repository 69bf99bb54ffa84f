/**
 * tfjs-prompt-to-prompt/node: the Node.js edges of the library — backend selection
 * (tfjs-node-gpu → tfjs-node → threaded wasm → cpu), model directories and weights on disk, PNG
 * files, latents files. The models, pipeline and controllers come from `tfjs-prompt-to-prompt`.
 *
 * ```ts
 * import { initNodeBackend, loadPipelineFromDirectory, writeImagePng } from 'tfjs-prompt-to-prompt/node';
 *
 * await initNodeBackend();
 * const pipe = await loadPipelineFromDirectory('./sd15', { variant: 'fp16' });
 * const { images } = await pipe.generate({ prompts: ['a cat riding a bicycle'], seed: 8888 });
 * await writeImagePng('cat.png', images[0]);
 * ```
 * @packageDocumentation
 */
export { initNodeBackend, wasmThreadsInUse } from './backend.js';
export type { NativePrecision } from './native/addon.js';
export { loadPipelineFromDirectory } from './pipeline.js';
export { openModelDirectory } from './model-dir.js';
export { NodeFileStore } from './file-store.js';
export { FileByteSink, FileByteSource } from './file-source.js';
export { openSafetensors, openWeightFiles } from './weights.js';
export { loadClipTokenizer } from './clip-tokenizer.js';
export { decodePng, encodePng, writePng } from './png.js';
export { decodeImage, decodeJpeg, imageFormat, readImageFile, writeImagePng } from './images.js';
export {
  INVERSION_FORMAT,
  modelFingerprint,
  readInversionFile,
  writeInversionFile,
  type InversionData,
  type InversionMeta,
} from './inversion-file.js';
export { readLatentsFile, writeLatentsFile } from './latents-file.js';
