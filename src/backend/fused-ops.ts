/**
 * Optional fused kernels for normalisation, activations and GEGLU: when the active backend
 * registers them (the native backend does), the op runs one kernel; otherwise the callers use
 * their other paths (tf ops; group norm: the JS kernels of src/backend/group-norm-kernel.ts on
 * wasm/cpu). While gradients are recorded they run only where the backend also registers their
 * gradient kernels (then they are differentiable through tf.customGrad); the group norm kernel
 * here has none (group-norm-kernel.ts' kernels are the differentiable ones).
 */
import * as tf from '@tensorflow/tfjs-core';

export const GROUP_NORM = 'PtpNativeGroupNorm';
/** LayerNorm over the last axis; attrs {eps, withStats}: y, or [y, stats [rows, 2]] with stats. */
export const LAYER_NORM = 'PtpNativeLayerNorm';
/** {dy, x, stats, gamma} → [dx, dgamma, dbeta]. */
export const LAYER_NORM_GRAD = 'PtpNativeLayerNormGrad';
/** Point-wise activation, attrs {kind: gelu | quick_gelu | silu}. */
export const ACTIVATION = 'PtpNativeActivation';
/** {x, dy} → dx of ACTIVATION. */
export const ACTIVATION_GRAD = 'PtpNativeActivationGrad';
/** [..., 2·D] (halves h, g) → [..., D] = h·gelu(g). */
export const GEGLU = 'PtpNativeGeglu';
/** {x, dy} → dx of GEGLU. */
export const GEGLU_GRAD = 'PtpNativeGegluGrad';

/** Activations with a fused kernel. */
export type FusedActivation = 'gelu' | 'quick_gelu' | 'silu';

/** Whether tfjs is recording operations for gradients right now (inside tf.grad and friends). */
export function recordingGradients(): boolean {
  return (tf.engine() as unknown as { isTapeOn(): boolean }).isTapeOn();
}

const has = (kernel: string) => tf.getKernel(kernel, tf.getBackend()) !== undefined;

/** The kernel runs (and, while gradients are recorded, its gradient kernel too) on float32 inputs. */
function usable(kernel: string, grad: string | undefined, ...xs: (tf.Tensor | undefined)[]): boolean {
  if (!has(kernel)) return false;
  if (recordingGradients() && !(grad && has(grad))) return false;
  return xs.every((x) => !x || x.dtype === 'float32');
}

const run = (name: string, inputs: Record<string, tf.Tensor>, attrs: object = {}) =>
  tf.engine().runKernel(name, inputs as unknown as tf.NamedTensorMap, attrs as unknown as tf.NamedAttrMap);

type GradFn = (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[];
/** tf.customGrad over tensors only (tfjs types its inputs as tensor-or-save-function). */
function customOp(
  f: (inputs: tf.Tensor[], save: tf.GradSaveFunc) => { value: tf.Tensor; gradFunc: GradFn },
): (...inputs: tf.Tensor[]) => tf.Tensor {
  const g = (...args: unknown[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    return f(args as tf.Tensor[], save);
  };
  return tf.customGrad(g as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (
    ...inputs: tf.Tensor[]
  ) => tf.Tensor;
}

/**
 * GroupNorm over NHWC `x` [B, …, C] in `groups` groups (then SiLU when `silu`), or undefined
 * when no fused kernel applies (always while gradients are recorded).
 */
export function fusedGroupNorm<T extends tf.Tensor>(
  x: T,
  groups: number,
  eps: number,
  gamma?: tf.Tensor,
  beta?: tf.Tensor,
  silu = false,
): T | undefined {
  if (!usable(GROUP_NORM, undefined, x, gamma, beta)) return undefined;
  const inputs = { x, ...(gamma ? { gamma } : {}), ...(beta ? { beta } : {}) };
  return run(GROUP_NORM, inputs, { groups, eps, silu }) as T;
}

/** LayerNorm over the last axis (differentiable where the backend has its gradient), or undefined. */
export function fusedLayerNorm<T extends tf.Tensor>(
  x: T,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  eps: number,
): T | undefined {
  if (!usable(LAYER_NORM, LAYER_NORM_GRAD, x, gamma, beta)) return undefined;
  if (!recordingGradients()) return run(LAYER_NORM, { x, gamma, beta }, { eps, withStats: false }) as T;
  const op = customOp(([xi, gi, bi], save) => {
    const [y, stats] = run(LAYER_NORM, { x: xi, gamma: gi, beta: bi }, { eps, withStats: true }) as tf.Tensor[];
    save([xi, gi, stats]);
    return {
      value: y,
      gradFunc: (dy, [xs, gs, st]) => run(LAYER_NORM_GRAD, { dy, x: xs, stats: st, gamma: gs }) as tf.Tensor[],
    };
  });
  return tf.tidy(() => op(x, gamma, beta)) as T;
}

/** A point-wise activation in one kernel (differentiable where the backend has its gradient), or undefined. */
export function fusedActivation<T extends tf.Tensor>(x: T, kind: FusedActivation): T | undefined {
  if (!usable(ACTIVATION, ACTIVATION_GRAD, x)) return undefined;
  if (!recordingGradients()) return run(ACTIVATION, { x }, { kind }) as T;
  const op = customOp(([xi], save) => {
    save([xi]);
    return {
      value: run(ACTIVATION, { x: xi }, { kind }) as tf.Tensor,
      gradFunc: (dy, [xs]) => run(ACTIVATION_GRAD, { x: xs, dy }, { kind }) as tf.Tensor,
    };
  });
  return op(x) as T;
}

/** Exact GELU, or undefined when no fused kernel applies. */
export function fusedGelu<T extends tf.Tensor>(x: T): T | undefined {
  return fusedActivation(x, 'gelu');
}

/** Whether fusedGeglu runs for `x` (check before computing its input). */
export function canFuseGeglu(x: tf.Tensor): boolean {
  return usable(GEGLU, GEGLU_GRAD, x);
}

/** GEGLU of x [..., 2·D] (halves h, g) → h·gelu(g) [..., D], or undefined when no fused kernel applies. */
export function fusedGeglu<T extends tf.Tensor>(x: T): T | undefined {
  if (!usable(GEGLU, GEGLU_GRAD, x) || x.shape[x.rank - 1] % 2 !== 0) return undefined;
  if (!recordingGradients()) return run(GEGLU, { x }) as T;
  const op = customOp(([xi], save) => {
    save([xi]);
    return {
      value: run(GEGLU, { x: xi }) as tf.Tensor,
      gradFunc: (dy, [xs]) => run(GEGLU_GRAD, { x: xs, dy }) as tf.Tensor,
    };
  });
  return op(x) as T;
}
