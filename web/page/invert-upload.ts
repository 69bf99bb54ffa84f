/**
 * Null-text inversion of an uploaded image in the worker (as `ptp invert`: DDIM inversion with the
 * caption, then the per-step optimisation of the unconditional embedding), with progress per DDIM
 * step and per Adam iteration. The last inversion is held, so editing the same image with the same
 * caption, steps, guidance and iterations again samples at once.
 *
 * Cancel: the DDIM inversion yields between steps (the worker's Cancel message aborts it); the
 * null-text optimisation does not yield, so it polls a shared cancel flag after every iteration
 * (cross-origin isolated pages; elsewhere the page stops the worker).
 */
import type { HostTensor, RgbImage, StableDiffusionPipeline } from '../../src/index.js';
import { CancelledError } from './errors.js';
import type { InversionPerf, PageUpload, RunPhase } from './protocol.js';
import { uploadInput } from './upload.js';

/** An inversion: what sampling needs to reconstruct (and edit) the upload. */
export interface HeldInversion {
  key: string;
  /** The upload cropped and resized to the model size. */
  input: RgbImage;
  /** x_T, NCHW [1, 4, h, w]. */
  latents: HostTensor;
  /** [steps, T, D] (T: the model's text context length). */
  uncondEmbeddings: HostTensor;
  perf: Omit<InversionPerf, 'reused' | 'psnr'>;
}

export interface InvertRequest {
  upload: PageUpload;
  modelUrl: string;
  caption: string;
  steps: number;
  guidance: number;
  innerSteps: number;
}

export interface InvertProgress {
  step(phase: RunPhase, step: number, steps: number, itPerSec: number): void;
  iteration(step: number, steps: number, iteration: number, iterations: number, loss: number): void;
}

let held: HeldInversion | undefined;

const keyOf = (r: InvertRequest) =>
  JSON.stringify([r.upload.id, r.modelUrl, r.caption, r.steps, r.guidance, r.innerSteps]);

/** Forgets the held inversion (another model was loaded). */
export function forgetInversion(): void {
  held = undefined;
}

/** The held inversion of `r`, or a new one; `reused` says which. */
export async function invertUpload(
  pipe: StableDiffusionPipeline,
  r: InvertRequest,
  signal: AbortSignal,
  cancelFlag: Int32Array | undefined,
  progress: InvertProgress,
): Promise<{ inversion: HeldInversion; reused: boolean }> {
  const key = keyOf(r);
  if (held?.key === key) return { inversion: held, reused: true };
  held = undefined;
  const input = await uploadInput(r.upload.file, r.upload.name, pipe.defaultSize);
  signal.throwIfAborted();
  const t0 = performance.now();
  let t1 = t0;
  const inv = await pipe.invertNullText({
    image: input,
    prompt: r.caption,
    steps: r.steps,
    guidance: r.guidance,
    innerSteps: r.innerSteps,
    scheduler: pipe.scheduler('ddim'),
    signal,
    onStep: (s) => {
      progress.step('inversion', s.step + 1, s.steps, s.itPerSec);
      if (s.step + 1 === s.steps) t1 = performance.now();
    },
    onIteration: (p) => {
      // The optimisation runs without yielding: a Cancel reaches it only through the shared flag.
      if (cancelFlag && Atomics.load(cancelFlag, 0) !== 0) throw new CancelledError();
      progress.iteration(p.step, p.steps, p.iteration, p.iterations, p.loss);
    },
    onNullTextStep: (s) => progress.step('null-text', s.step + 1, s.steps, s.itPerSec),
  });
  held = {
    key,
    input,
    latents: inv.latents,
    uncondEmbeddings: inv.uncondEmbeddings,
    perf: {
      ddimSeconds: (t1 - t0) / 1000,
      nullTextSeconds: (performance.now() - t1) / 1000,
      iterations: inv.losses.reduce((n, l) => n + l.length, 0),
      maxIterations: r.steps * r.innerSteps,
    },
  };
  return { inversion: held, reused: false };
}
