/**
 * Channel-chunked convolutions on wasm (src/backend/wasm-conv-split.ts) against the stock
 * kernel: same results (to float rounding of the longer sums) for fused and plain convs, with
 * and without bias, strided, and the chunk plan itself.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { convChunks, setConvSplit } from '../src/backend/wasm-conv-split.js';
import { expectClose } from './helpers/close.js';
import { expectNoLeak } from './helpers/leaks.js';
import { skipUnlessBackend } from './helpers/backend-skip.js';

function both<T extends tf.Tensor>(f: () => T): { split: T; stock: T } {
  setConvSplit(false);
  const stock = f();
  setConvSplit(true);
  const split = f();
  return { split, stock };
}

describe('wasm channel-chunked conv2d', function () {
  before(function () {
    skipUnlessBackend(this, ['wasm'], 'the wasm channel-chunked conv2d suite');
  });
  after(() => setConvSplit(true));

  it('plans chunks of ≤ 320 channels for 3×3 convs past 640 input channels', () => {
    expect(convChunks([3, 3, 320, 320])).to.deep.equal([320]);
    expect(convChunks([3, 3, 640, 640])).to.deep.equal([640]);
    expect(convChunks([3, 3, 1280, 1280])).to.deep.equal([320, 320, 320, 320]);
    expect(convChunks([3, 3, 1920, 640])).to.deep.equal([320, 320, 320, 320, 320, 320]);
    expect(convChunks([3, 3, 2560, 1280])).to.have.length(8);
    expect(convChunks([3, 3, 1000, 8]).reduce((a, b) => a + b)).to.equal(1000);
    expect(convChunks([1, 1, 2560, 1280])).to.deep.equal([2560]);
  });

  for (const [what, cin, stride, bias] of [
    ['fused with bias', 1280, 1, true],
    ['fused, no bias, 1000 channels', 1000, 1, false],
    ['stride 2', 1280, 2, true],
  ] as const) {
    it(`${what}: matches the stock kernel`, () => {
      const x = tf.randomNormal([2, 9, 9, cin], 0, 1, 'float32', 1) as tf.Tensor4D;
      const w = tf.randomNormal([3, 3, cin, 48], 0, 0.03, 'float32', 2) as tf.Tensor4D;
      const b = bias ? (tf.randomNormal([48], 0, 1, 'float32', 3) as tf.Tensor1D) : undefined;
      const { split, stock } = both(() =>
        tf.fused.conv2d({ x, filter: w, bias: b, strides: stride, pad: stride === 1 ? 'same' : 'valid' }),
      );
      expect(split.shape).to.deep.equal(stock.shape);
      // Sums of ~10⁴ terms of size ~0.03 (outputs ~3): float32 rounding differs by a few 1e-5.
      expectClose(split, stock, { atol: 1.5e-4, rtol: 1e-5 }, what);
      tf.dispose([x, w, split, stock, ...(b ? [b] : [])]);
    });
  }

  it('plain tf.conv2d, and no tensors leak', async () => {
    const x = tf.randomNormal([1, 6, 6, 1280], 0, 1, 'float32', 4) as tf.Tensor4D;
    const w = tf.randomNormal([3, 3, 1280, 16], 0, 0.03, 'float32', 5) as tf.Tensor4D;
    const { split, stock } = both(() => tf.conv2d(x, w, 1, 'same'));
    expectClose(split, stock, { atol: 1.5e-4, rtol: 1e-5 }, 'conv2d');
    await expectNoLeak('split conv2d', () => Object.values(both(() => tf.conv2d(x, w, 1, 'same'))));
    tf.dispose([x, w, split, stock]);
  });
});
