/**
 * A seeded generator that reproduces `torch.randn(shape, generator=torch.Generator('cpu').manual_seed(seed))`
 * (float32) value for value, so a seed gives the same initial latents as PyTorch on the CPU.
 *
 * PyTorch's CPU normal sampler (aten/src/ATen/native/cpu/DistributionTemplates.h, `normal_kernel`):
 * - ≥ 16 elements: fill with uniform floats `(mt() & 0xFFFFFF) / 2^24`, then Box–Muller in blocks of
 *   16 (u1 = 1 − data[j], u2 = data[j+8], j < 8) with the AVX2 float32 log/sincos; when the size is not
 *   a multiple of 16 the last 16 values are re-drawn and recomputed.
 * - < 16 elements: one value at a time in double precision from 53-bit uniforms, caching the second
 *   Box–Muller value in the generator for the next draw (also across calls).
 * The large path reproduces the x86 AVX2 build (the usual desktop/server PyTorch); builds without it
 * (e.g. ARM) differ from it by up to ~2e-6.
 */
import { f32, sqrt32 } from '../util/scalar-float32.js';
import { MT19937 } from './random/mt19937.js';
import { logAvx, sincosAvx } from './random/avx-math.js';

const TWO_PI_F32 = f32(2 * Math.PI);
const TWO_POW_24 = 16777216;
const TWO_POW_32 = 4294967296;
const TWO_POW_53 = 9007199254740992;

/** PyTorch-compatible CPU generator (mt19937) with `randn`. */
export class TorchGenerator {
  private engine: MT19937;
  private cachedNormal: number | null = null;

  /** Same as `torch.Generator('cpu').manual_seed(seed)`; only the low 32 bits of the seed matter. */
  constructor(seed: number | bigint) {
    this.engine = new MT19937(seedLow32(seed));
  }

  /** Re-seeds, dropping any cached normal value (as `manual_seed`). */
  manualSeed(seed: number | bigint): this {
    this.engine = new MT19937(seedLow32(seed));
    this.cachedNormal = null;
    return this;
  }

  /** Standard-normal float32 values in row-major order for `shape` (as `torch.randn(shape, generator=g)`). */
  randn(shape: readonly number[]): Float32Array {
    let n = 1;
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new Error(`randn: shape must be non-negative integers, got [${shape.join(', ')}]`);
      n *= d;
    }
    const out = new Float32Array(n);
    if (n >= 16) this.fillVectorized(out);
    else for (let i = 0; i < n; i++) out[i] = this.normalDouble();
    return out;
  }

  /** `n` float32 values uniform in [lo, hi) from the generator's 24-bit uniform stream. */
  rand(n: number, lo = 0, hi = 1): Float32Array {
    if (!Number.isInteger(n) || n < 0) throw new Error(`rand: count must be a non-negative integer, got ${n}`);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * this.uniformFloat();
    return out;
  }

  private uniformFloat(): number {
    return (this.engine.next() & 0xffffff) / TWO_POW_24;
  }

  private uniformDouble(): number {
    const hi = this.engine.next();
    const lo = this.engine.next();
    // (hi·2^32 + lo) & (2^53 − 1), scaled to [0, 1)
    return ((hi & 0x1fffff) * TWO_POW_32 + lo) / TWO_POW_53;
  }

  private fillVectorized(out: Float32Array): void {
    const n = out.length;
    for (let i = 0; i < n; i++) out[i] = this.uniformFloat();
    for (let i = 0; i + 16 <= n; i += 16) boxMuller16(out, i);
    if (n % 16 !== 0) {
      const start = n - 16;
      for (let i = 0; i < 16; i++) out[start + i] = this.uniformFloat();
      boxMuller16(out, start);
    }
  }

  private normalDouble(): number {
    if (this.cachedNormal !== null) {
      const v = this.cachedNormal;
      this.cachedNormal = null;
      return v;
    }
    const u1 = this.uniformDouble();
    const u2 = this.uniformDouble();
    const r = Math.sqrt(-2 * Math.log(1 - u2));
    const theta = 2 * Math.PI * u1;
    this.cachedNormal = r * Math.sin(theta);
    return r * Math.cos(theta);
  }
}

/** In-place float32 Box–Muller on data[o..o+16) (`normal_fill_16_AVX2` with mean 0, std 1). */
function boxMuller16(data: Float32Array, o: number): void {
  for (let j = 0; j < 8; j++) {
    const u1 = f32(1 - data[o + j]);
    const u2 = data[o + j + 8];
    const radius = sqrt32(f32(-2 * logAvx(u1)));
    const theta = f32(TWO_PI_F32 * u2);
    const [sin, cos] = sincosAvx(theta);
    data[o + j] = f32(radius * cos);
    data[o + j + 8] = f32(radius * sin);
  }
}

function seedLow32(seed: number | bigint): number {
  if (typeof seed === 'bigint') return Number(BigInt.asUintN(32, seed));
  if (!Number.isSafeInteger(seed)) throw new Error(`TorchGenerator: seed must be an integer, got ${seed}`);
  return Number(BigInt.asUintN(32, BigInt(seed)));
}
