/**
 * Leak checks that pass when a test runs alone: the work runs once to warm up (weights uploaded,
 * derived weights and kernels cached), then again; the second run must leave the live tensors
 * and the backend's tensor bytes exactly where they were.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';

/** Live tensors and backend bytes now. */
export function memoryNow(): { numTensors: number; numBytes: number } {
  const m = tf.memory();
  return { numTensors: m.numTensors, numBytes: m.numBytes };
}

/**
 * Runs `work` `warmups` times (default 1), then once more, and asserts that the last run left
 * `tf.memory().numTensors` and `numBytes` unchanged. `work` disposes what it creates (or returns
 * tensors, which are disposed here). Returns what the last run returned (tensors disposed).
 */
export async function expectNoLeak<T>(
  what: string,
  work: () => T | Promise<T>,
  opts: { warmups?: number } = {},
): Promise<T> {
  const settle = async () => {
    const r = await work();
    tf.dispose(collectTensors(r));
    return r;
  };
  for (let i = 0; i < (opts.warmups ?? 1); i++) await settle();
  const before = memoryNow();
  const r = await settle();
  expect(memoryNow(), `${what}: live tensors / backend bytes after a warmed-up run`).to.deep.equal(before);
  return r;
}

function collectTensors(x: unknown): tf.Tensor[] {
  if (x instanceof tf.Tensor) return [x];
  if (Array.isArray(x)) return x.flatMap(collectTensors);
  return [];
}
