/**
 * Null-text inversion (Mokady et al., "Null-text Inversion for Editing Real Images"; the
 * `null_optimization` of Prompt-to-Prompt's `null_text_w_ptp` notebook): given the DDIM inversion
 * trajectory x₀ … x_T of an image, optimise the unconditional ("null") embedding of every step so
 * that classifier-free-guided DDIM sampling from x_T retraces it.
 *
 * For step i (timestep t_i, from x_T down): a new Adam (lr 1e-2·(1 − i/100)) on the embedding,
 * starting from the previous step's result; at most `innerSteps` updates of
 * loss = mse(step(ε_u + g·(ε_c − ε_u), t_i, x_cur), x_{T−i−1}), stopping after the first update
 * whose loss (computed before that update, as the notebook does) is below `earlyStop + i·2e-5`;
 * then x_cur ← that guided step with the optimised embedding. Gradients come from the UNet block by block (SegmentTape), so only one
 * block's activations and weights are alive during the backward pass.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { AddedConditioning, UNet2DConditionModel } from '../models/unet/unet.js';
import { DDIMScheduler, type Scheduler } from '../models/schedulers/index.js';
import { Adam } from '../nn/adam.js';
import { SegmentTape } from '../nn/segment-tape.js';
import { registerGradients } from '../backend/gradients/index.js';
import { installWasmGradKernels } from '../backend/wasm-grad-kernels.js';
import { stepInfo, type StepInfo } from './sampler.js';
import { RUN_DEFAULTS } from './run-plan.js';

/** Progress of one inner (Adam) iteration. */
export interface NullTextProgress {
  /** 0-based outer step and the number of steps. */
  step: number;
  steps: number;
  /** 0-based inner iteration and the most there may be. */
  iteration: number;
  iterations: number;
  /** The loss before this iteration's update. */
  loss: number;
  /** Whether this iteration met the early-stop threshold (the last of its step). */
  stopped: boolean;
  elapsedMs: number;
}

export interface NullTextSettings {
  /** Adam updates per step at most (notebook default 10). */
  innerSteps?: number;
  /** Early-stop threshold ε of `loss < ε + i·2e-5` (notebook default 1e-5). */
  earlyStop?: number;
  /** Guidance scale the embeddings are optimised for (and must be sampled with). Default 7.5. */
  guidance?: number;
  onStep?: (info: StepInfo) => void;
  onIteration?: (p: NullTextProgress) => void;
}

export interface NullTextOptions extends NullTextSettings {
  unet: UNet2DConditionModel;
  /** A DDIM scheduler, configured as for the inversion. */
  scheduler: Scheduler;
  /** Conditional embedding [1, T, D] of the prompt. */
  cond: tf.Tensor3D;
  /** Starting unconditional embedding [1, T, D] (the embedding of "", or SD-XL's zeros). */
  uncond: tf.Tensor3D;
  /** SD-XL: the added conditioning (pooled embedding, time ids) of the conditional and unconditional calls. */
  addedCond?: AddedConditioning;
  addedUncond?: AddedConditioning;
  /** The inversion trajectory x₀ … x_T, NHWC [1, h, w, c] each (steps + 1 tensors; not disposed). */
  trajectory: readonly tf.Tensor4D[];
}

export interface NullTextResult {
  /** The optimised unconditional embedding of every step [steps, T, D] (caller disposes). */
  uncondEmbeddings: tf.Tensor3D;
  /** The sampling timesteps (descending). */
  timesteps: number[];
  /** Loss of every inner iteration, per step. */
  losses: number[][];
  /** The guided reconstruction x₀ reached by the last step, NHWC (caller disposes). */
  latents: tf.Tensor4D;
}

/** Checks the settings; returns them with the defaults filled in. */
export function nullTextSettings(s: NullTextSettings): { innerSteps: number; earlyStop: number; guidance: number } {
  const innerSteps = s.innerSteps ?? 10;
  const earlyStop = s.earlyStop ?? 1e-5;
  const guidance = s.guidance ?? RUN_DEFAULTS.guidance;
  if (!Number.isInteger(innerSteps) || innerSteps < 1)
    throw new Error(`null-text inversion: innerSteps must be a positive integer, got ${innerSteps}`);
  if (!Number.isFinite(earlyStop) || earlyStop < 0)
    throw new Error(`null-text inversion: earlyStop must be a non-negative number, got ${earlyStop}`);
  if (!Number.isFinite(guidance) || guidance <= 1)
    throw new Error(`null-text inversion: guidance must be a number above 1, got ${guidance}`);
  return { innerSteps, earlyStop, guidance };
}

/**
 * Runs the optimisation. Tensors passed in are not disposed. Each iteration's loss (progress and
 * the early stop need the number) is read back asynchronously.
 */
export async function nullTextOptimize(o: NullTextOptions): Promise<NullTextResult> {
  const { innerSteps, earlyStop, guidance } = nullTextSettings(o);
  if (!(o.scheduler instanceof DDIMScheduler))
    throw new Error(`null-text inversion needs the DDIM scheduler, got '${o.scheduler.name}'`);
  const scheduler = o.scheduler;
  const steps = o.trajectory.length - 1;
  if (steps < 1) throw new Error('null-text inversion: the trajectory needs at least two latents');
  if (o.cond.shape[0] !== 1 || o.uncond.shape[0] !== 1)
    throw new Error('null-text inversion: one image at a time (embeddings of batch 1)');
  registerGradients();
  installWasmGradKernels();
  scheduler.setTimesteps(steps);
  const timesteps = [...scheduler.timesteps];
  const emb = tf.tidy(() =>
    tf.variable(tf.clone(o.uncond), true, `ptp_null_text_${Date.now()}_${Math.random().toString(36).slice(2)}`),
  );
  let x = tf.keep(tf.clone(o.trajectory[steps]));
  const perStep: tf.Tensor3D[] = [];
  const losses: number[][] = [];
  const start = Date.now();
  try {
    for (let i = 0; i < steps; i++) {
      const t = timesteps[i];
      const target = o.trajectory[steps - 1 - i];
      const epsCond = tf.tidy(() => o.unet.forward(x, t, o.cond, undefined, { added: o.addedCond }));
      const guidedStep = (epsUncond: tf.Tensor) =>
        scheduler.step(tf.add(epsUncond, tf.mul(tf.sub(epsCond, epsUncond), guidance)), t, x);
      const opt = new Adam([emb], { lr: 1e-2 * (1 - i / 100) });
      const stepLosses: number[] = [];
      try {
        for (let j = 0; j < innerSteps; j++) {
          const loss = await adamIteration(
            o.unet,
            x,
            t,
            emb,
            o.addedUncond,
            opt,
            (e) => tf.mean(tf.squaredDifference(guidedStep(e), target)) as tf.Scalar,
          );
          stepLosses.push(loss);
          const stopped = loss < earlyStop + i * 2e-5;
          o.onIteration?.({
            step: i,
            steps,
            iteration: j,
            iterations: innerSteps,
            loss,
            stopped,
            elapsedMs: Date.now() - start,
          });
          if (stopped) break;
        }
        perStep.push(tf.keep(tf.clone(emb) as tf.Tensor3D));
        const next = tf.tidy(
          () => guidedStep(o.unet.forward(x, t, emb, undefined, { added: o.addedUncond })) as tf.Tensor4D,
        );
        x.dispose();
        x = tf.keep(next);
      } finally {
        opt.dispose();
        epsCond.dispose();
      }
      losses.push(stepLosses);
      o.onStep?.(stepInfo(i, steps, t, start));
    }
    const uncondEmbeddings = tf.tidy(() => tf.concat(perStep, 0) as tf.Tensor3D);
    return { uncondEmbeddings, timesteps, losses, latents: x };
  } catch (e) {
    x.dispose();
    throw e;
  } finally {
    tf.dispose([emb, ...perStep]);
    scheduler.reset();
  }
}

/**
 * One Adam update of `emb` for `lossOf(unet(x, t, emb))`; returns the loss before the update.
 * The UNet runs on a SegmentTape: its backward recomputes one block at a time.
 */
async function adamIteration(
  unet: UNet2DConditionModel,
  x: tf.Tensor4D,
  t: number,
  emb: tf.Variable,
  added: AddedConditioning | undefined,
  opt: Adam,
  lossOf: (eps: tf.Tensor) => tf.Scalar,
): Promise<number> {
  const tape = new SegmentTape();
  tape.watch(emb);
  let value: tf.Scalar | undefined;
  try {
    const eps = unet.forward(x, t, emb as tf.Tensor as tf.Tensor3D, undefined, { tape, added });
    const vg = tf.tidy(() => tf.valueAndGrads((e: tf.Tensor) => lossOf(e))([eps]));
    value = vg.value;
    const [dEmb] = tape.backward(eps, vg.grads[0], [emb]);
    opt.update([dEmb]);
    tf.dispose([eps, vg.grads[0], dEmb]);
    return (await value.data())[0];
  } finally {
    value?.dispose();
    tape.dispose();
  }
}
