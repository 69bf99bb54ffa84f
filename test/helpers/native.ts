/**
 * Native-kernel test helpers: whether the addon is built (tests skip loudly without it, and fail
 * instead when PTP_REQUIRE_NATIVE is set, as in CI), running a function on the native backend,
 * and computing a reference on the cpu backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { currentBackend } from '../../src/backend/select.js';
import { initNodeBackend } from '../../src/node/backend.js';
import { loadNativeAddon } from '../../src/node/native/addon.js';
import { describeNeeding } from './requirement.js';

/** Why the addon cannot load, or undefined when it can. */
export function nativeUnavailable(): string | undefined {
  try {
    loadNativeAddon();
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/** `describe` when the addon loads, else a loud skip (an error under PTP_REQUIRE_NATIVE). */
export function describeNative(title: string, body: (this: Mocha.Suite) => void): void {
  describeNeeding(title, nativeUnavailable(), 'PTP_REQUIRE_NATIVE', body);
}

/** Activates the native backend for the suite and restores the previous one after it. */
export function useNativeBackend(): void {
  let previous: string | undefined;
  before(async function () {
    this.timeout(120000);
    previous = currentBackend()?.name;
    await initNodeBackend('native');
  });
  after(async function () {
    this.timeout(120000);
    if (previous && previous !== 'native') await initNodeBackend(previous);
  });
}

/** Runs `f` on the cpu backend with the given inputs and returns its output's values. */
export async function onCpu(
  inputs: { shape: number[]; values: Float32Array }[],
  f: (...xs: tf.Tensor[]) => tf.Tensor,
): Promise<Float32Array> {
  const active = tf.getBackend();
  await tf.setBackend('cpu');
  try {
    return tf.tidy(() => f(...inputs.map((i) => tf.tensor(i.values, i.shape)))).dataSync() as Float32Array;
  } finally {
    await tf.setBackend(active);
  }
}

/** Runs `f` on the active backend and returns its output's values. */
export function onActive(
  inputs: { shape: number[]; values: Float32Array }[],
  f: (...xs: tf.Tensor[]) => tf.Tensor,
): Float32Array {
  const t = tf.tidy(() => f(...inputs.map((i) => tf.tensor(i.values, i.shape))));
  const v = t.dataSync() as Float32Array;
  t.dispose();
  return v;
}

/** Deterministic pseudo-random values in [-1, 1). */
export function randomValues(shape: number[], seed: number): { shape: number[]; values: Float32Array } {
  const n = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    values[i] = ((s >>> 0) / 2 ** 32) * 2 - 1;
  }
  return { shape, values };
}

/** Largest |x|. */
export function maxAbs(x: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]));
  return m;
}
