/**
 * Scalar float32 arithmetic on JS numbers: each helper returns the IEEE single-precision result
 * of one operation, so scalar code can follow PyTorch's float32 (and fused multiply-add)
 * rounding exactly.
 */

/** Rounds to the nearest float32. */
export const f32 = Math.fround;

/** float32 square root (correctly rounded: double sqrt then one rounding is exact for float32 inputs). */
export function sqrt32(x: number): number {
  return Math.fround(Math.sqrt(x));
}

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
const LO = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 0 : 1;
const HI = 1 - LO;

/**
 * float32 fused multiply-add `a·b + c` with a single rounding, for float32 inputs. The product is
 * exact in double; the double sum is turned into round-to-odd (with its exact error from TwoSum)
 * so the final rounding to float32 is correct (no double-rounding error).
 */
export function fma32(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  if (!Number.isFinite(s)) return Math.fround(s);
  const bb = s - p;
  const err = p - (s - bb) + (c - bb);
  if (err === 0) return Math.fround(s);
  f64[0] = s;
  if ((u32[LO] & 1) === 0) {
    // Move one ulp towards the exact value: this makes the (inexact) sum round-to-odd.
    const up = s > 0 === err > 0;
    if (up) {
      u32[LO] = (u32[LO] + 1) >>> 0;
      if (u32[LO] === 0) u32[HI] = (u32[HI] + 1) >>> 0;
    } else {
      if (u32[LO] === 0) u32[HI] = (u32[HI] - 1) >>> 0;
      u32[LO] = (u32[LO] - 1) >>> 0;
    }
  }
  return Math.fround(f64[0]);
}
