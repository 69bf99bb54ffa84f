/**
 * Access to tfjs-backend-wasm's tensor memory for the native kernels: they read and write the
 * wasm heap in place (one copy of every tensor; every other kernel stays wasm).
 */
import type * as tf from '@tensorflow/tfjs-core';

/** What the kernels use of BackendWasm. */
export interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  getMemoryOffset(dataId: object): number;
  wasm: { HEAPU8: Uint8Array };
}

/** Byte offset of a tensor in the heap; -1 for an absent optional input. */
export function offsetOf(backend: WasmBackendLike, t: tf.TensorInfo | undefined): number {
  return t ? backend.getMemoryOffset(t.dataId) : -1;
}

/**
 * Allocates outputs (float32 unless `dtype`), then runs `compute` with the heap and the
 * outputs' offsets. The heap view is taken after the allocations: growing the heap replaces (or
 * detaches) the old view.
 */
export function withOutputs(
  backend: WasmBackendLike,
  shapes: number[][],
  compute: (heap: Uint8Array, outOffsets: number[]) => void,
  dtype: tf.DataType = 'float32',
): tf.TensorInfo[] {
  const outs = shapes.map((s) => backend.makeOutput(s, dtype));
  if (shapes.every((s) => s.every((d) => d > 0))) {
    compute(
      backend.wasm.HEAPU8,
      outs.map((o) => offsetOf(backend, o)),
    );
  }
  return outs;
}

/** Whether every given tensor is float32. */
export function allFloat32(...ts: (tf.TensorInfo | undefined)[]): boolean {
  return ts.every((t) => !t || t.dtype === 'float32');
}
