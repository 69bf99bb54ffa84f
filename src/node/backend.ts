/** Node backend candidates: tfjs-node-gpu → tfjs-node → native (over wasm) → wasm → cpu. */
import * as tf from '@tensorflow/tfjs-core';
import { availableParallelism } from 'node:os';
import { selectBackend, type BackendCandidate, type SelectedBackend } from '../backend/select.js';
import { installWasmKernelPatches } from '../backend/wasm-patches.js';
import { installWasmGradKernels } from '../backend/wasm-grad-kernels.js';
import { log } from '../util/log.js';
import { setAttentionKernel } from '../backend/attention-ops.js';
import { startAttentionWorkers, type AttentionWorkers } from './attention-workers.js';
import { loadThreadedWasmBundle, type ThreadedBundleOptions, type WasmPackage } from './wasm-threads.js';
import { nativeCandidate, setNativePrecision } from './native/candidate.js';
import { uninstallNativeKernels } from './native/install.js';
import type { NativePrecision } from './native/addon.js';

/** Dynamic import that type-checks without the optional packages installed. */
async function importOptional(name: string): Promise<unknown> {
  return import(name);
}

export interface NodeBackendOptions {
  /**
   * Threads for the wasm backend; default PTP_WASM_THREADS, else the available cores (at most
   * 8). 1 = the single-threaded SIMD build without any patching.
   */
  wasmThreads?: number;
  /** Test hooks for the threaded bundle loader (version/bundle overrides). */
  threadedBundle?: Omit<ThreadedBundleOptions, 'threads'>;
  /** Milliseconds the threaded wasm start-up may take before falling back (default 60 s). */
  threadedStartTimeoutMs?: number;
}

function wantedWasmThreads(opts: NodeBackendOptions): number {
  const env = process.env.PTP_WASM_THREADS;
  const n = opts.wasmThreads ?? (env !== undefined && env !== '' ? Number(env) : Math.min(8, availableParallelism()));
  if (!Number.isInteger(n) || n < 1) throw new Error(`PTP_WASM_THREADS must be a positive integer, got "${env}"`);
  return n;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

let warnedFallback = false;

/** State of the wasm candidate after load(). */
interface WasmState {
  pkg?: WasmPackage;
  /** Why the threaded build is not in use, when it was wanted. */
  fallback?: string;
  /** Worker threads of the fused attention kernel. */
  attention?: AttentionWorkers;
}

let warnedAttention = false;

/** Runs the fused attention kernel on `threads` threads (kept single-threaded on failure). */
async function startAttentionThreads(threads: number, state: WasmState): Promise<number> {
  if (state.attention) return state.attention.kernel.threadCount;
  if (threads <= 1) return 1;
  try {
    state.attention = await startAttentionWorkers(threads);
    setAttentionKernel(state.attention.kernel);
    return threads;
  } catch (e) {
    if (!warnedAttention)
      log.warn(
        `attention kernel: single-threaded, worker threads unavailable: ${String((e as Error)?.message ?? e).split('\n')[0]}`,
      );
    warnedAttention = true;
    return 1;
  }
}

/**
 * Loads the wasm backend: the patched multi-threaded build when more than one thread is
 * wanted (initialised here, so a failure can still fall back), else, or on any failure, the
 * single-threaded SIMD build; the reason for a fallback is logged once.
 */
async function loadWasm(opts: NodeBackendOptions, state: WasmState): Promise<string> {
  const threads = wantedWasmThreads(opts);
  state.fallback = undefined;
  if (threads > 1 && !state.pkg) {
    let pkg: WasmPackage | undefined;
    try {
      pkg = loadThreadedWasmBundle({ ...opts.threadedBundle, threads });
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
      pkg.setThreadsCount(threads);
      const ok = await withTimeout(
        tf.setBackend('wasm'),
        opts.threadedStartTimeoutMs ?? 60000,
        'threaded wasm start-up',
      );
      if (!ok) throw new Error('the threaded wasm backend failed to initialise');
      state.pkg = pkg;
      return 'wasm';
    } catch (e) {
      state.fallback = String((e as Error)?.message ?? e).split('\n')[0];
      if (!warnedFallback) log.warn(`wasm: using single-threaded SIMD, multi-threading unavailable: ${state.fallback}`);
      warnedFallback = true;
      if (tf.findBackendFactory('wasm')) {
        // The patched bundle registered the backend: its plain SIMD path needs no patches.
        tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
        state.pkg = pkg;
        return 'wasm';
      }
    }
  }
  state.pkg ??= (await import('@tensorflow/tfjs-backend-wasm')) as unknown as WasmPackage;
  return 'wasm';
}

/** The Node candidates; `opts` tunes the wasm set-up. */
export function createNodeBackendCandidates(opts: NodeBackendOptions = {}): readonly BackendCandidate[] {
  const wasm: WasmState = {};
  /** Patches and threads of the wasm backend; returns its description. */
  const wasmAfterInit = async (attentionThreads: boolean) => {
    installWasmKernelPatches();
    installWasmGradKernels();
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    const n = wasm.pkg!.getThreadsCount();
    const att = attentionThreads ? await startAttentionThreads(wantedWasmThreads(opts), wasm) : 0;
    const plural = (k: number) => `${k} thread${k === 1 ? '' : 's'}`;
    return `wasm (${simd ? 'simd' : 'no simd'}, ${plural(n)}${wasm.fallback ? '; threads unavailable' : ''}${att ? `; attention kernel ${plural(att)}` : ''})`;
  };
  return [
    {
      name: 'tensorflow-gpu',
      aliases: ['tfjs-node-gpu', 'node-gpu', 'gpu'],
      async load() {
        await importOptional('@tensorflow/tfjs-node-gpu');
        return 'tensorflow';
      },
    },
    {
      name: 'tensorflow',
      aliases: ['tfjs-node', 'node'],
      async load() {
        await importOptional('@tensorflow/tfjs-node');
        return 'tensorflow';
      },
    },
    nativeCandidate(
      () => loadWasm(opts, wasm),
      () => wasmAfterInit(false),
    ),
    {
      name: 'wasm',
      load: () => loadWasm(opts, wasm),
      async afterInit() {
        uninstallNativeKernels();
        return wasmAfterInit(true);
      },
    },
    {
      name: 'cpu',
      async load() {
        await import('@tensorflow/tfjs-backend-cpu');
        return 'cpu';
      },
    },
  ];
}

export const nodeBackendCandidates: readonly BackendCandidate[] = createNodeBackendCandidates();

/**
 * Picks and activates the backend: `preferred` (option) overrides the PTP_BACKEND environment
 * variable, which overrides the automatic order. Idempotent for the same choice. `precision`
 * (default PTP_PRECISION, else fp32) applies to the native convolutions and matmuls.
 */
export async function initNodeBackend(
  preferred?: string,
  opts: { precision?: NativePrecision } = {},
): Promise<SelectedBackend> {
  if (opts.precision) setNativePrecision(opts.precision);
  return selectBackend(nodeBackendCandidates, preferred ?? process.env.PTP_BACKEND);
}

/** Threads the active wasm backend uses (1 when it is not wasm or not started). */
export function wasmThreadsInUse(): number {
  if (tf.getBackend() !== 'wasm') return 1;
  const b = tf.backend() as unknown as { wasm?: { tfjs?: { getThreadsCount?: () => number } } };
  return b.wasm?.tfjs?.getThreadsCount?.() ?? 1;
}
