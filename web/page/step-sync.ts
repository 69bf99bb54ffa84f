/**
 * Per-step waiting for the backend without reading tensors back: the GPU backends queue work
 * asynchronously, so a step "ends" when its commands are done — a WebGL fence (fenceSync, polled),
 * or WebGPU's onSubmittedWorkDone. Waiting also yields to the worker's event loop, so a Cancel
 * message is seen between steps. Lost GPU contexts/devices are reported here.
 */
import * as tf from '@tensorflow/tfjs-core';
import { GpuLostError } from './errors.js';

export interface StepSync {
  /** What is waited for, shown with the timings. */
  readonly description: string;
  /** Resolves when the work queued so far is done; rejects with GpuLostError when the GPU is gone. */
  wait(): Promise<void>;
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
  const check = () => {
    if (lost || gpgpu.gl.isContextLost()) throw new GpuLostError('The WebGL context was lost (the GPU was reset or ran out of memory)');
  };
  return {
    description: 'WebGL fence per step',
    async wait() {
      check();
      await gpgpu.createAndWaitForFence();
      check();
    },
  };
}

function webgpuSync(): StepSync {
  const backend = tf.backend() as unknown as WebGPUBackendView;
  let lost: string | undefined;
  void backend.device.lost.then((info) => {
    lost = info.message || info.reason || 'unknown reason';
  });
  const check = () => {
    if (lost !== undefined) throw new GpuLostError(`The WebGPU device was lost (${lost})`);
  };
  return {
    description: 'WebGPU onSubmittedWorkDone per step',
    async wait() {
      check();
      backend.submitQueue();
      await backend.device.queue.onSubmittedWorkDone();
      check();
    },
  };
}

/** The step sync of the active tfjs backend. */
export function stepSync(): StepSync {
  const name = tf.getBackend();
  if (name === 'webgl') return webglSync();
  if (name === 'webgpu') return webgpuSync();
  return { description: `synchronous ${name} kernels`, wait: yieldToEvents };
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
