/** Node backend candidates: tfjs-node-gpu → tfjs-node → wasm → cpu. */
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend, type BackendCandidate, type SelectedBackend } from '../backend/select.js';
import { installWasmKernelPatches } from '../backend/wasm-patches.js';

/** Dynamic import that type-checks without the optional packages installed. */
async function importOptional(name: string): Promise<unknown> {
  return import(name);
}

export const nodeBackendCandidates: readonly BackendCandidate[] = [
  {
    name: 'tensorflow-gpu',
    aliases: ['tfjs-node-gpu', 'node-gpu', 'gpu'],
    async load() {
      await importOptional('@tensorflow/tfjs-node-gpu');
      return 'tensorflow';
    },
  },
  {
    name: 'tensorflow',
    aliases: ['tfjs-node', 'node'],
    async load() {
      await importOptional('@tensorflow/tfjs-node');
      return 'tensorflow';
    },
  },
  {
    name: 'wasm',
    async load() {
      await import('@tensorflow/tfjs-backend-wasm');
      return 'wasm';
    },
    async afterInit() {
      installWasmKernelPatches();
      const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      return `wasm (${simd ? 'simd' : 'no simd'}, ${wasm.getThreadsCount()} thread${wasm.getThreadsCount() === 1 ? '' : 's'})`;
    },
  },
  {
    name: 'cpu',
    async load() {
      await import('@tensorflow/tfjs-backend-cpu');
      return 'cpu';
    },
  },
];

/**
 * Picks and activates the backend: `preferred` (option) overrides the PTP_BACKEND environment
 * variable, which overrides the automatic order. Idempotent for the same choice.
 */
export async function initNodeBackend(preferred?: string): Promise<SelectedBackend> {
  return selectBackend(nodeBackendCandidates, preferred ?? process.env.PTP_BACKEND);
}
