import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { attend, setAttentionSliceSize, setAttentionStrategy, type AttentionStrategy } from '../src/nn/attention-core.js';
import { expectClose } from './helpers/close.js';

/** Sliced attention (query chunks) computes the same as one pass, with and without a mask. */
describe('attention: query slicing', () => {
  afterEach(() => {
    setAttentionSliceSize(undefined);
    setAttentionStrategy(undefined);
  });

  for (const strategy of ['batched', 'per-head'] as AttentionStrategy[]) {
    it(`${strategy}: chunks of 7 queries give the unsliced result (self, cross, causal mask)`, () => {
      setAttentionStrategy(strategy);
      const q = tf.randomNormal([2, 30, 16], 0, 1, 'float32', 1) as tf.Tensor3D;
      const kv = tf.randomNormal([2, 30, 16], 0, 1, 'float32', 2) as tf.Tensor3D;
      const ctx = tf.randomNormal([2, 11, 16], 0, 1, 'float32', 3) as tf.Tensor3D;
      const causal = tf.tensor2d(Array.from({ length: 900 }, (_, i) => (i % 30 > Math.floor(i / 30) ? -1e9 : 0)), [30, 30]);
      const cases: [tf.Tensor3D, tf.Tensor | undefined][] = [[kv, undefined], [ctx, undefined], [kv, causal]];
      for (const [k, mask] of cases) {
        setAttentionSliceSize(undefined);
        const whole = attend(q, k, k, { heads: 4, mask });
        setAttentionSliceSize(7);
        const before = tf.memory().numTensors;
        const sliced = attend(q, k, k, { heads: 4, mask });
        expect(tf.memory().numTensors).to.equal(before + 1);
        expectClose(sliced, whole, { atol: 1e-6, rtol: 1e-6 }, `${strategy} sliced vs whole`);
        tf.dispose([whole, sliced]);
      }
      tf.dispose([q, kv, ctx, causal]);
    });
  }

  it('rejects a slice size below 1', () => {
    expect(() => setAttentionSliceSize(0)).to.throw('attention slice size must be ≥ 1, got 0');
  });
});
