import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import {
  attend,
  attentionStats,
  resetAttentionStats,
  setAttentionStrategy,
  type AttentionStrategy,
} from '../src/nn/attention-core.js';
import { Attention, setAttentionSlice } from '../src/nn/attention.js';
import { Module } from '../src/nn/module.js';
import { ClipAttention } from '../src/models/clip/text-layers.js';
import { expectClose } from './helpers/close.js';
import { setTensorBytesLimit, tensorBytesLimit } from '../src/backend/gpu-limits.js';
import type { AttentionContext, AttentionController } from '../src/nn/attention-control.js';

/** Sliced attention (query chunks) computes the same as one pass, with and without a mask. */
describe('attention: query slicing', () => {
  afterEach(() => {
    setAttentionStrategy(undefined);
    setTensorBytesLimit(undefined);
  });

  for (const strategy of ['batched', 'per-head'] as AttentionStrategy[]) {
    it(`${strategy}: chunks of 7 queries give the unsliced result (self, cross, causal mask)`, () => {
      setAttentionStrategy(strategy);
      const q = tf.randomNormal([2, 30, 16], 0, 1, 'float32', 1) as tf.Tensor3D;
      const kv = tf.randomNormal([2, 30, 16], 0, 1, 'float32', 2) as tf.Tensor3D;
      const ctx = tf.randomNormal([2, 11, 16], 0, 1, 'float32', 3) as tf.Tensor3D;
      const causal = tf.tensor2d(
        Array.from({ length: 900 }, (_, i) => (i % 30 > Math.floor(i / 30) ? -1e9 : 0)),
        [30, 30],
      );
      const cases: [tf.Tensor3D, tf.Tensor | undefined][] = [
        [kv, undefined],
        [ctx, undefined],
        [kv, causal],
      ];
      for (const [k, mask] of cases) {
        resetAttentionStats();
        const whole = attend(q, k, k, { heads: 4, mask });
        expect(attentionStats(), 'unsliced: one chunk').to.deep.equal({
          calls: { fused: 0, batched: 0, 'per-head': 0, [strategy]: 1 },
          queryChunks: 1,
        });
        const before = tf.memory().numTensors;
        resetAttentionStats();
        const sliced = attend(q, k, k, { heads: 4, mask, sliceSize: 7 });
        // 30 queries in chunks of 7: 7, 7, 7, 7, 2.
        expect(attentionStats(), `sliced${mask ? ' with a mask' : ''}`).to.deep.equal({
          calls: { fused: 0, batched: 0, 'per-head': 0, [strategy]: 1 },
          queryChunks: 5,
        });
        expect(tf.memory().numTensors).to.equal(before + 1);
        expectClose(sliced, whole, { atol: 1e-6, rtol: 1e-6 }, `${strategy} sliced vs whole`);
        tf.dispose([whole, sliced]);
      }
      tf.dispose([q, kv, ctx, causal]);
    });
  }

  it("batched: no chunk of scores passes the per-tensor limit (WebGPU's binding size), also against an explicit slice size; a controller's whole probabilities over it are refused", () => {
    setAttentionStrategy('batched');
    expect(tensorBytesLimit(), 'no device limit off WebGPU').to.equal(Infinity);
    const q = tf.randomNormal([2, 30, 16], 0, 1, 'float32', 1) as tf.Tensor3D;
    const k = tf.randomNormal([2, 30, 16], 0, 1, 'float32', 2) as tf.Tensor3D;
    const whole = attend(q, k, k, { heads: 4 });
    // One query row of scores: batch 2 · 4 heads · 30 keys · 4 bytes = 960 bytes; 5 rows fit 4800.
    setTensorBytesLimit(4800);
    for (const sliceSize of [undefined, 7, 1000]) {
      resetAttentionStats();
      const sliced = attend(q, k, k, { heads: 4, sliceSize });
      expect(attentionStats().queryChunks, `slice size ${sliceSize}`).to.equal(6);
      expectClose(sliced, whole, { atol: 1e-6, rtol: 1e-6 }, 'limited vs whole');
      sliced.dispose();
    }
    const seeAll: AttentionController = { onAttention: (p) => p };
    const ctx: AttentionContext = {
      isCross: false,
      place: 'down',
      layerIndex: 0,
      numLayers: 1,
      blockIndex: 0,
      name: 'down.0.attn1',
      step: 0,
      height: 5,
      width: 6,
      latent: { height: 5, width: 6 },
      queries: 30,
      keys: 30,
      heads: 4,
      batch: 2,
    };
    expect(() => attend(q, k, k, { heads: 4, controller: seeAll, ctx })).to.throw(
      'attention down.0.attn1: the controller needs the probabilities [8, 30, 30] (28800 bytes) in one tensor, more than this backend binds in one buffer (4800 bytes); use fewer prompts or a smaller image',
    );
    expect(() => setTensorBytesLimit(0)).to.throw('tensor bytes limit must be at least 4, got 0');
    tf.dispose([q, k, whole]);
  });

  it('rejects a slice size below 1', () => {
    const q = tf.zeros([1, 4, 8]) as tf.Tensor3D;
    expect(() => attend(q, q, q, { heads: 2, sliceSize: 0 })).to.throw('attention slice size must be ≥ 1, got 0');
    expect(() => setAttentionSlice(new Attention({ queryDim: 8, heads: 2, dimHead: 4 }), 0)).to.throw(
      'attention slice size must be ≥ 1, got 0',
    );
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
    // ... and the layers run in chunks of 7 queries (30 queries: 5 chunks), the other layer unsliced.
    for (const m of [net, other])
      for (const [, p] of m.namedParams())
        p.setTorchValues(Float32Array.from({ length: p.size }, (_, i) => Math.sin(i) * 0.3));
    setAttentionStrategy('batched');
    const x = tf.randomNormal([1, 30, 8], 0, 1, 'float32', 4) as tf.Tensor3D;
    for (const [layer, chunks] of [
      [net.a, 5],
      [net.b[0], 5],
      [other, 1],
    ] as const) {
      resetAttentionStats();
      tf.dispose(layer.forward(x));
      expect(attentionStats().queryChunks, layer === other ? 'other layer' : 'layer of net').to.equal(chunks);
    }
    x.dispose();
    setAttentionSlice(net, undefined);
    expect([net.a.attentionSlice, net.b[0].attentionSlice]).to.deep.equal([undefined, undefined]);
  });
});
