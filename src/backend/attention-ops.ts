/**
 * The fused attention kernel as tfjs ops, registered as kernels for the wasm and cpu backends:
 *  - `fusedAttention`: softmax(QKᵀ·scale + mask)·V per head without materialising the scores;
 *  - `attentionProbs` + `applyAttentionProbs`: the same in two steps with the probabilities
 *    [batch·heads, queries, keys] (row b·heads + h) in between, for attention controllers.
 * Inputs are read in place from the backend's memory and copied into the kernel's memory.
 * The ops are differentiable (tf.customGrad; the probabilities are recomputed for the backward).
 * On other backends (or without wasm SIMD) `fusedAttentionSupported` is false.
 */
import * as tf from '@tensorflow/tfjs-core';
import { AttentionKernel, type AttentionDims, type KernelMask } from './attention-kernel.js';
import { HOST_BACKENDS, withHostIO } from './host-io.js';
import { applyAttentionProbsBackward, attentionProbsBackward, fusedAttentionBackward } from './gradients/attention.js';

/** What the ops need from a kernel; the Node set-up may install a multi-threaded one. */
export interface AttentionKernelLike {
  fused(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    out: Float32Array,
    d: AttentionDims,
    scale: number,
    mask?: KernelMask,
  ): void;
  probs(
    q: Float32Array,
    k: Float32Array,
    probs: Float32Array,
    d: AttentionDims,
    scale: number,
    mask?: KernelMask,
  ): void;
  applyProbs(probs: Float32Array, v: Float32Array, out: Float32Array, d: AttentionDims): void;
}

export const FUSED_ATTENTION = 'PtpFusedAttention';
export const ATTENTION_PROBS = 'PtpAttentionProbs';
export const APPLY_ATTENTION_PROBS = 'PtpApplyAttentionProbs';
/**
 * Optional kernel (the native backend has it): {q, k, v, mask?, dy} → [dq, dk, dv] of
 * FUSED_ATTENTION, the probabilities recomputed inside; without it the backward is tf ops.
 */
export const FUSED_ATTENTION_GRAD = 'PtpFusedAttentionGrad';
const BACKENDS = HOST_BACKENDS;

let kernel: AttentionKernelLike | undefined;
let kernelTried = false;
let kernelError: string | undefined;

function getKernel(): AttentionKernelLike {
  if (!kernelTried) {
    kernelTried = true;
    try {
      kernel ??= AttentionKernel.create({ throwOnFailure: true });
    } catch (e) {
      kernelError = (e as Error).message;
    }
  }
  if (!kernel)
    throw new Error(
      `fused attention: the wasm SIMD kernel could not be instantiated (${kernelError ?? 'unknown reason'})`,
    );
  return kernel;
}

/** Replaces the kernel implementation (e.g. a multi-threaded one); undefined restores the default. */
export function setAttentionKernel(k: AttentionKernelLike | undefined): void {
  kernel = k;
  kernelTried = k !== undefined;
}

/** Why the fused kernel cannot be instantiated here (e.g. no wasm SIMD), or undefined when it can. */
export function fusedAttentionUnavailable(): string | undefined {
  try {
    getKernel();
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/** Whether the fused ops run on the active backend for heads of size `dim`. */
export function fusedAttentionSupported(dim: number): boolean {
  if (!(BACKENDS as readonly string[]).includes(tf.getBackend()) || dim % 4 !== 0) return false;
  try {
    getKernel();
    return true;
  } catch {
    return false;
  }
}

/** One-output form of withHostIO. */
function withIO(
  backendName: string,
  backend: unknown,
  inputs: (tf.TensorInfo | undefined)[],
  outShape: number[],
  compute: (ins: (Float32Array | undefined)[], out: Float32Array) => void,
): tf.TensorInfo {
  return withHostIO('fused attention', backendName, backend, inputs, [outShape], (ins, [out]) => compute(ins, out))[0];
}

function dimsOf(q: tf.TensorInfo, k: tf.TensorInfo, heads: number): AttentionDims {
  const [batch, queries, inner] = q.shape;
  return { batch, queries, keys: k.shape[1], heads, dim: inner / heads };
}

function maskOf(values: Float32Array | undefined, info: tf.TensorInfo | undefined): KernelMask | undefined {
  if (!values || !info) return undefined;
  return { values, rowStride: info.shape[0] === 1 ? 0 : info.shape[1] };
}

// ---- kernels -----------------------------------------------------------------------------

type Args = { inputs: { [name: string]: tf.TensorInfo }; attrs?: tf.NamedAttrMap; backend: unknown };

function registerAll(): void {
  for (const backendName of BACKENDS) {
    const fused = ({ inputs, attrs, backend }: Args) => {
      const { q, k, v } = inputs;
      const mask = inputs.mask as tf.TensorInfo | undefined;
      const d = dimsOf(q, k, attrs!.heads as number);
      return withIO(backendName, backend, [q, k, v, mask], q.shape, ([qv, kv, vv, mv], out) =>
        getKernel().fused(qv!, kv!, vv!, out, d, attrs!.scale as number, maskOf(mv, mask)),
      );
    };
    const probs = ({ inputs, attrs, backend }: Args) => {
      const { q, k } = inputs;
      const mask = inputs.mask as tf.TensorInfo | undefined;
      const d = dimsOf(q, k, attrs!.heads as number);
      return withIO(backendName, backend, [q, k, mask], [d.batch * d.heads, d.queries, d.keys], ([qv, kv, mv], out) =>
        getKernel().probs(qv!, kv!, out, d, attrs!.scale as number, maskOf(mv, mask)),
      );
    };
    const apply = ({ inputs, attrs, backend }: Args) => {
      const { probs: p, v } = inputs;
      const heads = attrs!.heads as number;
      const [bh, queries, keys] = p.shape;
      const [batch, , inner] = v.shape;
      const d: AttentionDims = { batch, queries, keys, heads, dim: inner / heads };
      if (bh !== batch * heads)
        throw new Error(`applyAttentionProbs: probs [${p.shape}] do not fit v [${v.shape}] with ${heads} heads`);
      return withIO(backendName, backend, [p, v], [batch, queries, inner], ([pv, vv], out) =>
        getKernel().applyProbs(pv!, vv!, out, d),
      );
    };
    for (const [kernelName, kernelFunc] of [
      [FUSED_ATTENTION, fused],
      [ATTENTION_PROBS, probs],
      [APPLY_ATTENTION_PROBS, apply],
    ] as const) {
      if (!tf.getKernel(kernelName, backendName))
        tf.registerKernel({ kernelName, backendName, kernelFunc: kernelFunc as unknown as tf.KernelFunc });
    }
  }
}
registerAll();

// ---- ops ---------------------------------------------------------------------------------

export interface FusedAttentionOptions {
  heads: number;
  /** Multiplier of QKᵀ; default 1/√dim. */
  scale?: number;
  /** Additive mask broadcastable to [queries, keys]. */
  mask?: tf.Tensor;
  /** The backward pass recomputes the probabilities in query chunks of about this many bytes (default 64 MiB). */
  backwardChunkBytes?: number;
}

function check(q: tf.Tensor3D, k: tf.Tensor3D, heads: number): number {
  const [b, , inner] = q.shape;
  if (inner % heads !== 0) throw new Error(`fused attention: ${inner} channels do not split into ${heads} heads`);
  if (k.shape[0] !== b || k.shape[2] !== inner)
    throw new Error(`fused attention: q [${q.shape}] and k [${k.shape}] do not match`);
  return inner / heads;
}

/** The mask as [1 or queries, keys] float32 (reshaped, or broadcast when it must be). */
function mask2d(mask: tf.Tensor, n: number, m: number): tf.Tensor2D {
  const s = mask.shape;
  const lead = s.slice(0, -2);
  if (lead.some((x) => x !== 1)) throw new Error(`attention mask [${s}] does not broadcast to [${n}, ${m}]`);
  const rows = s.length >= 2 ? s[s.length - 2] : 1;
  const cols = s.length >= 1 ? s[s.length - 1] : 1;
  if ((rows !== 1 && rows !== n) || (cols !== 1 && cols !== m))
    throw new Error(`attention mask [${s}] does not broadcast to [${n}, ${m}]`);
  let m2 = tf.reshape(tf.cast(mask, 'float32'), [rows, cols]) as tf.Tensor2D;
  if (cols !== m) m2 = tf.broadcastTo(m2, [rows, m]);
  return m2;
}

function maskInputs(opts: FusedAttentionOptions, n: number, m: number): { mask?: tf.Tensor2D } {
  return opts.mask ? { mask: mask2d(opts.mask, n, m) } : {};
}

type GradFn = (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[];
/** tf.customGrad with the inputs typed as tensors (tfjs types them as tensor-or-save-function). */
function customOp(
  f: (inputs: tf.Tensor[], save: tf.GradSaveFunc) => { value: tf.Tensor3D; gradFunc: GradFn },
): (...inputs: tf.Tensor[]) => tf.Tensor3D {
  const g = (...args: unknown[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    return f(args as tf.Tensor[], save);
  };
  return tf.customGrad(g as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (
    ...inputs: tf.Tensor[]
  ) => tf.Tensor3D;
}

function runKernel(name: string, inputs: Record<string, tf.Tensor | undefined>, attrs: object): tf.Tensor3D {
  const clean = Object.fromEntries(Object.entries(inputs).filter(([, t]) => t !== undefined));
  return tf.engine().runKernel(name, clean as tf.NamedTensorMap, attrs as unknown as tf.NamedAttrMap) as tf.Tensor3D;
}

/** softmax(q·kᵀ·scale + mask)·v per head: q [B, N, H·d], k/v [B, M, H·d] → [B, N, H·d]. */
export function fusedAttention(
  q: tf.Tensor3D,
  k: tf.Tensor3D,
  v: tf.Tensor3D,
  opts: FusedAttentionOptions,
): tf.Tensor3D {
  const dim = check(q, k, opts.heads);
  if (v.shape[0] !== k.shape[0] || v.shape[1] !== k.shape[1] || v.shape[2] !== k.shape[2]) {
    throw new Error(`fused attention: k [${k.shape}] and v [${v.shape}] do not match`);
  }
  return tf.tidy(() => {
    const { mask } = maskInputs(opts, q.shape[1], k.shape[1]);
    const attrs = { heads: opts.heads, scale: opts.scale ?? 1 / Math.sqrt(dim) };
    // The mask is an input too, so that it lives until the backward pass (its gradient is 0).
    const op = customOp(([q, k, v, mask], save) => {
      save([q, k, v, ...(mask ? [mask] : [])]);
      return {
        value: runKernel(FUSED_ATTENTION, { q, k, v, mask }, attrs),
        gradFunc: (dy, [qs, ks, vs, ms]) => {
          if (tf.getKernel(FUSED_ATTENTION_GRAD, tf.getBackend())) {
            const g = tf
              .engine()
              .runKernel(
                FUSED_ATTENTION_GRAD,
                { q: qs, k: ks, v: vs, dy, ...(ms ? { mask: ms } : {}) } as unknown as tf.NamedTensorMap,
                attrs as unknown as tf.NamedAttrMap,
              ) as tf.Tensor[];
            return [...g, ...(ms ? [tf.zerosLike(ms)] : [])];
          }
          const [b, n, inner] = qs.shape as [number, number, number];
          const rowsOf = (x: tf.Tensor, r0: number, r1: number) =>
            r1 - r0 === n ? x : tf.slice(x, [0, r0, 0], [b, r1 - r0, inner]);
          const maskRows = (r0: number, r1: number) =>
            !ms || ms.shape[0] === 1 || r1 - r0 === n ? ms : tf.slice(ms, [r0, 0], [r1 - r0, ms.shape[1] as number]);
          const probsOf = (r0: number, r1: number) =>
            runKernel(ATTENTION_PROBS, { q: rowsOf(qs, r0, r1), k: ks, mask: maskRows(r0, r1) }, attrs);
          return [
            ...fusedAttentionBackward(dy, probsOf, qs, ks, vs, attrs, opts.backwardChunkBytes),
            ...(ms ? [tf.zerosLike(ms)] : []),
          ];
        },
      };
    });
    return mask ? op(q, k, v, mask) : op(q, k, v);
  });
}

/** Probabilities [B·H, N, M] (row b·H + h) = softmax(q·kᵀ·scale + mask). */
export function attentionProbs(q: tf.Tensor3D, k: tf.Tensor3D, opts: FusedAttentionOptions): tf.Tensor3D {
  const dim = check(q, k, opts.heads);
  return tf.tidy(() => {
    const { mask } = maskInputs(opts, q.shape[1], k.shape[1]);
    const attrs = { heads: opts.heads, scale: opts.scale ?? 1 / Math.sqrt(dim) };
    const op = customOp(([q, k, mask], save) => {
      const p = runKernel(ATTENTION_PROBS, { q, k, mask }, attrs);
      save([q, k, p, ...(mask ? [mask] : [])]);
      return {
        value: p,
        gradFunc: (dp, [qs, ks, ps, ms]) => [
          ...attentionProbsBackward(dp, ps, qs, ks, attrs),
          ...(ms ? [tf.zerosLike(ms)] : []),
        ],
      };
    });
    return mask ? op(q, k, mask) : op(q, k);
  });
}

/** probs [B·H, N, M] · v [B, M, H·d] per head → [B, N, H·d]. */
export function applyAttentionProbs(probs: tf.Tensor3D, v: tf.Tensor3D, heads: number): tf.Tensor3D {
  const op = customOp(([p, v], save) => {
    save([p, v]);
    return {
      value: runKernel(APPLY_ATTENTION_PROBS, { probs: p, v }, { heads }),
      gradFunc: (dy: tf.Tensor, [ps, vs]: tf.Tensor[]) => applyAttentionProbsBackward(dy, ps, vs, heads),
    };
  });
  return op(probs, v);
}
