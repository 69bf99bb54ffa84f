/**
 * Top right-singular vectors of a matrix (the principal components of its rows) by subspace
 * iteration with Rayleigh–Ritz, in plain JS — for `show_self_attention_comp`-style images.
 */

export interface PrincipalComponents {
  /** Unit vectors of length `cols`, largest singular value first; sign: largest |entry| positive. */
  vectors: Float64Array[];
  /** Singular values, descending. */
  values: number[];
}

export interface PrincipalComponentOptions {
  /** Subtract each row's mean first (official: `A − mean(A, axis=1)`). Default true. */
  centerRows?: boolean;
  maxIterations?: number;
  /** Relative residual ‖AᵀAv − σ²v‖/σ² at which a vector counts as converged. */
  tolerance?: number;
}

/** The `count` leading right-singular vectors of the row-major [rows, cols] matrix `a`. */
export function principalComponents(
  a: ArrayLike<number>,
  rows: number,
  cols: number,
  count: number,
  opts: PrincipalComponentOptions = {},
): PrincipalComponents {
  if (a.length !== rows * cols) throw new Error(`principalComponents: ${a.length} values for a ${rows}×${cols} matrix`);
  const k = Math.min(count, rows, cols);
  if (k < 1) return { vectors: [], values: [] };
  const m = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    let mean = 0;
    if (opts.centerRows ?? true) {
      for (let j = 0; j < cols; j++) mean += a[i * cols + j];
      mean /= cols;
    }
    for (let j = 0; j < cols; j++) m[i * cols + j] = a[i * cols + j] - mean;
  }
  const p = Math.min(cols, k + Math.max(4, Math.ceil(k / 2))); // oversampled block
  const maxIt = opts.maxIterations ?? 300;
  const tol = opts.tolerance ?? 1e-6;
  // Deterministic start: a fixed pseudo-random block.
  let q: Float64Array[] = [];
  let seed = 0x2545f491;
  for (let c = 0; c < p; c++) {
    const v = new Float64Array(cols);
    for (let j = 0; j < cols; j++) {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      v[j] = seed / 2 ** 32 - 0.5;
    }
    q.push(v);
  }
  q = orthonormalize(q);
  let ritz: { vectors: Float64Array[]; values: number[] } = { vectors: q, values: new Array(p).fill(0) };
  for (let it = 0; it < maxIt; it++) {
    const y = q.map((v) => mulA(m, rows, cols, v));
    const z = y.map((v) => mulAt(m, rows, cols, v));
    q = orthonormalize(z);
    if (it % 5 === 4 || it === maxIt - 1) {
      ritz = rayleighRitz(m, rows, cols, q);
      if (converged(m, rows, cols, ritz, k, tol)) break;
      q = ritz.vectors;
    }
  }
  const vectors = ritz.vectors.slice(0, k).map(fixSign);
  return { vectors, values: ritz.values.slice(0, k).map((l) => Math.sqrt(Math.max(0, l))) };
}

function mulA(m: Float64Array, rows: number, cols: number, v: Float64Array): Float64Array {
  const out = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let s = 0;
    const o = i * cols;
    for (let j = 0; j < cols; j++) s += m[o + j] * v[j];
    out[i] = s;
  }
  return out;
}

function mulAt(m: Float64Array, rows: number, cols: number, u: Float64Array): Float64Array {
  const out = new Float64Array(cols);
  for (let i = 0; i < rows; i++) {
    const ui = u[i];
    if (ui === 0) continue;
    const o = i * cols;
    for (let j = 0; j < cols; j++) out[j] += m[o + j] * ui;
  }
  return out;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Modified Gram–Schmidt (twice, for stability); vectors that vanish are replaced by unit vectors. */
function orthonormalize(vs: Float64Array[]): Float64Array[] {
  const out: Float64Array[] = [];
  for (const v0 of vs) {
    const v = Float64Array.from(v0);
    for (let pass = 0; pass < 2; pass++)
      for (const u of out) {
        const d = dot(u, v);
        for (let i = 0; i < v.length; i++) v[i] -= d * u[i];
      }
    let n = Math.sqrt(dot(v, v));
    if (!(n > 1e-300)) {
      // Degenerate direction: take the first basis vector not yet spanned.
      for (let e = 0; e < v.length && !(n > 0.5); e++) {
        v.fill(0);
        v[e] = 1;
        for (const u of out) {
          const d = dot(u, v);
          for (let i = 0; i < v.length; i++) v[i] -= d * u[i];
        }
        n = Math.sqrt(dot(v, v));
      }
    }
    for (let i = 0; i < v.length; i++) v[i] /= n;
    out.push(v);
  }
  return out;
}

/** Ritz pairs of AᵀA in span(q): eigen-decomposition of (Aq)ᵀ(Aq) by Jacobi rotations. */
function rayleighRitz(
  m: Float64Array,
  rows: number,
  cols: number,
  q: Float64Array[],
): { vectors: Float64Array[]; values: number[] } {
  const p = q.length;
  const y = q.map((v) => mulA(m, rows, cols, v));
  const h = new Float64Array(p * p);
  for (let i = 0; i < p; i++) for (let j = 0; j <= i; j++) h[i * p + j] = h[j * p + i] = dot(y[i], y[j]);
  const { values, vectors } = jacobiEigen(h, p);
  const order = values.map((_, i) => i).sort((a, b) => values[b] - values[a]);
  return {
    values: order.map((i) => values[i]),
    vectors: order.map((c) => {
      const v = new Float64Array(cols);
      for (let r = 0; r < p; r++) {
        const w = vectors[r * p + c];
        for (let j = 0; j < cols; j++) v[j] += q[r][j] * w;
      }
      return v;
    }),
  };
}

/** Symmetric eigen-decomposition (cyclic Jacobi); eigenvectors are the columns of `vectors`. */
function jacobiEigen(a0: Float64Array, n: number): { values: number[]; vectors: Float64Array } {
  const a = Float64Array.from(a0);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) off += a[i * n + j] ** 2;
    if (off < 1e-30) break;
    for (let pI = 0; pI < n; pI++) {
      for (let qI = pI + 1; qI < n; qI++) {
        const apq = a[pI * n + qI];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[qI * n + qI] - a[pI * n + pI]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + pI];
          const akq = a[k * n + qI];
          a[k * n + pI] = c * akp - s * akq;
          a[k * n + qI] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[pI * n + k];
          const aqk = a[qI * n + k];
          a[pI * n + k] = c * apk - s * aqk;
          a[qI * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + pI];
          const vkq = v[k * n + qI];
          v[k * n + pI] = c * vkp - s * vkq;
          v[k * n + qI] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { values: Array.from({ length: n }, (_, i) => a[i * n + i]), vectors: v };
}

function converged(
  m: Float64Array,
  rows: number,
  cols: number,
  r: { vectors: Float64Array[]; values: number[] },
  k: number,
  tol: number,
): boolean {
  const top = r.values[0];
  if (!(top > 0)) return true;
  for (let c = 0; c < k; c++) {
    const v = r.vectors[c];
    const g = mulAt(m, rows, cols, mulA(m, rows, cols, v));
    let res = 0;
    for (let j = 0; j < cols; j++) res += (g[j] - r.values[c] * v[j]) ** 2;
    if (Math.sqrt(res) > tol * top) return false;
  }
  return true;
}

function fixSign(v: Float64Array): Float64Array {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (Math.abs(v[i]) > Math.abs(v[best])) best = i;
  if (v[best] < 0) for (let i = 0; i < v.length; i++) v[i] = -v[i];
  return v;
}
