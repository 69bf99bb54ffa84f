/**
 * The denoising loop: classifier-free guidance over a [uncond..., cond...] batch, the attention
 * controller on every UNet call, and the controller's step callback after every scheduler step.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { AttentionController } from '../nn/attention-control.js';
import type { AddedConditioning, UNet2DConditionModel } from '../models/unet/unet.js';
import type { Scheduler } from '../models/schedulers/index.js';
import { checkGuidanceRescale, guide } from './guidance.js';

/** Progress of one denoising step. */
export interface StepInfo {
  /** 0-based step index. */
  step: number;
  steps: number;
  timestep: number;
  /** Time since the loop started and steps per second so far. */
  elapsedMs: number;
  itPerSec: number;
}

/** Progress of step `i` of `steps` in a loop that started at `startMs` (Date.now()). */
export function stepInfo(i: number, steps: number, timestep: number, startMs: number): StepInfo {
  const elapsedMs = Date.now() - startMs;
  return { step: i, steps, timestep, elapsedMs, itPerSec: (i + 1) / Math.max(elapsedMs / 1000, 1e-9) };
}

export interface SampleOptions {
  unet: UNet2DConditionModel;
  scheduler: Scheduler;
  /** Conditional text embeddings [B, T, D] (T: the text context length). */
  cond: tf.Tensor3D;
  /**
   * Unconditional embeddings [B, T, D], or one per step [steps, T, D] (null-text inversion:
   * row i serves every prompt at step i); required when guidance > 1.
   */
  uncond?: tf.Tensor3D;
  /** Whether `uncond` holds one embedding per step. */
  uncondPerStep?: boolean;
  /** SD-XL: the added conditioning of the whole UNet batch ([uncond..., cond...] rows with guidance). */
  added?: AddedConditioning;
  /** Unit-variance initial latents NHWC [B, h, w, c] (scaled by initNoiseSigma here). */
  latents: tf.Tensor4D;
  steps: number;
  guidance: number;
  /** φ of the guidance rescale (Lin et al. §3.4; diffusers `guidance_rescale`), in [0, 1]; default 0 (off). */
  guidanceRescale?: number;
  controller?: AttentionController;
  /** Called after every step; when it returns a promise the next step waits for it (e.g. to wait for the GPU or let messages in). */
  onStep?: (info: StepInfo) => unknown;
  /** Checked before every step: once aborted, the loop stops with `signal.reason`. */
  signal?: AbortSignal;
  /** Keep a host copy of the latents after every step (NHWC; read asynchronously after each step). */
  keepLatentsPerStep?: boolean;
}

export interface SampleResult {
  /** Final latents NHWC (owned by the caller). */
  latents: tf.Tensor4D;
  timesteps: number[];
  /** Latents after each step (NHWC, host). */
  latentsPerStep?: Float32Array[];
}

/**
 * Lets the event loop run between steps (a signal handler such as Ctrl-C, progress output, a
 * browser's UI), then stops with the signal's reason when it was aborted.
 */
export async function betweenSteps(signal: AbortSignal | undefined): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 0));
  signal?.throwIfAborted();
}

/** Runs the sampling loop. Tensors passed in are not disposed. */
export async function sample(o: SampleOptions): Promise<SampleResult> {
  const cfg = o.guidance > 1;
  if (cfg && !o.uncond) throw new Error('classifier-free guidance needs unconditional embeddings');
  if (o.guidanceRescale !== undefined) checkGuidanceRescale(o.guidanceRescale);
  const b = o.latents.shape[0];
  if (o.cond.shape[0] !== b) throw new Error(`${o.cond.shape[0]} prompt embeddings for a batch of ${b} latents`);
  if (!Number.isInteger(o.steps) || o.steps < 1) throw new Error(`steps must be a positive integer, got ${o.steps}`);
  o.scheduler.setTimesteps(o.steps);
  const timesteps = [...o.scheduler.timesteps];
  // One row per timestep the scheduler takes (PNDM takes steps + 1), checked before any work.
  if (cfg && o.uncondPerStep && o.uncond!.shape[0] !== timesteps.length) {
    throw new Error(
      `uncondEmbeddings hold ${o.uncond!.shape[0]} steps, but this scheduler takes ${timesteps.length} timesteps for ${o.steps} steps: sample with the scheduler they were made for (DDIM for a null-text inversion)`,
    );
  }
  o.controller?.reset?.(timesteps.length);
  const perStepUncond = cfg && o.uncondPerStep;
  /** The UNet's [uncond..., cond...] context of step i. */
  const contextAt = (i: number): tf.Tensor3D => {
    if (!perStepUncond) return context!;
    const [, n, d] = o.uncond!.shape;
    const u = tf.broadcastTo(tf.slice(o.uncond!, [i, 0, 0], [1, n, d]), [b, n, d]);
    return tf.concat([u, o.cond], 0) as tf.Tensor3D;
  };
  const context = perStepUncond ? undefined : tf.keep(cfg ? tf.concat([o.uncond!, o.cond], 0) : o.cond.clone());
  let x = tf.keep(tf.mul(o.latents, o.scheduler.initNoiseSigma) as tf.Tensor4D);
  const perStep: Float32Array[] | undefined = o.keepLatentsPerStep ? [] : undefined;
  const start = Date.now();
  try {
    for (const [i, t] of timesteps.entries()) {
      await betweenSteps(o.signal);
      const next = tf.tidy(() => {
        const input = cfg ? tf.concat([x, x], 0) : x;
        const eps = o.unet.forward(
          o.scheduler.scaleModelInput(input, t) as tf.Tensor4D,
          t,
          contextAt(i),
          { controller: o.controller, step: i },
          { added: o.added },
        );
        let guided: tf.Tensor4D = eps;
        if (cfg) {
          const [u, c] = tf.split(eps, 2, 0);
          guided = guide(u, c, o.guidance, o.guidanceRescale) as tf.Tensor4D;
        }
        let nx = o.scheduler.step(guided, t, x) as tf.Tensor4D;
        if (o.controller?.onStepEnd) nx = o.controller.onStepEnd(nx, i);
        return nx;
      });
      x.dispose();
      x = tf.keep(next);
      if (perStep) perStep.push((await x.data()) as Float32Array);
      const waiting = o.onStep?.(stepInfo(i, timesteps.length, t, start));
      if (waiting instanceof Promise) await waiting;
    }
  } catch (e) {
    x.dispose();
    throw e;
  } finally {
    context?.dispose();
    o.scheduler.reset();
  }
  return { latents: x, timesteps, latentsPerStep: perStep };
}
