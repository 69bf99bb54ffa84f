/** A seeded pseudo-random generator (xorshift32 over a mixed seed): the same seed, the same cases. */
export class Rng {
  private s: number;

  constructor(seed: number) {
    this.s = Math.imul((seed ^ 0x9e3779b9) >>> 0, 0x85ebca6b) >>> 0 || 1;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let s = this.s;
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    this.s = s >>> 0;
    return this.s / 2 ** 32;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** `n` random bytes. */
  bytes(n: number): Uint8Array {
    return Uint8Array.from({ length: n }, () => this.int(256));
  }
}

/** The seed of case `i` of target `target` in a run seeded with `seed` (cases are independent). */
export function caseSeed(seed: number, target: string, i: number): number {
  let h = seed >>> 0;
  for (const c of `${target}:${i}`) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  return h;
}

/** A generator for a fixed purpose (set-up data), independent of the run's seed. */
export function rngFor(label: string): Rng {
  return new Rng(caseSeed(1, label, 0));
}
