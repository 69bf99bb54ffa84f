/**
 * Scaled dot-product attention over [batch, tokens, heads·dim] tensors with the controller seam.
 *
 * Three strategies compute the same thing:
 *  - 'fused' (wasm and cpu backends): a wasm SIMD kernel (src/backend/attention-ops.ts) that
 *    never stores the score matrix; when a controller wants the probabilities, one kernel
 *    materialises them and a second multiplies them by V — with the same arithmetic, so an
 *    identity controller leaves the output bit-identical.
 *  - 'batched': heads folded into the batch, one batched matmul each for QKᵀ and P·V. Right
 *    for backends with fast batched matmul (webgl, webgpu, tfjs-node).
 *  - 'per-head': a 2-D matmul per (batch item, head), K transposed once per item, optional
 *    query chunks. tfjs-wasm runs batched or transposed matmuls as a scalar loop (~1 GFLOP/s)
 *    but 2-D matmuls through XNNPACK (~30 GFLOP/s), so this is the wasm/cpu fallback when the
 *    fused kernel cannot run (no wasm SIMD, head size not a multiple of 4). Score tensors
 *    exist for one head (or one query chunk) at a time unless a controller asks to see the
 *    full probabilities.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { AttentionContext, AttentionController } from './attention-control.js';
import {
  applyAttentionProbs,
  attentionProbs,
  fusedAttention,
  fusedAttentionSupported,
  fusedAttentionUnavailable,
} from '../backend/attention-ops.js';
import { tensorBytesLimit } from '../backend/gpu-limits.js';
import { log } from '../util/log.js';

export type AttentionStrategy = 'fused' | 'batched' | 'per-head';

/** What attend() ran since the last `resetAttentionStats` (to check which path and how much slicing). */
export interface AttentionStats {
  /** Calls per strategy. */
  calls: Record<AttentionStrategy, number>;
  /** Query chunks the 'batched' and 'per-head' paths ran, summed over calls (one per unsliced call). */
  queryChunks: number;
}

const stats: AttentionStats = { calls: { fused: 0, batched: 0, 'per-head': 0 }, queryChunks: 0 };

/** A copy of the counters since the last reset. */
export function attentionStats(): AttentionStats {
  return { calls: { ...stats.calls }, queryChunks: stats.queryChunks };
}

/** Zeroes the counters of `attentionStats`. */
export function resetAttentionStats(): void {
  stats.calls = { fused: 0, batched: 0, 'per-head': 0 };
  stats.queryChunks = 0;
}

let forcedStrategy: AttentionStrategy | undefined;
/** Bytes of scores one chunk may hold when no explicit slice size is set (the 'batched' path). */
const SCORE_BUDGET_BYTES = 256 * 2 ** 20;

/** Forces a strategy (undefined = choose by backend). */
export function setAttentionStrategy(s: AttentionStrategy | undefined): void {
  forcedStrategy = s;
}

/** A layer that runs attend() with a query slice size of its own (see `setAttentionSlice`). */
export interface SliceableAttention {
  /** Queries per chunk (`AttendOptions.sliceSize`); undefined = automatic. */
  attentionSlice: number | undefined;
}

/** Validates a query slice size (see `AttendOptions.sliceSize`). */
export function checkSliceSize(n: number | undefined): void {
  if (n !== undefined && !(n >= 1)) throw new Error(`attention slice size must be ≥ 1, got ${n}`);
}

/**
 * The strategy attend() uses on the active backend: forced, or 'fused' on wasm/cpu (per-head
 * there when the kernel cannot run), 'batched' elsewhere. `dim` (head size) matters for
 * 'fused', which needs a multiple of 4 and otherwise falls back to 'per-head'.
 */
export function attentionStrategy(dim = 4): AttentionStrategy {
  const b = tf.getBackend();
  const cpuLike = b === 'wasm' || b === 'cpu';
  const s = forcedStrategy ?? (cpuLike ? 'fused' : 'batched');
  if (s === 'fused' && !fusedAttentionSupported(dim)) {
    const why = cpuLike && dim % 4 === 0 ? fusedAttentionUnavailable() : undefined;
    if (why && !warnedUnavailable) {
      warnedUnavailable = true;
      log.warn(`fused attention kernel unavailable on ${b} (${why}): attention runs per head, several times slower`);
    }
    return cpuLike ? 'per-head' : 'batched';
  }
  return s;
}
let warnedUnavailable = false;

export interface AttendOptions {
  heads: number;
  /** Multiplier of QKᵀ; default 1/√dim. */
  scale?: number;
  /** Additive mask broadcastable to [queries, keys] (e.g. CLIP's causal mask). */
  mask?: tf.Tensor;
  controller?: AttentionController;
  /** Required with a controller. */
  ctx?: AttentionContext;
  /**
   * Sliced attention: queries per chunk on the 'batched' and 'per-head' paths when no controller
   * needs the full probabilities (undefined = automatic: per-head chunks of 4096 queries, batched
   * chunks holding at most 256 MiB of scores, e.g. 1024 queries for SD-1.5's 64×64 self-attention
   * at batch 2 · 8 heads). Batched chunks never hold more than `tensorBytesLimit()` (WebGPU's
   * binding limit), whatever the size asked. The fused kernel never stores the score matrix and ignores it.
   */
  sliceSize?: number;
}

/** q [B, N, H·d], k/v [B, M, H·d] → [B, N, H·d]. */
export function attend(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, opts: AttendOptions): tf.Tensor3D {
  const [b, , inner] = q.shape;
  const heads = opts.heads;
  if (inner % heads !== 0) throw new Error(`attention: ${inner} channels do not split into ${heads} heads`);
  if (k.shape[0] !== b || v.shape[0] !== b || k.shape[1] !== v.shape[1]) {
    throw new Error(`attention: q [${q.shape}] k [${k.shape}] v [${v.shape}] do not match`);
  }
  checkSliceSize(opts.sliceSize);
  const wants = !!opts.controller && (opts.controller.wantsProbs?.(opts.ctx!) ?? true);
  const strategy = attentionStrategy(inner / heads);
  const fn = strategy === 'fused' ? attendFused : strategy === 'batched' ? attendBatched : attendPerHead;
  stats.calls[strategy]++;
  return fn(q, k, v, opts, wants);
}

function attendFused(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, opts: AttendOptions, wants: boolean): tf.Tensor3D {
  const o = { heads: opts.heads, scale: opts.scale, mask: opts.mask };
  if (!wants) return fusedAttention(q, k, v, o);
  return tf.tidy(() => applyAttentionProbs(applyController(attentionProbs(q, k, o), opts), v, opts.heads));
}

function applyController(probs: tf.Tensor3D, opts: AttendOptions): tf.Tensor3D {
  const out = opts.controller!.onAttention(probs, opts.ctx!);
  if (out.shape.length !== 3 || out.shape.some((d, i) => d !== probs.shape[i])) {
    throw new Error(
      `attention controller returned shape [${out.shape}] for probs [${probs.shape}] at ${opts.ctx!.name}`,
    );
  }
  return out;
}

function attendBatched(
  q: tf.Tensor3D,
  k: tf.Tensor3D,
  v: tf.Tensor3D,
  opts: AttendOptions,
  wants: boolean,
): tf.Tensor3D {
  return tf.tidy(() => {
    const [b, n, inner] = q.shape;
    const m = k.shape[1];
    const h = opts.heads;
    const d = inner / h;
    const scale = opts.scale ?? 1 / Math.sqrt(d);
    const split = (x: tf.Tensor3D, len: number) =>
      tf.reshape(tf.transpose(tf.reshape(x, [b, len, h, d]), [0, 2, 1, 3]), [b * h, len, d]) as tf.Tensor3D;
    const qs = split(q, n);
    const ks = split(k, m);
    const vs = split(v, m);
    const mask = opts.mask && tf.reshape(opts.mask, [-1, m]);
    // Rows [r0, r0 + rows) of every head: scores, softmax, (controller), P·V.
    const rowsOut = (r0: number, rows: number): tf.Tensor3D =>
      tf.tidy(() => {
        const qc = rows === n ? qs : tf.slice(qs, [0, r0, 0], [b * h, rows, d]);
        let scores = tf.mul(tf.matMul(qc, ks, false, true), scale) as tf.Tensor3D;
        if (mask)
          scores = tf.add(scores, mask.shape[0] === 1 || rows === n ? mask : tf.slice(mask, [r0, 0], [rows, m]));
        let probs = tf.softmax(scores) as tf.Tensor3D;
        if (wants) probs = applyController(probs, opts);
        return tf.matMul(probs, vs);
      });
    const chunk = wants ? n : batchedChunk(n, b * h * m * 4, opts.sliceSize);
    if (wants) checkWholeScores(b * h * n * m * 4, [b * h, n, m], opts);
    const parts: tf.Tensor3D[] = [];
    for (let r0 = 0; r0 < n; r0 += chunk) parts.push(rowsOut(r0, Math.min(chunk, n - r0)));
    stats.queryChunks += parts.length;
    const out = parts.length === 1 ? parts[0] : tf.concat(parts, 1);
    return tf.reshape(tf.transpose(tf.reshape(out, [b, h, n, d]), [0, 2, 1, 3]), [b, n, inner]) as tf.Tensor3D;
  });
}

/**
 * Queries per chunk of the batched path, for `rowBytes` of scores per query: the requested slice
 * size, or as many as fit SCORE_BUDGET_BYTES; never more than the backend binds in one tensor
 * (WebGPU's maxStorageBufferBindingSize).
 */
function batchedChunk(n: number, rowBytes: number, sliceSize: number | undefined): number {
  const fit = (bytes: number) => Math.max(1, Math.floor(bytes / rowBytes));
  const wanted = sliceSize === undefined ? fit(SCORE_BUDGET_BYTES) : Math.floor(sliceSize);
  return Math.min(n, wanted, fit(tensorBytesLimit()));
}

/** A controller sees a layer's whole probability tensor: it must fit one tensor of the backend. */
function checkWholeScores(bytes: number, shape: number[], opts: AttendOptions): void {
  const limit = tensorBytesLimit();
  if (bytes <= limit) return;
  const mib = (x: number) => (x >= 2 ** 20 ? `${(x / 2 ** 20).toFixed(0)} MiB` : `${x} bytes`);
  throw new Error(
    `attention ${opts.ctx?.name ?? ''}: the controller needs the probabilities [${shape.join(', ')}] (${mib(bytes)}) in one tensor, ` +
      `more than this backend binds in one buffer (${mib(limit)}); use fewer prompts or a smaller image`,
  );
}

function attendPerHead(
  q: tf.Tensor3D,
  k: tf.Tensor3D,
  v: tf.Tensor3D,
  opts: AttendOptions,
  wants: boolean,
): tf.Tensor3D {
  return tf.tidy(() => {
    const [b, n, inner] = q.shape;
    const m = k.shape[1];
    const h = opts.heads;
    const d = inner / h;
    const scale = opts.scale ?? 1 / Math.sqrt(d);
    const mask = opts.mask ? tf.reshape(opts.mask, [-1, m]) : undefined;
    const qs = tf.mul(q, scale) as tf.Tensor3D;
    // Per batch item: K transposed once ([H·d, M]) so each head's Kᵀ is a contiguous row block.
    const items = Array.from({ length: b }, (_, i) => ({
      q: tf.reshape(tf.slice(qs, [i, 0, 0], [1, n, inner]), [n, inner]) as tf.Tensor2D,
      kT: tf.transpose(tf.reshape(tf.slice(k, [i, 0, 0], [1, m, inner]), [m, inner])) as tf.Tensor2D,
      v: tf.reshape(tf.slice(v, [i, 0, 0], [1, m, inner]), [m, inner]) as tf.Tensor2D,
    }));
    const headQ = (i: number, j: number, r0 = 0, rows = n) => tf.slice(items[i].q, [r0, j * d], [rows, d]);
    const headKT = (i: number, j: number) => tf.slice(items[i].kT, [j * d, 0], [d, m]);
    const headV = (i: number, j: number) => tf.slice(items[i].v, [0, j * d], [m, d]);
    // The mask rows of queries [r0, r0 + rows) (a single row applies to every query).
    const maskRows = (r0: number, rows: number) =>
      !mask || mask.shape[0] === 1 || rows === n ? mask : tf.slice(mask, [r0, 0], [rows, m]);
    const scoresToProbs = (s: tf.Tensor2D, r0 = 0) => {
      const rowsMask = maskRows(r0, s.shape[0]);
      return tf.softmax(rowsMask ? tf.add(s, rowsMask) : s) as tf.Tensor2D;
    };

    const outs: tf.Tensor2D[] = [];
    if (wants) {
      stats.queryChunks++;
      const probs = tf.stack(
        items.flatMap((_, i) =>
          Array.from({ length: h }, (_, j) => tf.tidy(() => scoresToProbs(tf.matMul(headQ(i, j), headKT(i, j))))),
        ),
      ) as tf.Tensor3D;
      const edited = applyController(probs, opts);
      for (let i = 0; i < b; i++) {
        const heads: tf.Tensor2D[] = [];
        for (let j = 0; j < h; j++) {
          heads.push(
            tf.tidy(() =>
              tf.matMul(tf.reshape(tf.slice(edited, [i * h + j, 0, 0], [1, n, m]), [n, m]) as tf.Tensor2D, headV(i, j)),
            ),
          );
        }
        outs.push(tf.concat(heads, 1));
      }
    } else {
      const chunk = Math.min(n, opts.sliceSize === undefined ? 4096 : Math.floor(opts.sliceSize));
      stats.queryChunks += Math.ceil(n / chunk);
      for (let i = 0; i < b; i++) {
        const heads: tf.Tensor2D[] = [];
        for (let j = 0; j < h; j++) {
          heads.push(
            tf.tidy(() => {
              const kT = headKT(i, j);
              const vh = headV(i, j);
              const parts: tf.Tensor2D[] = [];
              for (let r = 0; r < n; r += chunk) {
                const rows = Math.min(chunk, n - r);
                parts.push(tf.tidy(() => tf.matMul(scoresToProbs(tf.matMul(headQ(i, j, r, rows), kT), r), vh)));
              }
              return parts.length === 1 ? parts[0] : tf.concat(parts, 0);
            }),
          );
        }
        outs.push(tf.concat(heads, 1));
      }
    }
    return tf.stack(outs) as tf.Tensor3D;
  });
}
