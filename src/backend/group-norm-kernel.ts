/**
 * Group normalisation (+ affine, + optional SiLU) in one pass over NHWC data, forward and
 * backward, as kernels of the wasm and cpu backends (JS loops over their memory). Composed from
 * tf ops, a GroupNorm is ~10 element-wise kernels forward and ~25 backward, each a pass over
 * the activation, several with broadcasting (slow on tfjs-wasm); these are one pass forward
 * and two backward. Statistics are accumulated in float64 (closer to exact than any float32
 * summation order).
 *
 * Kernels (x viewed as [B, N, C], groups of C/G consecutive channels):
 *   PtpGroupNorm      {x, gamma?, beta?} → [y, stats [B, G, 2] = (mean, rstd)]
 *   PtpGroupNormGrad  {dy, x, stats, gamma?, beta?} → [dx, dgamma [C], dbeta [C]]
 */
import * as tf from '@tensorflow/tfjs-core';
import { HOST_BACKENDS, withHostIO } from './host-io.js';

export const GROUP_NORM = 'PtpGroupNorm';
export const GROUP_NORM_GRAD = 'PtpGroupNormGrad';

export interface GroupNormAttrs {
  groups: number;
  eps: number;
  /** Apply SiLU (x·σ(x)) after the affine transform. */
  silu: boolean;
}

interface Dims {
  b: number;
  n: number;
  c: number;
  g: number;
  cg: number;
}

function dims(shape: readonly number[], groups: number): Dims {
  const c = shape[shape.length - 1];
  const b = shape[0];
  const n = shape.slice(1, -1).reduce((a, d) => a * d, 1);
  if (c % groups !== 0) throw new Error(`group norm: ${c} channels do not split into ${groups} groups`);
  return { b, n, c, g: groups, cg: c / groups };
}

/** Per-channel copies of per-group values (so the element loops index by channel only). */
function perChannel(v: Float64Array, c: number, cg: number): Float64Array {
  const out = new Float64Array(c);
  for (let ch = 0; ch < c; ch++) out[ch] = v[(ch / cg) | 0];
  return out;
}

/** Per (item, group) mean and 1/std (float64, two passes) → stats. */
function statistics(x: Float32Array, stats: Float32Array, d: Dims, eps: number): void {
  const { b, n, c, g, cg } = d;
  const acc = new Float64Array(c);
  for (let bi = 0; bi < b; bi++) {
    const base = bi * n * c;
    acc.fill(0);
    for (let o = base, end = base + n * c; o < end; o += c) for (let ch = 0; ch < c; ch++) acc[ch] += x[o + ch];
    const mean = new Float64Array(g);
    for (let ch = 0; ch < c; ch++) mean[(ch / cg) | 0] += acc[ch];
    for (let gi = 0; gi < g; gi++) mean[gi] /= n * cg;
    const meanC = perChannel(mean, c, cg);
    acc.fill(0);
    for (let o = base, end = base + n * c; o < end; o += c) {
      for (let ch = 0; ch < c; ch++) {
        const dv = x[o + ch] - meanC[ch];
        acc[ch] += dv * dv;
      }
    }
    const v = new Float64Array(g);
    for (let ch = 0; ch < c; ch++) v[(ch / cg) | 0] += acc[ch];
    for (let gi = 0; gi < g; gi++) {
      stats[(bi * g + gi) * 2] = mean[gi];
      stats[(bi * g + gi) * 2 + 1] = 1 / Math.sqrt(v[gi] / (n * cg) + eps);
    }
  }
}

/** Mean and rstd of item `bi` per channel, from the stats. */
function itemStats(stats: Float32Array, bi: number, d: Dims): [Float64Array, Float64Array] {
  const mean = new Float64Array(d.g);
  const rstd = new Float64Array(d.g);
  for (let gi = 0; gi < d.g; gi++) {
    mean[gi] = stats[(bi * d.g + gi) * 2];
    rstd[gi] = stats[(bi * d.g + gi) * 2 + 1];
  }
  return [perChannel(mean, d.c, d.cg), perChannel(rstd, d.c, d.cg)];
}

function forward(
  x: Float32Array,
  gamma: Float32Array | undefined,
  beta: Float32Array | undefined,
  y: Float32Array,
  stats: Float32Array,
  d: Dims,
  a: GroupNormAttrs,
): void {
  const { b, n, c } = d;
  statistics(x, stats, d, a.eps);
  const one = new Float32Array(c).fill(1);
  const zero = new Float32Array(c);
  const gm = gamma ?? one;
  const bt = beta ?? zero;
  for (let bi = 0; bi < b; bi++) {
    const [mean, rstd] = itemStats(stats, bi, d);
    const base = bi * n * c;
    for (let o = base, end = base + n * c; o < end; o += c) {
      for (let ch = 0; ch < c; ch++) {
        const z = Math.fround(Math.fround(Math.fround((x[o + ch] - mean[ch]) * rstd[ch]) * gm[ch]) + bt[ch]);
        y[o + ch] = a.silu ? z / (1 + Math.exp(-z)) : z;
      }
    }
  }
}

function backward(
  dy: Float32Array,
  x: Float32Array,
  stats: Float32Array,
  gamma: Float32Array | undefined,
  beta: Float32Array | undefined,
  dx: Float32Array,
  dgamma: Float32Array,
  dbeta: Float32Array,
  d: Dims,
  a: GroupNormAttrs,
): void {
  const { b, n, c, g, cg } = d;
  const dgam = new Float64Array(c);
  const dbet = new Float64Array(c);
  const gm = gamma ?? new Float32Array(c).fill(1);
  const bt = beta ?? new Float32Array(c);
  const dz = new Float32Array(n * c);
  for (let bi = 0; bi < b; bi++) {
    const base = bi * n * c;
    const [mean, rstd] = itemStats(stats, bi, d);
    const sumD = new Float64Array(c);
    const sumDX = new Float64Array(c);
    // dz (gradient at the affine output, through the SiLU), dγ, dβ, and per channel Σdx̂, Σdx̂·x̂.
    for (let i = 0, o = base; i < n; i++, o += c) {
      for (let ch = 0; ch < c; ch++) {
        const xh = (x[o + ch] - mean[ch]) * rstd[ch];
        let grad = dy[o + ch];
        if (a.silu) {
          const z = xh * gm[ch] + bt[ch];
          const s = 1 / (1 + Math.exp(-z));
          grad *= s * (1 + z * (1 - s));
        }
        dz[i * c + ch] = grad;
        dgam[ch] += grad * xh;
        dbet[ch] += grad;
        const dxh = grad * gm[ch];
        sumD[ch] += dxh;
        sumDX[ch] += dxh * xh;
      }
    }
    const gD = new Float64Array(g);
    const gDX = new Float64Array(g);
    for (let ch = 0; ch < c; ch++) {
      gD[(ch / cg) | 0] += sumD[ch];
      gDX[(ch / cg) | 0] += sumDX[ch];
    }
    const m = n * cg;
    const cD = perChannel(gD, c, cg).map((v) => v / m);
    const cDX = perChannel(gDX, c, cg).map((v) => v / m);
    for (let i = 0, o = base; i < n; i++, o += c) {
      for (let ch = 0; ch < c; ch++) {
        const xh = (x[o + ch] - mean[ch]) * rstd[ch];
        dx[o + ch] = rstd[ch] * (dz[i * c + ch] * gm[ch] - cD[ch] - xh * cDX[ch]);
      }
    }
  }
  dgamma.set(dgam);
  dbeta.set(dbet);
}

type Args = { inputs: Record<string, tf.TensorInfo | undefined>; attrs: GroupNormAttrs; backend: unknown };

for (const backendName of HOST_BACKENDS) {
  if (!tf.getKernel(GROUP_NORM, backendName)) {
    tf.registerKernel({
      kernelName: GROUP_NORM,
      backendName,
      kernelFunc: (({ inputs, attrs, backend }: Args) => {
        const { x, gamma, beta } = inputs;
        const d = dims(x!.shape, attrs.groups);
        return withHostIO(
          'group norm',
          backendName,
          backend,
          [x, gamma, beta],
          [x!.shape, [d.b, d.g, 2]],
          ([xv, gv, bv], [y, st]) => forward(xv!, gv, bv, y, st, d, attrs),
        );
      }) as unknown as tf.KernelFunc,
    });
  }
  if (!tf.getKernel(GROUP_NORM_GRAD, backendName)) {
    tf.registerKernel({
      kernelName: GROUP_NORM_GRAD,
      backendName,
      kernelFunc: (({ inputs, attrs, backend }: Args) => {
        const { dy, x, stats, gamma, beta } = inputs;
        const d = dims(x!.shape, attrs.groups);
        return withHostIO(
          'group norm gradient',
          backendName,
          backend,
          [dy, x, stats, gamma, beta],
          [x!.shape, [d.c], [d.c]],
          ([dyv, xv, sv, gv, bv], [dx, dg, db]) => backward(dyv!, xv!, sv!, gv, bv, dx, dg, db, d, attrs),
        );
      }) as unknown as tf.KernelFunc,
    });
  }
}

/** Whether the fused kernels run on the active backend. */
export function groupNormKernelAvailable(): boolean {
  return (HOST_BACKENDS as readonly string[]).includes(tf.getBackend());
}

/**
 * Group norm (+ affine, + SiLU) of x [B, ..., C] through the fused kernels, differentiable in x,
 * gamma and beta. Only on host backends (see groupNormKernelAvailable).
 */
export function fusedGroupNorm(
  x: tf.Tensor,
  gamma: tf.Tensor | undefined,
  beta: tf.Tensor | undefined,
  attrs: GroupNormAttrs,
): tf.Tensor {
  const f = (...args: unknown[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const [xi, gi, bi] = args as tf.Tensor[];
    const ins = { x: xi, ...(gi ? { gamma: gi, beta: bi } : {}) };
    const [y, stats] = tf
      .engine()
      .runKernel(GROUP_NORM, ins as unknown as tf.NamedTensorMap, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
    save([xi, stats, ...(gi ? [gi, bi] : [])]);
    const gradFunc = (dy: tf.Tensor, [xs, st, gs, bs]: tf.Tensor[]) => {
      const g = tf
        .engine()
        .runKernel(
          GROUP_NORM_GRAD,
          { dy, x: xs, stats: st, ...(gs ? { gamma: gs, beta: bs } : {}) } as unknown as tf.NamedTensorMap,
          attrs as unknown as tf.NamedAttrMap,
        ) as tf.Tensor[];
      return gs ? g : [g[0]];
    };
    return { value: y, gradFunc };
  };
  const op = tf.customGrad(f as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (
    ...t: tf.Tensor[]
  ) => tf.Tensor;
  return tf.tidy(() => (gamma ? op(x, gamma, beta!) : op(x)));
}
