/**
 * One Adam update as a single pass over parameter, moments and gradient (kernel 'PtpAdamUpdate'
 * on the wasm and cpu backends, in float32 like PyTorch's step; the same formula from tf ops
 * elsewhere). A dozen element-wise tf ops per parameter cost more than the whole backward pass
 * of a small model on wasm, whose element-wise kernels run on one thread.
 */
import * as tf from '@tensorflow/tfjs-core';
import { HOST_BACKENDS, withHostIO } from './host-io.js';

export const ADAM_UPDATE = 'PtpAdamUpdate';
export const SUM_OF_SQUARES = 'PtpSumOfSquares';
export const LERP = 'PtpLerp';

export interface AdamCoefficients {
  beta1: number;
  beta2: number;
  /** lr / (1 − β₁ᵗ). */
  stepSize: number;
  /** √(1 − β₂ᵗ). */
  bc2Sqrt: number;
  eps: number;
  /** Multiplier of p before the update: 1 − lr·weightDecay (1 = no decay). */
  decay: number;
}

const f = Math.fround;

function update(
  p: Float32Array,
  m: Float32Array,
  v: Float32Array,
  g: Float32Array,
  po: Float32Array,
  mo: Float32Array,
  vo: Float32Array,
  c: AdamCoefficients,
): void {
  const b1 = f(c.beta1);
  const b2 = f(c.beta2);
  const a1 = f(1 - c.beta1);
  const a2 = f(1 - c.beta2);
  const step = f(c.stepSize);
  const bc2 = f(c.bc2Sqrt);
  const eps = f(c.eps);
  const decay = f(c.decay);
  for (let i = 0; i < p.length; i++) {
    const gi = g[i];
    const mi = f(f(m[i] * b1) + f(gi * a1));
    const vi = f(f(v[i] * b2) + f(f(gi * gi) * a2));
    const denom = f(f(Math.sqrt(vi) / bc2) + eps);
    po[i] = f(f(p[i] * decay) - f(f(mi / denom) * step));
    mo[i] = mi;
    vo[i] = vi;
  }
}

for (const backendName of HOST_BACKENDS) {
  if (tf.getKernel(ADAM_UPDATE, backendName)) continue;
  tf.registerKernel({
    kernelName: ADAM_UPDATE,
    backendName,
    kernelFunc: (({
      inputs,
      attrs,
      backend,
    }: {
      inputs: Record<string, tf.TensorInfo>;
      attrs: AdamCoefficients;
      backend: unknown;
    }) => {
      const { p, m, v, g } = inputs;
      for (const t of [m, v, g]) {
        if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i]))
          throw new Error(`Adam: shapes [${p.shape}] and [${t.shape}] differ`);
      }
      return withHostIO(
        'Adam',
        backendName,
        backend,
        [p, m, v, g],
        [p.shape, p.shape, p.shape],
        ([pv, mv, vv, gv], [po, mo, vo]) => update(pv!, mv!, vv!, gv!, po, mo, vo, attrs),
      );
    }) as unknown as tf.KernelFunc,
  });
}

for (const backendName of HOST_BACKENDS) {
  if (tf.getKernel(SUM_OF_SQUARES, backendName)) continue;
  tf.registerKernel({
    kernelName: SUM_OF_SQUARES,
    backendName,
    kernelFunc: (({ inputs, backend }: { inputs: Record<string, tf.TensorInfo>; backend: unknown }) =>
      withHostIO('sum of squares', backendName, backend, [inputs.x], [[]], ([x], [out]) => {
        let s = 0;
        for (let i = 0; i < x!.length; i++) s += x![i] * x![i];
        out[0] = s;
      })[0]) as unknown as tf.KernelFunc,
  });
}

for (const backendName of HOST_BACKENDS) {
  if (tf.getKernel(LERP, backendName)) continue;
  tf.registerKernel({
    kernelName: LERP,
    backendName,
    kernelFunc: (({
      inputs,
      attrs,
      backend,
    }: {
      inputs: Record<string, tf.TensorInfo>;
      attrs: { d: number };
      backend: unknown;
    }) =>
      withHostIO('lerp', backendName, backend, [inputs.a, inputs.b], [inputs.a.shape], ([a, b], [out]) => {
        const d = Math.fround(attrs.d);
        const e = Math.fround(1 - attrs.d);
        for (let i = 0; i < out.length; i++) out[i] = Math.fround(a![i] * d) + Math.fround(b![i] * e);
      })[0]) as unknown as tf.KernelFunc,
  });
}

/** a·d + b·(1 − d) in one pass (the weight average's update). */
export function lerp(a: tf.Tensor, b: tf.Tensor, d: number): tf.Tensor {
  if ((HOST_BACKENDS as readonly string[]).includes(tf.getBackend())) {
    return tf
      .engine()
      .runKernel(LERP, { a, b } as unknown as tf.NamedTensorMap, { d } as unknown as tf.NamedAttrMap) as tf.Tensor;
  }
  return tf.add(tf.mul(a, d), tf.mul(b, 1 - d));
}

/** Σx² as a scalar (one pass, float64 accumulation on wasm/cpu; the gradient-norm of clipping). */
export function sumOfSquares(x: tf.Tensor): tf.Scalar {
  if ((HOST_BACKENDS as readonly string[]).includes(tf.getBackend())) {
    return tf.engine().runKernel(SUM_OF_SQUARES, { x } as unknown as tf.NamedTensorMap) as tf.Scalar;
  }
  return tf.sum(tf.square(x));
}

/** [p', m', v'] after one Adam step with gradient g. */
export function adamUpdate(p: tf.Tensor, m: tf.Tensor, v: tf.Tensor, g: tf.Tensor, c: AdamCoefficients): tf.Tensor[] {
  if ((HOST_BACKENDS as readonly string[]).includes(tf.getBackend())) {
    return tf
      .engine()
      .runKernel(
        ADAM_UPDATE,
        { p, m, v, g } as unknown as tf.NamedTensorMap,
        c as unknown as tf.NamedAttrMap,
      ) as tf.Tensor[];
  }
  return tf.tidy(() => {
    const m2 = tf.add(tf.mul(m, c.beta1), tf.mul(g, 1 - c.beta1));
    const v2 = tf.add(tf.mul(v, c.beta2), tf.mul(tf.mul(g, g), 1 - c.beta2));
    const denom = tf.add(tf.div(tf.sqrt(v2), c.bc2Sqrt), c.eps);
    return [tf.sub(tf.mul(p, c.decay), tf.mul(tf.div(m2, denom), c.stepSize)), m2, v2];
  });
}
