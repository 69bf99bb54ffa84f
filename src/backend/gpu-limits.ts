/**
 * Per-tensor size limits. WebGPU binds each tensor as one storage buffer, which may not exceed
 * the device's `maxStorageBufferBindingSize` (nor `maxBufferSize`); tfjs-webgpu asks for the
 * adapter's own limits for its device (often 1–4 GiB; WebGPU's default is 128 MiB). Attention is
 * sliced so that no score tensor passes the limit (src/nn/attention-core.ts).
 */
import * as tf from '@tensorflow/tfjs-core';

interface WebGPUBackendLike {
  device?: { limits?: { maxStorageBufferBindingSize?: number; maxBufferSize?: number } };
}

let cap: number | undefined;

/** The device limits of the active backend: WebGPU's binding and buffer limits, Infinity elsewhere. */
export function backendTensorBytesLimit(): number {
  if (tf.getBackend() !== 'webgpu') return Infinity;
  const limits = (tf.backend() as unknown as WebGPUBackendLike).device?.limits;
  return Math.min(limits?.maxStorageBufferBindingSize ?? Infinity, limits?.maxBufferSize ?? Infinity);
}

/**
 * Caps the bytes of one attention score tensor on every backend, below the device's own limit
 * (e.g. for a driver that fails before its stated limit); undefined removes the cap.
 */
export function setTensorBytesLimit(bytes: number | undefined): void {
  if (bytes !== undefined && !(bytes >= 4)) throw new Error(`tensor bytes limit must be at least 4, got ${bytes}`);
  cap = bytes;
}

/** Bytes one tensor may take: the cap of `setTensorBytesLimit` and the device's limit, whichever is lower. */
export function tensorBytesLimit(): number {
  return Math.min(cap ?? Infinity, backendTensorBytesLimit());
}
