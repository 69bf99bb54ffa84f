/**
 * The optional native addon (native/, an N-API module over oneDNN built at `npm install`):
 * where it is, how it loads, and what it exports. Loading never builds anything: when the
 * addon is absent the error says why and the caller falls back to wasm.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Tensor memory (the wasm heap) and byte offsets into it; -1 = absent optional input. */
type Heap = Uint8Array;

/** The addon's exports (native/src/addon.cc). */
export interface NativeAddon {
  /** bf16Native: the CPU has AVX512-BF16 or AMX (else oneDNN emulates bf16, slower than fp32). */
  info(): {
    library: string;
    threads: number;
    precision: 'fp32' | 'bf16';
    bf16Native: boolean;
    /** The attention kernels have a bf16 path (built where the CPU has AVX512-BF16). */
    attentionBf16: boolean;
  };
  setThreads(n: number): void;
  setPrecision(p: NativePrecision): void;
  /** packKey: the filter's weight key (packed once, kept), -1 when it is not a weight. */
  conv2d(
    heap: Heap,
    offsets: number[],
    shape: number[],
    activation: string,
    leakyAlpha: number,
    packKey?: number,
  ): void;
  conv2dBackpropInput(heap: Heap, offsets: number[], shape: number[]): void;
  conv2dBackpropFilter(heap: Heap, offsets: number[], shape: number[]): void;
  /** packKey: b's weight key (packed once, kept), -1 when it is not a weight. */
  matmul(heap: Heap, offsets: number[], dims: number[], activation: string, leakyAlpha: number, packKey?: number): void;
  attentionProbs(heap: Heap, offsets: number[], dims: number[], scale: number): void;
  attentionApply(heap: Heap, offsets: number[], dims: number[]): void;
  attentionFused(heap: Heap, offsets: number[], dims: number[], scale: number): void;
  groupNorm(heap: Heap, offsets: number[], dims: number[], eps: number, silu: number): void;
  groupNormGrad(heap: Heap, offsets: number[], dims: number[], silu: number): void;
  layerNorm(heap: Heap, offsets: number[], dims: number[], eps: number): void;
  layerNormGrad(heap: Heap, offsets: number[], dims: number[]): void;
  activation(heap: Heap, offsets: number[], n: number, kind: string): void;
  activationGrad(heap: Heap, offsets: number[], n: number, kind: string): void;
  geglu(heap: Heap, offsets: number[], rows: number, dim: number): void;
  gegluGrad(heap: Heap, offsets: number[], rows: number, dim: number): void;
  attentionGrad(heap: Heap, offsets: number[], dims: number[], scale: number): void;
  binary(heap: Heap, offsets: number[], aShape: number[], bShape: number[], op: string): void;
  unary(heap: Heap, offsets: number[], n: number, op: string): void;
  copy(
    heap: Heap,
    offsets: number[],
    dims: number[],
    srcStrides: number[],
    dstStrides: number[],
    srcCount: number,
    dstCount: number,
  ): void;
  /** Host values (float32, or float16 bits) into the memory at byte `dstOffset` as float32, on all threads. */
  upload(heap: Heap, dstOffset: number, values: Float32Array | Uint16Array): void;
  fill(heap: Heap, offsets: number[], n: number, value: number): void;
  reduce(heap: Heap, offsets: number[], shape: number[], axes: number[], mean: number): void;
  sumOfSquares(heap: Heap, offsets: number[], n: number): void;
  adamUpdate(heap: Heap, offsets: number[], n: number, coefficients: number[]): void;
  /** Frees the packed copy of a weight key (src/backend/packed-weights.ts); every copy when key < 0. */
  releasePacked(key: number): void;
  /** The packed weights held: how many, and their bytes. */
  packedInfo(): { count: number; bytes: number };
}

export type NativePrecision = 'fp32' | 'bf16';

/** The package root: the nearest folder above this file whose package.json names this package. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj) && (JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === 'tfjs-prompt-to-prompt')
      return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the tfjs-prompt-to-prompt package root');
    dir = up;
  }
}

/** Where the addon is: PTP_NATIVE_ADDON, else native/build/Release/ptp_native.node in the package. */
export function nativeAddonPath(): string {
  return process.env.PTP_NATIVE_ADDON || join(packageRoot(), 'native', 'build', 'Release', 'ptp_native.node');
}

/** Native threads: PTP_THREADS, else every core. */
export function wantedNativeThreads(): number {
  const env = process.env.PTP_THREADS;
  const n = env !== undefined && env !== '' ? Number(env) : availableParallelism();
  if (!Number.isInteger(n) || n < 1) throw new Error(`PTP_THREADS must be a positive integer, got "${env}"`);
  return n;
}

let loaded: NativeAddon | undefined;

/** Why the addon cannot be loaded (it is not built), or undefined when it is there. Loads nothing. */
export function nativeUnavailableReason(): string | undefined {
  const path = nativeAddonPath();
  return existsSync(path)
    ? undefined
    : `native addon not built (${path} is missing; npm install builds it when a C++ compiler, libdnnl-dev and node headers are present)`;
}

/**
 * Loads the addon once (throws, naming the path, when it was not built). Its OpenMP threads
 * wait passively between kernels (OMP_WAIT_POLICY, read when the library loads, unless set),
 * so they never spin while the wasm threads work.
 */
export function loadNativeAddon(): NativeAddon {
  if (loaded) return loaded;
  const missing = nativeUnavailableReason();
  if (missing) throw new Error(missing);
  const path = nativeAddonPath();
  process.env.OMP_WAIT_POLICY ??= 'PASSIVE';
  const addon = createRequire(import.meta.url)(path) as NativeAddon;
  addon.setThreads(wantedNativeThreads());
  loaded = addon;
  return addon;
}
