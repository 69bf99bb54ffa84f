/**
 * Native weight packing (src/backend/packed-weights.ts, native/src/packed.cc): a model weight is
 * reordered into oneDNN's layout once and kept; the packed path computes what the plain path
 * (reorder per call) does, a changed weight is never served from a stale copy, and a disposed
 * one frees its copy.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { Conv2d } from '../src/nn/conv2d.js';
import { Linear } from '../src/nn/linear.js';
import type { Module } from '../src/nn/module.js';
import type { Residency } from '../src/nn/param.js';
import { UNet2DConditionModel } from '../src/models/unet/unet.js';
import { registerGradients } from '../src/backend/gradients/index.js';
import { loadNativeAddon } from '../src/node/native/addon.js';
import { nativeWeightPacking, setNativeWeightPacking } from '../src/node/native/install.js';
import { expectClose } from './helpers/close.js';
import { describeNative, maxAbs, randomValues, useNativeBackend } from './helpers/native.js';

function setRandom(m: Module, seed: number): void {
  for (const [, p] of m.namedParams())
    p.setTorchValues(randomValues([...p.torchShape], seed++).values.map((v) => v * 0.2));
}

/** `f`'s output values with packing on or off. */
function run(packing: boolean, f: () => tf.Tensor): Float32Array {
  setNativeWeightPacking(packing);
  const t = tf.tidy(f);
  const v = t.dataSync() as Float32Array;
  t.dispose();
  return v;
}

const packed = () => loadNativeAddon().packedInfo();

describeNative('native weight packing', function () {
  useNativeBackend();
  after(() => setNativeWeightPacking(nativeWeightPacking()));

  for (const residency of ['stream', 'resident'] as Residency[]) {
    it(`a ${residency} conv weight is packed once; large outputs equal the plain path bit for bit, small ones within fp32 rounding`, () => {
      const conv = new Conv2d(24, 40, 3, 1, 1);
      conv.setResidency(residency);
      setRandom(conv, 1);
      try {
        for (const [size, exact] of [
          [24, true],
          [8, false],
        ] as const) {
          // N·OH·OW > 1024 runs the blocked filter either way; ≤ 1024 runs HWIO as stored when not packed.
          const x = tf.tensor4d(randomValues([2, size, size, 24], 7).values, [2, size, size, 24]);
          const plain = run(false, () => conv.forward(x));
          const count0 = packed().count;
          const first = run(true, () => conv.forward(x));
          expect(packed().count).to.equal(count0 + 1);
          const second = run(true, () => conv.forward(x));
          expect(packed().count).to.equal(count0 + 1);
          expect(Array.from(second)).to.deep.equal(Array.from(first));
          if (exact) expect(Array.from(first)).to.deep.equal(Array.from(plain));
          else
            expectClose(
              first,
              plain,
              { atol: 2e-6 * Math.sqrt(9 * 24) * Math.max(1, maxAbs(plain)), rtol: 1e-5 },
              `conv ${size}²`,
            );
          x.dispose();
        }
      } finally {
        conv.dispose();
      }
    });
  }

  it('a linear weight: packed equals plain bit for bit; new values are never served from the stale copy; dispose frees it', () => {
    const lin = new Linear(48, 40);
    lin.setResidency('stream');
    setRandom(lin, 3);
    const x = tf.tensor2d(randomValues([64, 48], 9).values, [64, 48]);
    try {
      const plain = run(false, () => lin.forward(x));
      const count0 = packed().count;
      expect(Array.from(run(true, () => lin.forward(x)))).to.deep.equal(Array.from(plain));
      expect(packed().count).to.equal(count0 + 1);
      setRandom(lin, 11);
      expect(packed().count).to.equal(count0);
      const changedPlain = run(false, () => lin.forward(x));
      const changed = run(true, () => lin.forward(x));
      expect(Array.from(changed)).to.deep.equal(Array.from(changedPlain));
      expect(Array.from(changed)).to.not.deep.equal(Array.from(plain));
      lin.dispose();
      expect(packed().count).to.equal(count0);
    } finally {
      x.dispose();
      lin.dispose();
    }
  });

  it('a square weight read as b and as bᵀ (forward, then the gradient to the input) is packed once per layout, never confused', () => {
    // x·W and dY·Wᵀ ask oneDNN for the same packed desc when W is square; the copy made from one
    // data order must not serve the other (it did: every gradient through a square weight was wrong).
    const lin = new Linear(32, 32);
    lin.setResidency('resident');
    setRandom(lin, 4);
    const x = tf.tensor2d(randomValues([40, 32], 12).values, [40, 32]);
    const r = tf.tensor2d(randomValues([40, 32], 13).values, [40, 32]);
    registerGradients();
    const grad = () => tf.grad((v: tf.Tensor) => tf.sum(tf.mul(lin.forward(v as tf.Tensor2D), r)))(x);
    try {
      const plain = run(false, grad);
      const count0 = packed().count;
      const first = run(true, grad);
      expect(packed().count - count0, 'packed copies: W as b and as bᵀ').to.equal(2);
      expect(Array.from(run(true, grad)), 'run to run').to.deep.equal(Array.from(first));
      expect(Array.from(run(true, () => lin.forward(x))), 'forward after the backward').to.deep.equal(
        Array.from(run(false, () => lin.forward(x))),
      );
      expectClose(
        first,
        plain,
        { atol: 1e-6 * Math.max(1, maxAbs(plain)), rtol: 1e-5 },
        'd input through a square weight',
      );
    } finally {
      tf.dispose([x, r]);
      lin.dispose();
    }
  });

  it('a UNet step with packed weights equals the plain one within fp32 rounding, run to run bit for bit', function () {
    this.timeout(120000);
    const unet = UNet2DConditionModel.fromConfig({
      in_channels: 4,
      out_channels: 4,
      block_out_channels: [32, 64],
      layers_per_block: 1,
      attention_head_dim: 4,
      down_block_types: ['CrossAttnDownBlock2D', 'DownBlock2D'],
      up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D'],
      cross_attention_dim: 24,
      norm_num_groups: 8,
    });
    unet.setResidency('stream');
    setRandom(unet, 5);
    const sample = tf.tensor4d(randomValues([2, 16, 16, 4], 1).values, [2, 16, 16, 4]);
    const context = tf.tensor3d(randomValues([2, 5, 24], 2).values, [2, 5, 24]);
    try {
      const plain = run(false, () => unet.forward(sample, 500, context));
      const count0 = packed().count;
      const a = run(true, () => unet.forward(sample, 500, context));
      const n = packed().count - count0;
      expect(n).to.be.greaterThan(30); // every conv and linear weight of the model
      const b = run(true, () => unet.forward(sample, 500, context));
      expect(packed().count - count0).to.equal(n);
      expect(Array.from(b)).to.deep.equal(Array.from(a));
      expectClose(a, plain, { atol: 1e-5 * Math.max(1, maxAbs(plain)), rtol: 1e-5 }, 'UNet step');
    } finally {
      tf.dispose([sample, context]);
      unet.dispose();
    }
  });
});
