/**
 * Child-process probe for the wasm heap guard: `node --import tsx test/helpers/wasm-heap-child.ts
 * <chunkMiB>` fills float32 tensors of chunkMiB each with their index until an allocation is
 * refused, then checks every earlier tensor still holds its index (first, middle and last
 * element), frees half of them and allocates once more. Prints one JSON line.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initNodeBackend } from '../../src/node/backend.js';

await initNodeBackend('wasm');
const chunkMiB = Number(process.argv[2] ?? 256);
const elems = (chunkMiB * 2 ** 20) / 4;
const kept: tf.Tensor1D[] = [];
let error = '';
for (let i = 0; i < 64; i++) {
  try {
    kept.push(tf.fill([elems], i + 1) as tf.Tensor1D);
  } catch (e) {
    error = (e as Error).message;
    break;
  }
}
// readSync with a range copies just that element out of the heap (no allocation in it).
const backend = tf.backend() as unknown as { readSync(id: object, start: number, end: number): Float32Array };
const probeAt = (t: tf.Tensor1D, at: number) => backend.readSync(t.dataId, at, at + 1)[0];
const corrupted: number[] = [];
kept.forEach((t, i) => {
  for (const at of [0, elems >> 1, elems - 1]) if (probeAt(t, at) !== i + 1) corrupted.push(i);
});
const allocated = kept.length;
const heapMiB = (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length / 2 ** 20;
// After freeing half, the same allocation succeeds again.
tf.dispose(kept.splice(0, kept.length >> 1));
let again = false;
try {
  tf.fill([elems], -1).dispose();
  again = true;
} catch {
  again = false;
}
process.stdout.write(JSON.stringify({ allocated, corrupted, error, heapMiB, again }) + '\n');
process.exit(0);
