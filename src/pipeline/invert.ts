/**
 * DDIM inversion for real-image editing (Prompt-to-Prompt null-text notebook, `ddim_loop`):
 * from the image latents x₀ towards noise, with the conditional embedding only (guidance 1),
 * visiting the sampling timesteps in reverse and applying `DDIMScheduler.invertStep` (`next_step`).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { AddedConditioning, UNet2DConditionModel } from '../models/unet/unet.js';
import { DDIMScheduler, type Scheduler } from '../models/schedulers/index.js';
import { betweenSteps, stepInfo, type StepInfo } from './sampler.js';

export interface DdimInvertOptions {
  unet: UNet2DConditionModel;
  /** Must be a DDIM scheduler (the inversion uses its ᾱ schedule and timesteps). */
  scheduler: Scheduler;
  /** Conditional text embeddings [B, T, D] (T: the text context length). */
  cond: tf.Tensor3D;
  /** SD-XL: the added conditioning of `cond`'s rows. */
  added?: AddedConditioning;
  /** Image latents NHWC [B, h, w, c] (VAE mean · scaling factor). */
  latents: tf.Tensor4D;
  steps: number;
  onStep?: (info: StepInfo) => void;
  /** Checked before every step (see `SampleOptions.signal`). */
  signal?: AbortSignal;
}

export interface DdimInvertResult {
  /** Latents after the last inversion step, NHWC (owned by the caller). */
  latents: tf.Tensor4D;
  /** The sampling timesteps (descending, as `generate` uses them); inversion visits them in reverse. */
  timesteps: number[];
  /** Host copies of x₀ and the latents after each inversion step (NHWC, read asynchronously): steps + 1 entries. */
  trajectory: Float32Array[];
}

/** Runs the inversion loop. Tensors passed in are not disposed. */
export async function ddimInvert(o: DdimInvertOptions): Promise<DdimInvertResult> {
  if (!(o.scheduler instanceof DDIMScheduler))
    throw new Error(`DDIM inversion needs the DDIM scheduler, got '${o.scheduler.name}'`);
  const scheduler = o.scheduler;
  if (!Number.isInteger(o.steps) || o.steps < 1) throw new Error(`steps must be a positive integer, got ${o.steps}`);
  if (o.cond.shape[0] !== o.latents.shape[0])
    throw new Error(`${o.cond.shape[0]} prompt embeddings for ${o.latents.shape[0]} images`);
  scheduler.setTimesteps(o.steps);
  const timesteps = [...scheduler.timesteps];
  let x = tf.keep(tf.clone(o.latents));
  const trajectory: Float32Array[] = [];
  const start = Date.now();
  try {
    trajectory.push((await x.data()) as Float32Array);
    for (let i = 0; i < timesteps.length; i++) {
      await betweenSteps(o.signal);
      const t = timesteps[timesteps.length - 1 - i];
      const next = tf.tidy(
        () => scheduler.invertStep(o.unet.forward(x, t, o.cond, undefined, { added: o.added }), t, x) as tf.Tensor4D,
      );
      x.dispose();
      x = tf.keep(next);
      trajectory.push((await x.data()) as Float32Array);
      o.onStep?.(stepInfo(i, timesteps.length, t, start));
    }
  } catch (e) {
    x.dispose();
    throw e;
  } finally {
    scheduler.reset();
  }
  return { latents: x, timesteps, trajectory };
}
