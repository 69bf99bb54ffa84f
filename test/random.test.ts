import { expect } from 'chai';
import { TorchGenerator } from '../src/models/random.js';
import { describeRef, fixtureTensor, hasReference, readJson } from './helpers/reference.js';

interface RandnEntry {
  key: string;
  seed: number;
  shape: number[];
}

/** Number of elements that differ, and the largest absolute difference. */
function diff(a: Float32Array, b: Float32Array): { mismatches: number; maxAbs: number } {
  let mismatches = 0;
  let maxAbs = 0;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d === 0)) mismatches++;
    if (d > maxAbs || Number.isNaN(d)) maxAbs = d;
  }
  return { mismatches, maxAbs };
}

describeRef('TorchGenerator vs torch.randn (cases/torch_randn)', () => {
  // (describe.skip still runs this body when the fixtures are missing)
  const index = hasReference ? readJson<{ tensors: RandnEntry[] }>('cases/torch_randn.json') : { tensors: [] };

  for (const e of index.tensors) {
    it(`seed ${e.seed}, shape [${e.shape}]: bit-exact`, async () => {
      const want = await fixtureTensor('cases/torch_randn.safetensors', e.key);
      expect(want.shape).to.deep.equal(e.shape);
      const got = new TorchGenerator(e.seed).randn(e.shape);
      expect(got.length).to.equal(want.data.length);
      const d = diff(got, want.data);
      expect(d, `${e.key}: ${d.mismatches} values differ, max |diff| ${d.maxAbs}`).to.deep.equal({
        mismatches: 0,
        maxAbs: 0,
      });
    });
  }

  it('follow-on calls continue the same generator stream (*_then_1x4x8x8)', async () => {
    for (const seed of [0, 42, 1234, 8888]) {
      const want = await fixtureTensor('cases/torch_randn.safetensors', `seed${seed}_1x4x64x64_then_1x4x8x8`);
      const g = new TorchGenerator(seed);
      g.randn([1, 4, 64, 64]);
      const d = diff(g.randn([1, 4, 8, 8]), want.data);
      expect(d, `seed ${seed}`).to.deep.equal({ mismatches: 0, maxAbs: 0 });
    }
  });
});

describe('TorchGenerator behaviour', () => {
  it('small draws cache the second Box–Muller value across calls', () => {
    const one = new TorchGenerator(7).randn([6]);
    const g = new TorchGenerator(7);
    const parts = [...g.randn([3]), ...g.randn([3])];
    expect(parts).to.deep.equal([...one]);
  });

  it('manualSeed restarts the stream and drops the cache; bigint seeds use the low 32 bits', () => {
    const g = new TorchGenerator(5);
    const first = g.randn([5]);
    g.randn([20]);
    expect([...g.manualSeed(5).randn([5])]).to.deep.equal([...first]);
    expect([...new TorchGenerator(5n + (1n << 40n)).randn([20])]).to.deep.equal([...new TorchGenerator(5).randn([20])]);
  });

  it('empty shapes draw nothing; bad shapes and seeds throw', () => {
    const g = new TorchGenerator(1);
    expect(g.randn([0, 4]).length).to.equal(0);
    expect([...g.randn([17])]).to.deep.equal([...new TorchGenerator(1).randn([17])]);
    expect(() => g.randn([2, -1])).to.throw(/non-negative integers/);
    expect(() => new TorchGenerator(1.5)).to.throw(/integer/);
  });
});
