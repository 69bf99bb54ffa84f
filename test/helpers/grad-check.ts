/**
 * Gradients against finite differences, element by element.
 *
 * `checkEveryElement` checks tf.grads of L = Σ_j f(xs)_j·r_j (r fixed, pseudo-random) for EVERY
 * element of every input: the five-point central difference
 *   L'(x_i) ≈ [8(L(x_i+h) − L(x_i−h)) − (L(x_i+2h) − L(x_i−2h))] / 12h
 * (truncation error h⁴/30·L⁽⁵⁾: ~3e-10 for h = 1e-2 and the smooth functions tested), with the
 * differences taken output by output in float64 on the host, so that outputs the element does
 * not reach cancel exactly. What is left is float32 rounding, bounded per element:
 *   |fd − g| ≤ RTOL·|g| + C·u·(S/h + A) + TINY
 * u = 2^-24 (float32 unit roundoff); S = Σ|r_j·f_j| over the outputs the element moves (their
 * rounding, divided by h in the difference); A = Σ|r_j·∂f_j/∂x_i| (the terms autograd adds up
 * for g_i, each rounded); C = 16 covers the reductions inside f (matmul/conv sums, norms,
 * softmax: an output's rounding is a few u of its terms, not of the output itself); RTOL = 1e-3
 * the rounding of g beyond A's estimate; TINY = 2^-120 denormal noise (the ~1e-38 terms of
 * masked attention keys). The largest ratio measured over every case (wasm, cpu, native) is about
 * a fifth of the bound. A gradient wrong by more than that in any element fails, however small
 * that element's gradient is next to the others'.
 *
 * `checkDirections` is for inputs too big to walk element by element (model weights): per group
 * of parameters, the directional derivative along a random ±1 direction restricted to that group
 * against ⟨g, v⟩, with a relative bound per group.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';

/** float32 unit roundoff. */
const U = 2 ** -24;
/** See the file comment: reductions inside f, with a margin over the measured worst ratio. */
const C = 16;
/**
 * Denormal noise: 64 × float32's smallest normal number (sums of the ~1e-38 probabilities the
 * attention kernel's exp gives masked keys, where the gradient is exactly 0 in exact arithmetic).
 */
const TINY = 2 ** -120;
/** Rounding of the autograd result beyond the per-term estimate. */
const RTOL = 1e-3;

/** Deterministic values in [-1, 1) (a fixed LCG: independent of the backend's RNG). */
export function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  // Seed mixed first, so that nearby seeds give unrelated streams.
  let s = Math.imul((seed ^ 0x9e3779b9) >>> 0, 0x85ebca6b) >>> 0;
  s = Math.imul(s ^ (s >>> 13), 0xc2b2ae35) >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** A tensor of `values` × scale + shift. */
export const rnd = (shape: number[], seed: number, scale = 1, shift = 0) =>
  tf.tidy(() =>
    tf.add(
      tf.mul(
        tf.tensor(
          values(
            shape.reduce((a, b) => a * b, 1),
            seed,
          ),
          shape,
        ),
        scale,
      ),
      shift,
    ),
  );

/** `rnd` with every value at least `margin` away from each of `kinks` (for relu, abs, max, clip). */
export function rndAwayFrom(shape: number[], seed: number, kinks: number[], margin = 0.05, scale = 1): tf.Tensor {
  const v = values(
    shape.reduce((a, b) => a * b, 1),
    seed,
  ).map((x) => x * scale);
  for (let i = 0; i < v.length; i++) {
    for (const k of kinks) if (Math.abs(v[i] - k) < margin) v[i] = k + (v[i] >= k ? margin : -margin);
  }
  return tf.tensor(v, shape);
}

export interface GradCheckResult {
  /** Elements checked. */
  elements: number;
  /** Largest |fd − g| / bound over them (≤ 1 passes). */
  worstRatio: number;
}

/**
 * Checks every element of every input (see the file comment); fails naming the input, the
 * element, autograd's value, the finite difference and the bound. Returns the worst ratio.
 */
export function checkEveryElement(
  name: string,
  f: (...xs: tf.Tensor[]) => tf.Tensor,
  inputs: tf.Tensor[],
  h = 1e-2,
): GradCheckResult {
  const out0 = tf.tidy(() => f(...inputs));
  const shape = out0.shape;
  const base = out0.dataSync().slice();
  out0.dispose();
  const rv = values(base.length, 99);
  const r = tf.tensor(rv, shape);
  const grads = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(f(...xs), r)) as tf.Scalar)(inputs);
  let worstRatio = 0;
  let elements = 0;
  try {
    inputs.forEach((x, k) => {
      expect(grads[k].shape, `${name}: gradient shape of input ${k}`).to.deep.equal(x.shape);
      const g = grads[k].dataSync();
      const xv = x.dataSync().slice();
      const at = (i: number, d: number) =>
        tf.tidy(() => {
          const v = xv.slice();
          v[i] += d;
          const xs = inputs.map((t, m) => (m === k ? tf.tensor(v, x.shape, x.dtype) : t));
          return f(...xs).dataSync();
        });
      for (let i = 0; i < xv.length; i++) {
        const [p1, m1, p2, m2] = [at(i, h), at(i, -h), at(i, 2 * h), at(i, -2 * h)];
        let fd = 0;
        let s = 0;
        let a = 0;
        for (let j = 0; j < base.length; j++) {
          const d1 = p1[j] - m1[j];
          const d2 = p2[j] - m2[j];
          if (d1 === 0 && d2 === 0) continue;
          fd += rv[j] * (8 * d1 - d2);
          s += Math.abs(rv[j]) * Math.max(Math.abs(p2[j]), Math.abs(m2[j]), Math.abs(base[j]));
          a += Math.abs(rv[j] * d1) / (2 * h);
        }
        fd /= 12 * h;
        const bound = RTOL * Math.abs(g[i]) + C * U * (s / h + a) + TINY;
        const err = Math.abs(fd - g[i]);
        const ratio = err / bound;
        worstRatio = Math.max(worstRatio, ratio);
        elements++;
        if (!(ratio <= 1)) {
          expect.fail(
            `${name}: d/d input${k}[${i}] (of ${xv.length}, shape [${x.shape}]): autograd ${g[i]} vs finite difference ${fd}; |Δ| ${err.toExponential(2)} > bound ${bound.toExponential(2)}`,
          );
        }
      }
    });
  } finally {
    r.dispose();
    tf.dispose(grads);
  }
  return { elements, worstRatio };
}

/** A group of trainable variables checked along one random direction. */
export interface DirectionGroup {
  name: string;
  variables: tf.Variable[];
}

/**
 * For each group: a direction v of ±1 entries on the group's variables (0 elsewhere); checks
 * the five-point difference of `loss` along v, with a step h of `rel` (default 1e-2) of the
 * group's RMS value (1e-2 when that is 0), against ⟨g, v⟩ within
 *   RTOL·|⟨g, v⟩| + C·u·|L|/h
 * RTOL = 1e-3 as above (truncation at these steps measured below 2e-5 relative); the second
 * term is the loss's float32 rounding divided by the step: the loss of a forward pass through a
 * whole model is measured to be rounded by about u·|L| (C = 16 as above). An error e in one
 * element of g moves ⟨g, v⟩ by ±e, so it fails once e exceeds the bound. `grads` are the
 * gradients at the current values, by variable name; every variable is restored afterwards.
 */
export function checkDirections(
  name: string,
  loss: () => number,
  grads: Record<string, tf.Tensor>,
  groups: DirectionGroup[],
  opts: { seed?: number; rel?: number } = {},
): { worstRatio: number } {
  const rel = opts.rel ?? 1e-2;
  const l0 = loss();
  let worstRatio = 0;
  groups.forEach((grp, gi) => {
    const saved = grp.variables.map((v) => v.dataSync().slice() as Float32Array);
    const dirs = saved.map((x, k) =>
      values(x.length, (opts.seed ?? 7) * 1000 + gi * 31 + k).map((u) => (u >= 0 ? 1 : -1)),
    );
    const rms = Math.sqrt(
      saved.reduce((s, x) => s + x.reduce((t, v) => t + v * v, 0), 0) / saved.reduce((n, x) => n + x.length, 0),
    );
    const h = rel * (rms > 0 ? rms : 1);
    const at = (d: number) => {
      grp.variables.forEach((v, k) =>
        tf.tidy(() =>
          v.assign(
            tf.tensor(
              saved[k].map((x, i) => x + d * dirs[k][i]),
              v.shape,
            ),
          ),
        ),
      );
      return loss();
    };
    let fd: number;
    try {
      fd = (8 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12 * h);
    } finally {
      grp.variables.forEach((v, k) => tf.tidy(() => v.assign(tf.tensor(saved[k], v.shape))));
    }
    let dot = 0;
    grp.variables.forEach((v, k) => {
      const g = grads[v.name];
      if (!g) throw new Error(`${name}: no gradient for ${v.name}`);
      const gv = g.dataSync();
      for (let i = 0; i < gv.length; i++) dot += gv[i] * dirs[k][i];
    });
    const bound = RTOL * Math.abs(dot) + (C * U * Math.abs(l0)) / h;
    const ratio = Math.abs(fd - dot) / bound;
    worstRatio = Math.max(worstRatio, ratio);
    if (!(ratio <= 1)) {
      expect.fail(
        `${name}: ${grp.name}: directional derivative by autograd ${dot} vs finite difference ${fd}; |Δ| ${Math.abs(fd - dot).toExponential(2)} > bound ${bound.toExponential(2)}`,
      );
    }
  });
  return { worstRatio };
}
