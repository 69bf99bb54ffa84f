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
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
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
  const isLost = () =>
    lost || gpgpu.gl.isContextLost()
      ? new GpuLostError('The WebGL context was lost (the GPU was reset or ran out of memory)')
      : undefined;
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
      // Flush what tfjs-webgpu has encoded: end its open compute pass first (submitting the command
      // encoder with a pass still open invalidates it, and every later result is garbage).
      backend.ensureCommandEncoderReady();
      backend.endComputePassEncoder();
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
