/**
 * Per-step waiting for the backend without reading tensors back: the GPU backends queue work
 * asynchronously, so a step "ends" when its commands are done — a WebGL fence (fenceSync, polled),
 * or WebGPU's onSubmittedWorkDone. Waiting also yields to the worker's event loop, so a Cancel
 * message is seen between steps. Lost GPU contexts/devices are reported here.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BackendUnusableError, GpuLostError } from './errors.js';

export interface StepSync {
  /** What is waited for, shown with the timings. */
  readonly description: string;
  /** Resolves when the work queued so far is done; rejects with GpuLostError when the GPU is gone. */
  wait(): Promise<void>;
  /** A GpuLostError when the GPU context/device is gone (whatever error the loss caused elsewhere). */
  lost(): GpuLostError | undefined;
  /** Loses the GPU context on purpose (WEBGL_lose_context; automation of the context-lost path). */
  loseContext?(): void;
}

interface WebGLBackendView {
  gpgpu: { gl: WebGL2RenderingContext; createAndWaitForFence(): Promise<void> };
}

interface WebGPUBackendView {
  device: { queue: { onSubmittedWorkDone(): Promise<void> }; lost: Promise<{ message: string; reason?: string }> };
  submitQueue(): void;
}

const yieldToEvents = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

function webglSync(): StepSync {
  const { gpgpu } = tf.backend() as unknown as WebGLBackendView;
  let lost = false;
  // An OffscreenCanvas in a worker, an HTMLCanvasElement on the main thread: both are event targets.
  (gpgpu.gl.canvas as EventTarget).addEventListener('webglcontextlost', () => {
    lost = true;
  });
  const isLost = () => (lost || gpgpu.gl.isContextLost() ? new GpuLostError('The WebGL context was lost (the GPU was reset or ran out of memory)') : undefined);
  const check = () => {
    const e = isLost();
    if (e) throw e;
  };
  return {
    description: 'WebGL fence per step',
    async wait() {
      check();
      await gpgpu.createAndWaitForFence();
      check();
    },
    lost: isLost,
    loseContext: () => gpgpu.gl.getExtension('WEBGL_lose_context')?.loseContext(),
  };
}

function webgpuSync(): StepSync {
  const backend = tf.backend() as unknown as WebGPUBackendView;
  let lost: string | undefined;
  void backend.device.lost.then((info) => {
    lost = info.message || info.reason || 'unknown reason';
  });
  const isLost = () => (lost !== undefined ? new GpuLostError(`The WebGPU device was lost (${lost})`) : undefined);
  const check = () => {
    const e = isLost();
    if (e) throw e;
  };
  return {
    description: 'WebGPU onSubmittedWorkDone per step',
    async wait() {
      check();
      backend.submitQueue();
      await backend.device.queue.onSubmittedWorkDone();
      check();
    },
    lost: isLost,
  };
}

/** The step sync of the active tfjs backend. */
export function stepSync(): StepSync {
  const name = tf.getBackend();
  if (name === 'webgl') return webglSync();
  if (name === 'webgpu') return webgpuSync();
  return { description: `synchronous ${name} kernels`, wait: yieldToEvents, lost: () => undefined };
}

/**
 * Counts the active backend's reads of tensor data to the CPU (`readSync`, `read`, `readToGPU`
 * is not a CPU read and is not counted). Wraps the backend instance's methods once.
 */
export function readbackCounter(): { reset(): void; readonly count: number } {
  const backend = tf.backend() as unknown as Record<string, unknown>;
  let n = 0;
  for (const m of ['readSync', 'read']) {
    const f = backend[m];
    if (typeof f !== 'function') continue;
    backend[m] = function (this: unknown, ...args: unknown[]) {
      n++;
      return (f as (...a: unknown[]) => unknown).apply(this, args);
    };
  }
  return {
    reset() {
      n = 0;
    },
    get count() {
      return n;
    },
  };
}

/**
 * The pipeline reads its results with synchronous reads (`dataSync`). tfjs-webgpu does those
 * through a WebGPU canvas, which on some adapters returns zeros and then loses the device
 * (Chromium 156 headless on SwiftShader). One read of a computed tensor tells; a wrong
 * value is refused here, before any silent wrong result.
 */
export function checkSyncReads(): void {
  if (tf.getBackend() !== 'webgpu') return;
  // 1024 values: tfjs-webgpu computes tensors under 128 values on the CPU, which would prove nothing.
  const v = tf.tidy(() => tf.add(tf.ones([1024]), 1).dataSync());
  const wrong = v.findIndex((x) => x !== 2);
  if (wrong >= 0) {
    throw new BackendUnusableError(
      `WebGPU on this adapter cannot read tensors back synchronously (tfjs-webgpu's readSync gave ${v[wrong]} instead of 2 and lost the device), which the pipeline needs; choose webgl or wasm`,
    );
  }
}
