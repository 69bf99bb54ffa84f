import { expect } from 'chai';
import { Rng } from '../src/shapes/world/rng.js';

/** splitmix32 + xoshiro128** written again with BigInt arithmetic, as an independent check. */
function* referenceStream(seed: number): Generator<number> {
  const M = (1n << 32n) - 1n;
  let s = BigInt(seed >>> 0);
  const mix = () => {
    s = (s + 0x9e3779b9n) & M;
    let z = s;
    z = ((z ^ (z >> 16n)) * 0x85ebca6bn) & M;
    z = ((z ^ (z >> 13n)) * 0xc2b2ae35n) & M;
    return z ^ (z >> 16n);
  };
  const rotl = (x: bigint, k: bigint) => ((x << k) | (x >> (32n - k))) & M;
  let [a, b, c, d] = [mix(), mix(), mix(), mix()];
  for (;;) {
    const out = (rotl((b * 5n) & M, 7n) * 9n) & M;
    const t = (b << 9n) & M;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11n);
    yield Number(out);
  }
}

describe('world: Rng (xoshiro128** seeded by splitmix32)', () => {
  it('matches an independent BigInt implementation for 2000 draws of several seeds', () => {
    for (const seed of [0, 1, 42, 8888, 0xffffffff, -7]) {
      const rng = new Rng(seed);
      const ref = referenceStream(seed);
      for (let i = 0; i < 2000; i++) expect(rng.nextU32(), `seed ${seed}, draw ${i}`).to.equal(ref.next().value);
    }
  });

  it('same seed, same stream; different seeds, different streams', () => {
    const a = new Rng(123),
      b = new Rng(123),
      c = new Rng(124);
    const xa = Array.from({ length: 50 }, () => a.nextU32());
    expect(Array.from({ length: 50 }, () => b.nextU32())).to.deep.equal(xa);
    expect(Array.from({ length: 50 }, () => c.nextU32())).to.not.deep.equal(xa);
  });

  it('uniform stays in [lo, hi), int in [lo, hi] with every value hit, pick covers the list', () => {
    const rng = new Rng(5);
    const counts = new Map<number, number>();
    for (let i = 0; i < 20000; i++) {
      const u = rng.uniform(2, 3);
      expect(u).to.be.at.least(2).and.below(3);
      const k = rng.int(-3, 3);
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    expect([...counts.keys()].sort((x, y) => x - y)).to.deep.equal([-3, -2, -1, 0, 1, 2, 3]);
    for (const n of counts.values()) expect(n).to.be.within(2500, 3200); // ~2857 each
    const seen = new Set(Array.from({ length: 200 }, () => rng.pick(['a', 'b', 'c'])));
    expect([...seen].sort()).to.deep.equal(['a', 'b', 'c']);
  });

  it('rejects bad arguments with one-line errors', () => {
    expect(() => new Rng(NaN)).to.throw(/seed must be a finite number/);
    expect(() => new Rng(1).int(3, 2)).to.throw(/bad range \[3, 2\]/);
    expect(() => new Rng(1).pick([])).to.throw(/empty list/);
  });
});
