/**
 * The fused wasm SIMD attention kernel (kernels/assembly/attention.ts) on plain Float32Arrays.
 * Inputs are copied into the kernel's own memory (outside any tfjs heap), the work is split
 * into units (batch item, head, chunk of query rows) and the result is copied out.
 *
 * Single-threaded by default. A kernel created with `shared: true` lives in shared memory;
 * worker threads that instantiate `module` on `memory` and run `workerLoop` (see
 * src/node/attention-workers.ts) then claim units alongside the caller. Platform-neutral:
 * needs only WebAssembly with SIMD; `AttentionKernel.create()` returns undefined without it.
 */
import { ATTENTION_WASM_PLAIN, ATTENTION_WASM_SHARED } from './kernels/attention-wasm.js';

/** Sizes of one attention call: q [batch, queries, heads·dim], k/v [batch, keys, heads·dim]. */
export interface AttentionDims {
  batch: number;
  queries: number;
  keys: number;
  heads: number;
  dim: number;
}

/** Additive mask of `rows` × keys values (rows = 1 or queries); rowStride 0 = one row for all. */
export interface KernelMask {
  values: Float32Array;
  rowStride: number;
}

/** The kernel module's exports (pointers are byte offsets into its memory). */
export interface AttentionExports {
  scratchBytes(n: number, m: number, d: number): number;
  packedBytes(m: number, d: number): number;
  runUnit(ctrl: number, unit: number, thread: number): void;
}

/** Field indices (i32) of the control block at offset 0 of kernel memory; see the AS source. */
export const CTRL = {
  SEQ: 0,
  NEXT: 1,
  DONE: 2,
  FAILED: 3,
  KIND: 4,
  UNITS: 5,
  CHUNKS: 6,
  CHUNK_ROWS: 7,
  HEAD_START: 8,
  Q: 9,
  K: 10,
  V: 11,
  OUT: 12,
  PROBS: 13,
  MASK: 14,
  MASK_STRIDE: 15,
  HAS_MASK: 16,
  N: 17,
  M: 18,
  HEADS: 19,
  D: 20,
  SCALE: 21,
  SCRATCH: 22,
  SCRATCH_STRIDE: 23,
  KPACK: 24,
  VPACK: 25,
  PACK: 26,
} as const;
const CTRL_BYTES = 256;
/** NEXT while a job is being written: any claim then is past the end. */
const CLOSED = 1 << 30;
const KIND = { fused: 0, probs: 1, apply: 2, pack: 3 } as const;
/** Pointers of one call's buffers in kernel memory. */
type Layout = ReturnType<AttentionKernel['layout']>;
/** Most probabilities kept in kernel memory at once (heads are processed in groups). */
const PROBS_GROUP_BYTES = 128 * 2 ** 20;
/** Seconds without progress after which a multi-threaded job is declared stalled. */
const STALL_S = 120;

/** Decodes base64 without Node's Buffer. */
export function decodeBase64(b64: string): Uint8Array {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/**
 * The loop a worker thread runs (also valid as plain JS source via toString): wait for a
 * job, claim and run units until none are left, repeat; a negative SEQ stops it. A unit that
 * throws is recorded in FAILED (the caller re-runs it to surface the error).
 */
export function workerLoop(exports: AttentionExports, memory: WebAssembly.Memory, thread: number): void {
  const c = new Int32Array(memory.buffer, 0, 64);
  let seen = Atomics.load(c, 0);
  for (;;) {
    Atomics.wait(c, 0, seen);
    seen = Atomics.load(c, 0);
    if (seen < 0) return;
    for (;;) {
      const u = Atomics.add(c, 1, 1);
      if (u >= Atomics.load(c, 5)) break;
      try {
        exports.runUnit(0, u, thread);
      } catch {
        Atomics.compareExchange(c, 3, 0, u + 1);
      }
      Atomics.add(c, 2, 1);
      Atomics.notify(c, 2);
    }
  }
}

const PAGE = 65536;
const align = (n: number) => Math.ceil(n / 64) * 64;

export class AttentionKernel {
  private threads = 1;
  private ctrl!: Int32Array;
  private ctrlF!: Float32Array;

  private constructor(
    /** The compiled module (to instantiate in worker threads). */
    readonly module: WebAssembly.Module,
    /** The kernel memory (shared when created with `shared`). */
    readonly memory: WebAssembly.Memory,
    private readonly fns: AttentionExports,
  ) {
    this.views();
  }

  /**
   * Instantiates the kernel synchronously (5 KB module), or undefined without wasm SIMD (with
   * `throwOnFailure`, the instantiation error instead).
   */
  static create(opts: { shared?: boolean; throwOnFailure?: boolean } = {}): AttentionKernel | undefined {
    try {
      const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: !!opts.shared });
      const module = new WebAssembly.Module(
        decodeBase64(opts.shared ? ATTENTION_WASM_SHARED : ATTENTION_WASM_PLAIN) as BufferSource,
      );
      const instance = new WebAssembly.Instance(module, { env: { memory } });
      return new AttentionKernel(module, memory, instance.exports as unknown as AttentionExports);
    } catch (e) {
      if (opts.throwOnFailure) throw e;
      return undefined;
    }
  }

  /**
   * Declares how many threads run jobs, the caller included (shared kernels only): workers
   * 1…n−1 must be running `workerLoop` on this kernel's module and memory.
   */
  setThreads(n: number): void {
    if (n > 1 && !(this.memory.buffer instanceof SharedArrayBuffer))
      throw new Error('attention kernel: threads need a shared kernel');
    this.threads = Math.max(1, Math.floor(n));
  }

  get threadCount(): number {
    return this.threads;
  }

  /** Stops the worker threads (they return from workerLoop); the kernel runs single-threaded after. */
  stopWorkers(): void {
    Atomics.store(this.ctrl, CTRL.SEQ, -1);
    Atomics.notify(this.ctrl, CTRL.SEQ);
    this.threads = 1;
  }

  /** Bytes of kernel memory reserved (it grows to the largest call and stays). */
  get memoryBytes(): number {
    return this.memory.buffer.byteLength;
  }

  private views(): void {
    this.ctrl = new Int32Array(this.memory.buffer, 0, CTRL_BYTES / 4);
    this.ctrlF = new Float32Array(this.memory.buffer, 0, CTRL_BYTES / 4);
  }

  private f32(): Float32Array {
    return new Float32Array(this.memory.buffer);
  }

  /**
   * Lays out the buffers of one call after the control block (packed keys/values for `heads`
   * heads at a time), growing memory as needed.
   */
  private layout(
    d: AttentionDims,
    heads: number,
    sizes: { q?: boolean; k?: boolean; v?: boolean; mask?: number; probs?: number },
  ) {
    const c = d.heads * d.dim;
    let at = CTRL_BYTES;
    const take = (floats: number) => {
      const p = at;
      at += align(floats * 4);
      return p;
    };
    const q = take(sizes.q ? d.batch * d.queries * c : 0);
    const k = take(sizes.k ? d.batch * d.keys * c : 0);
    const v = take(sizes.v ? d.batch * d.keys * c : 0);
    const out = take(d.batch * d.queries * c);
    const mask = take(sizes.mask ?? 0);
    const probs = take(sizes.probs ?? 0);
    const per = this.fns.packedBytes(d.keys, d.dim) / 4;
    const kpack = take(sizes.k ? heads * per : 0);
    const vpack = take(sizes.v ? heads * per : 0);
    const scratchStride = align(this.fns.scratchBytes(d.queries, d.keys, d.dim));
    const scratch = take(0);
    at += scratchStride * this.threads;
    const have = this.memory.buffer.byteLength;
    if (at > have) {
      this.memory.grow(Math.ceil((at - have) / PAGE));
      this.views();
    }
    return { q, k, v, out, mask, probs, kpack, vpack, scratch, scratchStride };
  }

  private check(d: AttentionDims): void {
    if (d.dim % 4 !== 0) throw new Error(`attention kernel: head dim ${d.dim} is not a multiple of 4`);
  }

  /**
   * Writes a job over heads [headStart, headStart + count) and runs it to completion; `pack`
   * (1 keys, 2 values) first packs those heads' keys/values in a job of its own.
   */
  private run(
    kind: Exclude<keyof typeof KIND, 'pack'>,
    d: AttentionDims,
    headStart: number,
    count: number,
    ptr: Layout,
    pack: number,
    scale = 1,
    mask?: KernelMask,
  ): void {
    const n = d.queries;
    let chunks = 1;
    const small = n * d.keys * d.dim * count < 1 << 20;
    if (this.threads > 1 && !small)
      chunks = Math.max(1, Math.min(Math.ceil((8 * this.threads) / count), Math.ceil(n / 64)));
    const chunkRows = Math.ceil(Math.ceil(n / chunks) / 4) * 4;
    chunks = Math.ceil(n / chunkRows);
    if (pack) this.job('pack', d, headStart, count * 2, 1, n, ptr, pack, small, scale, mask);
    this.job(kind, d, headStart, count * chunks, chunks, chunkRows, ptr, 0, small, scale, mask);
  }

  private job(
    kind: keyof typeof KIND,
    d: AttentionDims,
    headStart: number,
    units: number,
    chunks: number,
    chunkRows: number,
    ptr: Layout,
    pack: number,
    small: boolean,
    scale: number,
    mask: KernelMask | undefined,
  ): void {
    const c = this.ctrl;

    Atomics.store(c, CTRL.NEXT, CLOSED);
    c[CTRL.DONE] = 0;
    c[CTRL.FAILED] = 0;
    c[CTRL.KIND] = KIND[kind];
    c[CTRL.UNITS] = units;
    c[CTRL.CHUNKS] = chunks;
    c[CTRL.CHUNK_ROWS] = chunkRows;
    c[CTRL.HEAD_START] = headStart;
    c[CTRL.Q] = ptr.q;
    c[CTRL.K] = ptr.k;
    c[CTRL.V] = ptr.v;
    c[CTRL.OUT] = ptr.out;
    c[CTRL.PROBS] = ptr.probs;
    c[CTRL.MASK] = ptr.mask;
    c[CTRL.MASK_STRIDE] = mask?.rowStride ?? 0;
    c[CTRL.HAS_MASK] = mask ? 1 : 0;
    c[CTRL.N] = d.queries;
    c[CTRL.M] = d.keys;
    c[CTRL.HEADS] = d.heads;
    c[CTRL.D] = d.dim;
    this.ctrlF[CTRL.SCALE] = scale;
    c[CTRL.SCRATCH] = ptr.scratch;
    c[CTRL.SCRATCH_STRIDE] = ptr.scratchStride;
    c[CTRL.KPACK] = ptr.kpack;
    c[CTRL.VPACK] = ptr.vpack;
    c[CTRL.PACK] = pack;
    Atomics.store(c, CTRL.NEXT, 0);
    const parallel = this.threads > 1 && units > 1 && !small;
    if (parallel) {
      // Wraps before turning negative (negative = stop).
      Atomics.store(c, CTRL.SEQ, (Atomics.load(c, CTRL.SEQ) + 1) & 0x3fffffff);
      Atomics.notify(c, CTRL.SEQ);
    }
    for (let u; (u = Atomics.add(c, CTRL.NEXT, 1)) < units;) {
      try {
        this.fns.runUnit(0, u, 0);
      } catch {
        Atomics.compareExchange(c, CTRL.FAILED, 0, u + 1);
      }
      Atomics.add(c, CTRL.DONE, 1);
    }
    // Also when not woken for this job: a worker still looping from the previous one may
    // have claimed a unit of it.
    if (this.threads > 1) this.waitDone(units);
    const failed = Atomics.load(c, CTRL.FAILED);
    // Re-running the failed unit here throws its error (or completes it, if it was transient).
    if (failed) this.fns.runUnit(0, failed - 1, 0);
  }

  private waitDone(units: number): void {
    const c = this.ctrl;
    let last = Atomics.load(c, CTRL.DONE);
    let since = performance.now();
    while (last < units) {
      Atomics.wait(c, CTRL.DONE, last, 1000);
      const now = Atomics.load(c, CTRL.DONE);
      if (now !== last) {
        last = now;
        since = performance.now();
      } else if (performance.now() - since > STALL_S * 1000) {
        throw new Error(
          `attention kernel: worker threads made no progress for ${STALL_S} s (${last}/${units} units done)`,
        );
      }
    }
  }

  /** out = softmax(q·kᵀ·scale + mask)·v per head, without storing the scores. */
  fused(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    out: Float32Array,
    d: AttentionDims,
    scale: number,
    mask?: KernelMask,
  ): void {
    this.check(d);
    const L = this.layout(d, d.batch * d.heads, { q: true, k: true, v: true, mask: mask?.values.length ?? 0 });
    const f = this.f32();
    f.set(q, L.q / 4);
    f.set(k, L.k / 4);
    f.set(v, L.v / 4);
    if (mask) f.set(mask.values, L.mask / 4);
    this.run('fused', d, 0, d.batch * d.heads, L, 3, scale, mask);
    out.set(this.f32().subarray(L.out / 4, L.out / 4 + out.length));
  }

  /** Heads per group so that a group's probabilities stay under PROBS_GROUP_BYTES. */
  private group(d: AttentionDims): number {
    return Math.max(1, Math.min(d.batch * d.heads, Math.floor(PROBS_GROUP_BYTES / (d.queries * d.keys * 4))));
  }

  /** probs [batch·heads, queries, keys] (row b·heads + h) = softmax(q·kᵀ·scale + mask). */
  probs(
    q: Float32Array,
    k: Float32Array,
    probs: Float32Array,
    d: AttentionDims,
    scale: number,
    mask?: KernelMask,
  ): void {
    this.check(d);
    const per = d.queries * d.keys;
    const g = this.group(d);
    const L = this.layout(d, g, { q: true, k: true, mask: mask?.values.length ?? 0, probs: g * per });
    const f = this.f32();
    f.set(q, L.q / 4);
    f.set(k, L.k / 4);
    if (mask) f.set(mask.values, L.mask / 4);
    const total = d.batch * d.heads;
    for (let h0 = 0; h0 < total; h0 += g) {
      const count = Math.min(g, total - h0);
      this.run('probs', d, h0, count, L, 1, scale, mask);
      probs.set(this.f32().subarray(L.probs / 4, L.probs / 4 + count * per), h0 * per);
    }
  }

  /** out [batch, queries, heads·dim] = probs (as from `probs`) · v per head. */
  applyProbs(probs: Float32Array, v: Float32Array, out: Float32Array, d: AttentionDims): void {
    this.check(d);
    const per = d.queries * d.keys;
    const g = this.group(d);
    const L = this.layout(d, g, { v: true, probs: g * per });
    this.f32().set(v, L.v / 4);
    const total = d.batch * d.heads;
    for (let h0 = 0; h0 < total; h0 += g) {
      const count = Math.min(g, total - h0);
      this.f32().set(probs.subarray(h0 * per, (h0 + count) * per), L.probs / 4);
      this.run('apply', d, h0, count, L, 2);
    }
    out.set(this.f32().subarray(L.out / 4, L.out / 4 + out.length));
  }
}
