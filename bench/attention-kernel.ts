/**
 * The raw fused attention kernel on Float32Arrays (no tfjs): accuracy against a float64
 * reference on odd shapes, then GFLOP/s at SD sizes. Run: npx tsx bench/attention-kernel.ts
 */
import { AttentionKernel } from '../src/backend/attention-kernel.js';

function ref(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  B: number,
  N: number,
  M: number,
  H: number,
  D: number,
  scale: number,
  mask?: Float32Array,
  maskStride = 0,
) {
  const C = H * D;
  const out = new Float32Array(B * N * C);
  const s = new Float64Array(M);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < N; i++) {
        let mx = -Infinity;
        for (let j = 0; j < M; j++) {
          let acc = 0;
          for (let c = 0; c < D; c++) acc += q[(b * N + i) * C + h * D + c] * k[(b * M + j) * C + h * D + c];
          acc = acc * scale + (mask ? mask[i * maskStride + j] : 0);
          s[j] = acc;
          if (acc > mx) mx = acc;
        }
        let sum = 0;
        for (let j = 0; j < M; j++) {
          s[j] = Math.exp(s[j] - mx);
          sum += s[j];
        }
        for (let c = 0; c < D; c++) {
          let acc = 0;
          for (let j = 0; j < M; j++) acc += s[j] * v[(b * M + j) * C + h * D + c];
          out[(b * N + i) * C + h * D + c] = acc / sum;
        }
      }
  return out;
}
const rnd = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
const kern = AttentionKernel.create()!;
for (const [B, N, M, H, D, useMask] of [
  [1, 5, 3, 1, 4, 0],
  [2, 77, 77, 3, 8, 1],
  [1, 130, 300, 2, 40, 0],
  [2, 33, 77, 2, 12, 0],
  [1, 64, 600, 1, 160, 1],
] as const) {
  const C = H * D;
  const q = rnd(B * N * C),
    k = rnd(B * M * C),
    v = rnd(B * M * C);
  let mask: Float32Array | undefined;
  if (useMask) {
    mask = new Float32Array(N * M);
    for (let i = 0; i < N; i++) for (let j = 0; j < M; j++) mask[i * M + j] = j > i ? -Infinity : 0;
  }
  const scale = (1 / Math.sqrt(D)) * 3;
  const exp = ref(q, k, v, B, N, M, H, D, scale, mask, M);
  const out = new Float32Array(B * N * C);
  kern.fused(
    q,
    k,
    v,
    out,
    { batch: B, queries: N, keys: M, heads: H, dim: D },
    scale,
    mask ? { values: mask, rowStride: M } : undefined,
  );
  let md = 0;
  for (let i = 0; i < out.length; i++)
    md = Math.max(md, Math.abs(out[i] - exp[i]) || (Number.isNaN(out[i]) ? Infinity : 0));
  const probs = new Float32Array(B * H * N * M);
  kern.probs(
    q,
    k,
    probs,
    { batch: B, queries: N, keys: M, heads: H, dim: D },
    scale,
    mask ? { values: mask, rowStride: M } : undefined,
  );
  const out2 = new Float32Array(B * N * C);
  kern.applyProbs(probs, v, out2, { batch: B, queries: N, keys: M, heads: H, dim: D });
  let md2 = 0;
  for (let i = 0; i < out.length; i++)
    md2 = Math.max(md2, Math.abs(out2[i] - exp[i]) || (Number.isNaN(out2[i]) ? Infinity : 0));
  console.log(
    B,
    N,
    M,
    H,
    D,
    useMask,
    'fused maxdiff',
    md.toExponential(2),
    'probs+apply maxdiff',
    md2.toExponential(2),
  );
}
// timing
for (const [B, N, M, H, D] of [
  [2, 4096, 4096, 8, 40],
  [2, 4096, 77, 8, 40],
  [4, 4096, 4096, 8, 4],
  [2, 1024, 1024, 8, 80],
  [1, 4096, 4096, 1, 512],
] as const) {
  const C = H * D;
  const q = rnd(B * N * C),
    k = rnd(B * M * C),
    v = rnd(B * M * C);
  const out = new Float32Array(B * N * C);
  const dims = { batch: B, queries: N, keys: M, heads: H, dim: D };
  const ts: number[] = [];
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    kern.fused(q, k, v, out, dims, 1 / Math.sqrt(D));
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  const flop = 4 * B * H * N * M * D;
  console.log(
    `fused [${B},${N},${C}]x[${M}] h${H} d${D}: ${ts[1].toFixed(1)} ms, ${(flop / ts[1] / 1e6).toFixed(1)} GFLOP/s, ${((ts[1] * 1e6) / (B * H * N * M)).toFixed(3)} ns/score`,
  );
}
