/**
 * float32 `log` and `sincos` exactly as PyTorch's AVX2 normal sampler computes them: the Cephes
 * polynomials of avx_mathfun.h, evaluated lane by lane in single precision. The multiply-adds that
 * GCC contracts into FMA instructions in that build are written as `fma32` (the choice was
 * determined against torch.randn outputs: every value matches bit for bit).
 */
import { f32, fma32 } from '../../util/scalar-float32.js';

const LOG_P = [
  7.0376836292e-2, -1.151461031e-1, 1.167699874e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1,
  2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1,
].map(f32);
const LOG_Q1 = f32(-2.1219444e-4);
const LOG_Q2 = f32(0.693359375);
// eslint-disable-next-line no-loss-of-precision -- the literal as written in avx_mathfun.h (rounded to float32 anyway)
const SQRTHF = f32(0.707106781186547524);
const MIN_NORM_POS = 1.1754943508222875e-38; // 2^-126

const DP1 = f32(-0.78515625);
const DP2 = f32(-2.4187564849853515625e-4);
// eslint-disable-next-line no-loss-of-precision -- the literal as written in avx_mathfun.h (rounded to float32 anyway)
const DP3 = f32(-3.77489497744594108e-8);
const SIN_P = [-1.9515295891e-4, 8.3321608736e-3, -1.6666654611e-1].map(f32);
const COS_P = [2.443315711809948e-5, -1.388731625493765e-3, 4.166664568298827e-2].map(f32);
const FOPI = f32(1.27323954473516); // 4/π

const fbuf = new Float32Array(1);
const ibuf = new Int32Array(fbuf.buffer);

/** Natural logarithm of a positive float32 (NaN for x ≤ 0), as `log256_ps`. */
export function logAvx(x: number): number {
  if (!(x > 0)) return NaN;
  fbuf[0] = Math.max(x, MIN_NORM_POS);
  const bits = ibuf[0];
  let e = f32((bits >>> 23) - 0x7f + 1);
  ibuf[0] = (bits & ~0x7f800000) | 0x3f000000; // mantissa in [0.5, 1)
  let m = fbuf[0];
  if (m < SQRTHF) {
    e = f32(e - 1);
    m = f32(f32(m - 1) + m);
  } else {
    m = f32(m - 1);
  }
  const z = f32(m * m);
  let y = LOG_P[0];
  for (let i = 1; i < LOG_P.length; i++) y = fma32(y, m, LOG_P[i]);
  y = f32(y * m);
  y = fma32(y, z, f32(e * LOG_Q1));
  y = fma32(-z, 0.5, y);
  m = f32(m + y);
  return fma32(e, LOG_Q2, m);
}

/** [sin(x), cos(x)] of a float32, as `sincos256_ps`. */
export function sincosAvx(x: number): [number, number] {
  let signSin = x < 0 ? -1 : 1;
  x = Math.abs(x);
  let j = Math.trunc(f32(x * FOPI));
  j = (j + 1) & ~1;
  const y = j; // exact in float32 for the arguments used here
  if (j & 4) signSin = -signSin;
  const signCos = ~(j - 2) & 4 ? -1 : 1;
  const sinFirst = (j & 2) === 0; // polynomial selection
  x = fma32(y, DP1, x);
  x = fma32(y, DP2, x);
  x = fma32(y, DP3, x);
  const z = f32(x * x);
  let c = fma32(COS_P[0], z, COS_P[1]);
  c = fma32(c, z, COS_P[2]);
  c = f32(c * z);
  c = fma32(c, z, -f32(z * 0.5));
  c = f32(c + 1);
  let s = fma32(SIN_P[0], z, SIN_P[1]);
  s = fma32(s, z, SIN_P[2]);
  s = f32(s * z);
  s = fma32(s, x, x);
  const sin = sinFirst ? s : c;
  const cos = sinFirst ? c : s;
  return [signSin * sin, signCos * cos];
}
