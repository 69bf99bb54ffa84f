/**
 * onnxruntime-node, loaded when it is installed (a dev dependency; its CPU binaries ship in the
 * npm package): the few parts of its API the benchmark uses, and a session made as the stored
 * peer figure's was (../shared/notes/ort-peer.md).
 */
import { availableParallelism } from 'node:os';

export interface OrtTensor {
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

export interface OrtSession {
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}

export interface Ort {
  version: string;
  InferenceSession: { create(path: string, options: Record<string, unknown>): Promise<OrtSession> };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => OrtTensor;
}

/** onnxruntime-node, or why it cannot be used here (one line). */
export async function loadOrt(): Promise<Ort | { reason: string }> {
  // A computed specifier: the type-check must not depend on the package being installed.
  const name = 'onnxruntime-node';
  try {
    const mod = await import(name);
    const ort = (mod.default ?? mod) as Omit<Ort, 'version'> & { env?: { versions?: { node?: string } } };
    if (typeof ort.InferenceSession?.create !== 'function') return { reason: `${name} has no InferenceSession` };
    return {
      InferenceSession: ort.InferenceSession,
      Tensor: ort.Tensor,
      version: ort.env?.versions?.node ?? 'unknown',
    };
  } catch (e) {
    return {
      reason: `${name} cannot be loaded (${String((e as Error).message ?? e).split('\n')[0]}); \`npm install\` installs it as a dev dependency`,
    };
  }
}

/** Threads for onnxruntime: PTP_THREADS, else every core (as the native backend). */
export function ortThreads(): number {
  const n = Number(process.env.PTP_THREADS);
  return Number.isInteger(n) && n > 0 ? n : availableParallelism();
}

/** A CPU session with every graph optimisation, `threads` intra-op threads and one inter-op thread. */
export function ortSession(ort: Ort, path: string, threads = ortThreads()): Promise<OrtSession> {
  return ort.InferenceSession.create(path, {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
}
