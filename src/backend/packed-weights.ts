/**
 * Which backend tensors hold a model weight, under a key that stays the same for as long as the
 * weight's values do. A backend that keeps weights packed in its own layout (the native
 * backend's oneDNN kernels) looks the key up by the tensor's data and reorders a weight once
 * instead of on every call, even when the weight is streamed (a fresh upload per use). Nothing
 * is recorded until such a backend enables it.
 */
import type * as tf from '@tensorflow/tfjs-core';

const keys = new WeakMap<object, number>();
let nextKey = 0;
let release: ((key: number) => void) | undefined;

/** Turns packing on (`onRelease` frees a key's packed copy) or off (undefined). */
export function enableWeightPacking(onRelease: ((key: number) => void) | undefined): void {
  release = onRelease;
}

/** Whether a backend packs weights. */
export function weightPackingEnabled(): boolean {
  return release !== undefined;
}

/** A new key: one per weight and version of its values. */
export function newWeightKey(): number {
  return nextKey++;
}

/** Records `t`'s data as the weight `key` (its values never change under that key). */
export function markWeight<T extends tf.Tensor>(t: T, key: number): T {
  if (release) keys.set(t.dataId as object, key);
  return t;
}

/** The weight key of a tensor's data, or -1 when it is not a marked weight (or packing is off). */
export function weightKeyOf(t: tf.TensorInfo | undefined): number {
  return t && release ? (keys.get(t.dataId as object) ?? -1) : -1;
}

/** Frees what the backend keeps for `key` (its weight was changed or disposed). */
export function releaseWeightKey(key: number): void {
  release?.(key);
}
