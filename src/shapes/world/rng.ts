/**
 * A small seeded pseudo-random generator for the shapes world: xoshiro128** seeded through
 * splitmix32. Only 32-bit integer arithmetic (`Math.imul`, `>>> 0`), so a seed gives the same
 * stream on every platform and JS engine.
 */

/** splitmix32: one step of the seed scrambler (used to fill the xoshiro state from one seed). */
function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** Seeded generator with uniform / int / pick helpers. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** Any finite number seeds it; only its low 32 bits (as an unsigned integer) matter. */
  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new Error(`Rng: seed must be a finite number, got ${seed}`);
    const st = { s: seed | 0 }; // ToInt32: the seed modulo 2^32
    this.a = splitmix32(st);
    this.b = splitmix32(st);
    this.c = splitmix32(st);
    this.d = splitmix32(st);
  }

  /** The next 32-bit unsigned integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** A uniform float in [lo, hi) (default [0, 1)), 32 bits of resolution. */
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * (this.nextU32() / 4294967296);
  }

  /** A uniform integer in [lo, hi] (both ends included). */
  int(lo: number, hi: number): number {
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || hi < lo) throw new Error(`Rng.int: bad range [${lo}, ${hi}]`);
    return lo + Math.floor(this.uniform() * (hi - lo + 1));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.uniform() < p;
  }

  /** A uniformly chosen element of a non-empty list. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('Rng.pick: empty list');
    return items[Math.floor(this.uniform() * items.length)];
  }

  /** A new generator seeded from this stream (for independent sub-streams). */
  fork(): Rng {
    return new Rng(this.nextU32());
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
