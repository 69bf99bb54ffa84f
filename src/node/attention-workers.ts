/**
 * Worker threads for the fused attention kernel in Node: a shared-memory kernel whose units
 * are claimed by the calling thread and `threads − 1` workers (worker_threads, blocked in
 * Atomics.wait between jobs, unref'd so they never keep the process alive).
 */
import { Worker } from 'node:worker_threads';
import { AttentionKernel, workerLoop } from '../backend/attention-kernel.js';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
var __name = (f) => f;
const workerLoop = ${workerLoop.toString()};
const { module, memory, thread } = workerData;
const instance = new WebAssembly.Instance(module, { env: { memory } });
parentPort.postMessage('ready');
workerLoop(instance.exports, memory, thread);
`;

/** A started pool: the kernel to install and a way to stop its workers. */
export interface AttentionWorkers {
  kernel: AttentionKernel;
  stop(): Promise<void>;
}

/**
 * Creates a shared-memory kernel and starts `threads − 1` workers on it; resolves once every
 * worker is ready, rejects (after terminating them) on an error or after `timeoutMs`.
 */
export async function startAttentionWorkers(threads: number, timeoutMs = 30000): Promise<AttentionWorkers> {
  const kernel = AttentionKernel.create({ shared: true });
  if (!kernel) throw new Error('the shared-memory wasm SIMD attention kernel cannot be instantiated');
  const workers: Worker[] = [];
  const stop = async () => {
    kernel.stopWorkers();
    await Promise.all(workers.map((w) => w.terminate()));
  };
  try {
    await Promise.all(
      Array.from(
        { length: threads - 1 },
        (_, i) =>
          new Promise<void>((resolve, reject) => {
            const w = new Worker(WORKER_SOURCE, {
              eval: true,
              workerData: { module: kernel.module, memory: kernel.memory, thread: i + 1 },
            });
            workers.push(w);
            const timer = setTimeout(
              () => reject(new Error(`attention worker ${i + 1} did not start within ${timeoutMs} ms`)),
              timeoutMs,
            );
            w.once('message', () => {
              clearTimeout(timer);
              resolve();
            });
            w.once('error', (e) => {
              clearTimeout(timer);
              reject(e);
            });
            w.once('exit', (code) => {
              clearTimeout(timer);
              reject(new Error(`attention worker ${i + 1} exited with code ${code}`));
            });
          }),
      ),
    );
  } catch (e) {
    await stop();
    throw e;
  }
  for (const w of workers) {
    w.removeAllListeners('exit');
    w.unref();
  }
  kernel.setThreads(threads);
  return { kernel, stop };
}
