/**
 * Diffusion timestep conditioning: the sinusoidal embedding (diffusers `get_timestep_embedding` /
 * `Timesteps`) and the MLP on top of it (`TimestepEmbedding`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { Module } from './module.js';
import { Linear } from './linear.js';
import { activation } from './activations.js';

export interface SinusoidalOptions {
  /** Put the cosines first ([cos, sin] instead of [sin, cos]). SD: true. */
  flipSinToCos?: boolean;
  /** Frequencies are exp(-ln(maxPeriod)·i / (dim/2 − shift)). SD: 0. */
  downscaleFreqShift?: number;
  /** Multiplier of the arguments. Default 1. */
  scale?: number;
  maxPeriod?: number;
}

const f32 = Math.fround;

/**
 * Sinusoidal embedding of one timestep per row: [timesteps.length, dim]. Evaluated on the host
 * with float32 rounding at every step where diffusers computes in float32 (frequencies, t·f),
 * so it matches PyTorch's values rather than an exact evaluation.
 */
export function timestepEmbedding(timesteps: ArrayLike<number>, dim: number, o: SinusoidalOptions = {}): tf.Tensor2D {
  const scale = o.scale ?? 1;
  const half = Math.floor(dim / 2);
  const freqs = timestepFrequencies(dim, o);
  const n = timesteps.length;
  const out = new Float32Array(n * dim);
  const [first, second] = o.flipSinToCos ? [Math.cos, Math.sin] : [Math.sin, Math.cos];
  for (let r = 0; r < n; r++) {
    const t = f32(timesteps[r]);
    for (let i = 0; i < half; i++) {
      const arg = f32(scale * f32(t * freqs[i]));
      out[r * dim + i] = first(arg);
      out[r * dim + half + i] = second(arg);
    }
    // Odd dim: the last column stays zero (diffusers pads).
  }
  return tf.tensor2d(out, [n, dim]);
}

/** The dim/2 frequencies of the sinusoidal embedding, rounded to float32 as diffusers computes them. */
export function timestepFrequencies(dim: number, o: SinusoidalOptions = {}): Float32Array {
  const half = Math.floor(dim / 2);
  const logPeriod = f32(-Math.log(o.maxPeriod ?? 10000));
  const denom = f32(half - (o.downscaleFreqShift ?? 0));
  const freqs = new Float32Array(half);
  for (let i = 0; i < half; i++) freqs[i] = f32(Math.exp(f32(f32(logPeriod * i) / denom)));
  return freqs;
}

/** diffusers `Timesteps`: the sinusoidal projection as a (weightless) module. */
export class Timesteps extends Module {
  constructor(
    readonly numChannels: number,
    readonly options: SinusoidalOptions = {},
  ) {
    super();
  }

  /** One row per timestep. */
  forward(timesteps: ArrayLike<number>): tf.Tensor2D {
    return timestepEmbedding(timesteps, this.numChannels, this.options);
  }
}

/** diffusers `TimestepEmbedding` (keys linear_1, linear_2): linear_2(act(linear_1(x))). */
export class TimestepEmbedding extends Module {
  readonly linear1: Linear;
  readonly linear2: Linear;
  private readonly act: <T extends tf.Tensor>(x: T) => T;

  constructor(inChannels: number, timeEmbedDim: number, act = 'silu', outDim = timeEmbedDim) {
    super();
    this.linear1 = this.addModule('linear_1', new Linear(inChannels, timeEmbedDim));
    this.act = activation(act);
    this.linear2 = this.addModule('linear_2', new Linear(timeEmbedDim, outDim));
  }

  /** [B, inChannels] → [B, outDim]. */
  forward(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => this.linear2.forward(this.act(this.linear1.forward(x))));
  }
}
