/**
 * Exponential moving average of weights (the weights a diffusion model is sampled and shipped
 * with): shadow ← d·shadow + (1 − d)·w after every step, with d = min(decay, (1 + t)/(10 + t)) so
 * the average follows the weights closely at the start.
 */
import * as tf from '@tensorflow/tfjs-core';
import { lerp } from '../backend/adam-kernel.js';

export class Ema {
  private readonly shadow: tf.Variable[];
  private t = 0;

  constructor(
    readonly params: readonly tf.Variable[],
    readonly decay = 0.999,
  ) {
    if (!(decay >= 0 && decay < 1)) throw new Error(`EMA decay must be in [0, 1), got ${decay}`);
    this.shadow = params.map((p) => tf.variable(p.clone(), false));
  }

  /** Number of updates so far. */
  get step(): number {
    return this.t;
  }

  update(): void {
    this.t++;
    const d = Math.min(this.decay, (1 + this.t) / (10 + this.t));
    tf.tidy(() => this.shadow.forEach((s, i) => s.assign(lerp(s, this.params[i], d))));
  }

  /** Runs `fn` with the averaged weights in the parameters, then restores the trained ones. */
  withAveraged<T>(fn: () => T): T {
    const saved = this.swapIn();
    try {
      return fn();
    } finally {
      this.restore(saved);
    }
  }

  /** withAveraged for asynchronous work: the trained weights come back when `fn` settles. */
  async withAveragedAsync<T>(fn: () => Promise<T>): Promise<T> {
    const saved = this.swapIn();
    try {
      return await fn();
    } finally {
      this.restore(saved);
    }
  }

  private swapIn(): tf.Tensor[] {
    const saved = this.params.map((p) => p.clone());
    tf.tidy(() => this.params.forEach((p, i) => p.assign(this.shadow[i])));
    return saved;
  }

  private restore(saved: tf.Tensor[]): void {
    tf.tidy(() => this.params.forEach((p, i) => p.assign(saved[i])));
    tf.dispose(saved);
  }

  /** Host copies of the averaged weights (same order as `params`). */
  values(): Float32Array[] {
    return this.shadow.map((s) => Float32Array.from(s.dataSync() as Float32Array));
  }

  setState(step: number, values: readonly Float32Array[]): void {
    if (values.length !== this.shadow.length)
      throw new Error(`EMA state has ${values.length} tensors for ${this.shadow.length} parameters`);
    tf.tidy(() => this.shadow.forEach((s, i) => s.assign(tf.tensor(values[i], s.shape, 'float32'))));
    this.t = step;
  }

  dispose(): void {
    tf.dispose(this.shadow);
  }
}
