/**
 * Adam (Kingma & Ba) with PyTorch's update order, so a run matches `torch.optim.Adam`
 * step for step: m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², p ← p − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε).
 * `weightDecay` is decoupled (AdamW: p ← p·(1 − lr·wd) first).
 */
import * as tf from '@tensorflow/tfjs-core';
import { adamUpdate, sumOfSquares } from '../backend/adam-kernel.js';

export interface AdamOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled weight decay (AdamW); default 0. */
  weightDecay?: number;
}

/** Optimiser state for checkpoints: the step count and per-variable moments (host copies). */
export interface AdamState {
  step: number;
  m: Float32Array[];
  v: Float32Array[];
}

export class Adam {
  private readonly m: tf.Variable[];
  private readonly v: tf.Variable[];
  private t = 0;
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;

  constructor(
    readonly params: readonly tf.Variable[],
    opts: AdamOptions,
  ) {
    this.lr = opts.lr;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0;
    for (const [k, x] of Object.entries({
      lr: this.lr,
      beta1: this.beta1,
      beta2: this.beta2,
      eps: this.eps,
      weightDecay: this.weightDecay,
    })) {
      if (!Number.isFinite(x) || x < 0) throw new Error(`Adam: ${k} must be a finite non-negative number, got ${x}`);
    }
    // tf.variable keeps its own reference: the zeros it starts from are freed with the tidy.
    this.m = tf.tidy(() => params.map((p) => tf.variable(tf.zerosLike(p), false)));
    this.v = tf.tidy(() => params.map((p) => tf.variable(tf.zerosLike(p), false)));
  }

  /** Number of steps taken. */
  get step(): number {
    return this.t;
  }

  /** One update; `grads[i]` is the gradient of `params[i]` (undefined = no gradient: skipped). */
  update(grads: readonly (tf.Tensor | undefined)[]): void {
    if (grads.length !== this.params.length)
      throw new Error(`Adam: ${grads.length} gradients for ${this.params.length} parameters`);
    this.t++;
    const { beta1, beta2, eps } = this;
    const c = {
      beta1,
      beta2,
      eps,
      stepSize: this.lr / (1 - beta1 ** this.t),
      bc2Sqrt: Math.sqrt(1 - beta2 ** this.t),
      decay: 1 - this.lr * this.weightDecay,
    };
    tf.tidy(() => {
      grads.forEach((g, i) => {
        if (!g) return;
        const [p, m, v] = adamUpdate(this.params[i], this.m[i], this.v[i], g, c);
        this.params[i].assign(p);
        this.m[i].assign(m);
        this.v[i].assign(v);
      });
    });
  }

  getState(): AdamState {
    return {
      step: this.t,
      m: this.m.map((x) => Float32Array.from(x.dataSync() as Float32Array)),
      v: this.v.map((x) => Float32Array.from(x.dataSync() as Float32Array)),
    };
  }

  setState(s: AdamState): void {
    if (s.m.length !== this.m.length || s.v.length !== this.v.length)
      throw new Error(`Adam state has ${s.m.length} moments for ${this.m.length} parameters`);
    tf.tidy(() => {
      this.m.forEach((x, i) => x.assign(tf.tensor(s.m[i], x.shape, 'float32')));
      this.v.forEach((x, i) => x.assign(tf.tensor(s.v[i], x.shape, 'float32')));
    });
    this.t = s.step;
  }

  dispose(): void {
    tf.dispose([...this.m, ...this.v]);
  }
}

/** Global L2 norm of a list of gradients. */
export function gradNorm(grads: readonly tf.Tensor[]): number {
  const sq = tf.tidy(() => tf.addN(grads.map(sumOfSquares)));
  const n = Math.sqrt(sq.dataSync()[0]);
  sq.dispose();
  return n;
}
