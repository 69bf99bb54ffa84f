/**
 * A census of tensor reads back to JavaScript, to check that a run reads nothing synchronously
 * (a synchronous read stalls a GPU's queue; tfjs-webgpu's is unreliable on some adapters).
 *
 * - `sync`: `dataSync`, `arraySync`, `bufferSync` of a tensor (tfjs' engine `readSync`).
 * - `async`: `data`, `array`, `buffer` (the engine's `read`).
 * - `kernelSync`: the active backend's `readSync` called by its own kernels rather than through a
 *   tensor (e.g. tfjs-wasm's slice and gather, which view their inputs in the wasm heap: no
 *   transfer there; on WebGL or WebGPU such a call would stall the GPU).
 */
import * as tf from '@tensorflow/tfjs-core';

export interface ReadCounts {
  sync: number;
  async: number;
  kernelSync: number;
}

export interface ReadCounter {
  /** Counts since the counter started or was last reset. */
  readonly counts: Readonly<ReadCounts>;
  reset(): void;
  /** Stops counting (the wrappers stay installed and count for other counters). */
  stop(): void;
}

type Method = (...args: unknown[]) => unknown;
const INSTALLED = Symbol.for('tfjs-prompt-to-prompt.read-count');
const active = new Set<ReadCounts>();
/** Engine readSync calls and backend read calls in progress (a backend readSync inside them is not a kernel's). */
const depth = { throughEngine: 0, inBackendRead: 0 };

const bump = (k: keyof ReadCounts) => {
  for (const c of active) c[k]++;
};

/** Replaces `obj[name]` (once per object) by `wrap(original)`. */
function wrapOnce(obj: Record<string | symbol, unknown>, name: string, wrap: (f: Method) => Method): void {
  const marks = (obj[INSTALLED] ??= new Set<string>()) as Set<string>;
  const f = obj[name];
  if (marks.has(name) || typeof f !== 'function') return;
  marks.add(name);
  obj[name] = wrap(f as Method);
}

/** `f`, with `depth[key]` raised while it runs (synchronously). */
function nested(f: Method, key: keyof typeof depth): Method {
  return function (this: unknown, ...args: unknown[]) {
    depth[key]++;
    try {
      return f.apply(this, args);
    } finally {
      depth[key]--;
    }
  };
}

/** Starts counting the reads of the active backend (wrapping tfjs' engine and the backend once). */
export function countReads(): ReadCounter {
  const engine = tf.engine() as unknown as Record<string | symbol, unknown>;
  const backend = tf.backend() as unknown as Record<string | symbol, unknown>;
  wrapOnce(engine, 'readSync', (f) => {
    const inner = nested(f, 'throughEngine');
    return function (this: unknown, ...args: unknown[]) {
      bump('sync');
      return inner.apply(this, args);
    };
  });
  wrapOnce(
    engine,
    'read',
    (f) =>
      function (this: unknown, ...args: unknown[]) {
        bump('async');
        return f.apply(this, args);
      },
  );
  // A backend's `read` may call its own `readSync` synchronously (wasm, cpu): not a kernel's read.
  wrapOnce(backend, 'read', (f) => nested(f, 'inBackendRead'));
  wrapOnce(
    backend,
    'readSync',
    (f) =>
      function (this: unknown, ...args: unknown[]) {
        if (depth.throughEngine === 0 && depth.inBackendRead === 0) bump('kernelSync');
        return f.apply(this, args);
      },
  );
  const counts: ReadCounts = { sync: 0, async: 0, kernelSync: 0 };
  active.add(counts);
  return {
    counts,
    reset() {
      Object.assign(counts, { sync: 0, async: 0, kernelSync: 0 });
    },
    stop() {
      active.delete(counts);
    },
  };
}
