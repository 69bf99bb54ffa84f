import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { attend, setAttentionStrategy, type AttentionStrategy } from '../src/nn/attention-core.js';
import { Attention, setAttentionSlice } from '../src/nn/attention.js';
import { Module } from '../src/nn/module.js';
import { ClipAttention } from '../src/models/clip/text-layers.js';
import { expectClose } from './helpers/close.js';

/** Sliced attention (query chunks) computes the same as one pass, with and without a mask. */
describe('attention: query slicing', () => {
  afterEach(() => {
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
        const whole = attend(q, k, k, { heads: 4, mask });
        const before = tf.memory().numTensors;
        const sliced = attend(q, k, k, { heads: 4, mask, sliceSize: 7 });
        expect(tf.memory().numTensors).to.equal(before + 1);
        expectClose(sliced, whole, { atol: 1e-6, rtol: 1e-6 }, `${strategy} sliced vs whole`);
        tf.dispose([whole, sliced]);
      }
      tf.dispose([q, kv, ctx, causal]);
    });
  }

  it('rejects a slice size below 1', () => {
    const q = tf.zeros([1, 4, 8]) as tf.Tensor3D;
    expect(() => attend(q, q, q, { heads: 2, sliceSize: 0 })).to.throw('attention slice size must be ≥ 1, got 0');
    expect(() => setAttentionSlice(new Attention({ queryDim: 8, heads: 2, dimHead: 4 }), 0)).to.throw('attention slice size must be ≥ 1, got 0');
    q.dispose();
  });

  it('is an option of a model: setAttentionSlice reaches every attention layer of that model only', () => {
    class Net extends Module {
      readonly a = this.addModule('a', new Attention({ queryDim: 8, heads: 2, dimHead: 4 }));
      readonly b = this.addModules('b', [new ClipAttention(8, 2)]);
    }
    const net = new Net();
    const other = new Attention({ queryDim: 8, heads: 2, dimHead: 4 });
    setAttentionSlice(net, 7);
    expect([net.a.attentionSlice, net.b[0].attentionSlice, other.attentionSlice]).to.deep.equal([7, 7, undefined]);
    setAttentionSlice(net, undefined);
    expect([net.a.attentionSlice, net.b[0].attentionSlice]).to.deep.equal([undefined, undefined]);
  });
});
