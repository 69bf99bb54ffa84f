/**
 * Native kernels (oneDNN over the wasm heap) against the cpu backend on random shapes, odd sizes
 * included: Conv2D / FusedConv2D (strides, dilations, paddings, 1×1, bias and activations), the
 * two convolution gradients, MatMul / BatchMatMul / _FusedMatMul with transposes and batch
 * broadcasting; GroupNorm(+SiLU), LayerNorm, GELU; run-to-run bit-identity; the wasm kernel for
 * cases the addon does not take.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { expectClose } from './helpers/close.js';
import { describeNative, maxAbs, onActive, onCpu, randomValues, useNativeBackend } from './helpers/native.js';
import { fusedGelu, fusedGroupNorm, fusedLayerNorm } from '../src/backend/fused-ops.js';

/** fp32 sums in a different order: error grows with the reduction length and the magnitude. */
function tol(ref: Float32Array, reduction: number) {
  return { atol: 2e-6 * Math.sqrt(reduction) * Math.max(1, maxAbs(ref)), rtol: 1e-5 };
}

interface ConvCase {
  x: number[];
  f: number[];
  strides: number | [number, number];
  pad: 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
  dilations?: number;
}

const convCases: ConvCase[] = [
  { x: [2, 9, 7, 5], f: [3, 3, 5, 6], strides: 1, pad: 'same' },
  { x: [1, 8, 8, 16], f: [3, 3, 16, 32], strides: 2, pad: 'same' },
  { x: [3, 11, 6, 3], f: [3, 3, 3, 7], strides: [2, 1], pad: 'valid' },
  { x: [2, 6, 6, 12], f: [1, 1, 12, 10], strides: 1, pad: 'valid' },
  { x: [1, 13, 13, 4], f: [5, 3, 4, 9], strides: 1, pad: 'same', dilations: 2 },
  {
    x: [2, 7, 9, 6],
    f: [3, 3, 6, 5],
    strides: 2,
    pad: [
      [0, 0],
      [1, 2],
      [0, 1],
      [0, 0],
    ],
  },
  { x: [1, 16, 16, 64], f: [3, 3, 64, 64], strides: 1, pad: 'same' },
];

const label = (c: ConvCase) =>
  `x [${c.x}] filter [${c.f}] strides ${c.strides} pad ${JSON.stringify(c.pad)}${c.dilations ? ` dilation ${c.dilations}` : ''}`;

describeNative('native kernels vs the cpu backend', function () {
  useNativeBackend();

  describe('Conv2D / FusedConv2D', () => {
    convCases.forEach((c, i) => {
      it(label(c), async () => {
        const x = randomValues(c.x, 10 + i);
        const f = randomValues(c.f, 20 + i);
        const run = (a: tf.Tensor, b: tf.Tensor) =>
          tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.strides, c.pad, 'NHWC', c.dilations ?? 1);
        const ref = await onCpu([x, f], run);
        expectClose(onActive([x, f], run), ref, tol(ref, c.f[0] * c.f[1] * c.f[2]), label(c));
      });
    });

    for (const activation of ['linear', 'relu', 'relu6', 'leakyrelu', 'sigmoid', 'elu'] as const) {
      it(`fused bias + ${activation}`, async () => {
        const c = convCases[0];
        const x = randomValues(c.x, 1);
        const f = randomValues(c.f, 2);
        const b = randomValues([c.f[3]], 3);
        const run = (a: tf.Tensor, w: tf.Tensor, bias: tf.Tensor) =>
          tf.fused.conv2d({
            x: a as tf.Tensor4D,
            filter: w as tf.Tensor4D,
            strides: 1,
            pad: 'same',
            bias,
            activation,
            leakyreluAlpha: 0.1,
          });
        const ref = await onCpu([x, f, b], run);
        expectClose(onActive([x, f, b], run), ref, tol(ref, 45), `fused conv ${activation}`);
      });
    }

    it('prelu runs the wasm kernel (same result)', async () => {
      const x = randomValues([1, 5, 5, 3], 4);
      const f = randomValues([3, 3, 3, 4], 5);
      const alpha = randomValues([4], 6);
      const run = (a: tf.Tensor, w: tf.Tensor, p: tf.Tensor) =>
        tf.fused.conv2d({
          x: a as tf.Tensor4D,
          filter: w as tf.Tensor4D,
          strides: 1,
          pad: 'same',
          activation: 'prelu',
          preluActivationWeights: p,
        });
      const ref = await onCpu([x, f, alpha], run);
      expectClose(onActive([x, f, alpha], run), ref, tol(ref, 27), 'prelu conv');
    });
  });

  describe('convolution gradients', () => {
    convCases
      .filter((c) => !c.dilations)
      .forEach((c, i) => {
        const cfg = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: undefined };
        const outShape = tf.backend_util.computeConv2DInfo(
          c.x as [number, number, number, number],
          c.f as [number, number, number, number],
          c.strides,
          1,
          c.pad,
        ).outShape;
        it(`Conv2DBackpropInput ${label(c)}`, async () => {
          const dy = randomValues(outShape, 30 + i);
          const f = randomValues(c.f, 40 + i);
          const run = (a: tf.Tensor, b: tf.Tensor) =>
            tf.engine().runKernel('Conv2DBackpropInput', { dy: a, filter: b }, {
              ...cfg,
              inputShape: c.x,
            } as unknown as tf.NamedAttrMap) as tf.Tensor;
          const ref = await onCpu([dy, f], run);
          expectClose(onActive([dy, f], run), ref, tol(ref, c.f[0] * c.f[1] * c.f[3]), `dx ${label(c)}`);
        });
        it(`Conv2DBackpropFilter ${label(c)}`, async () => {
          const x = randomValues(c.x, 50 + i);
          const dy = randomValues(outShape, 60 + i);
          const run = (a: tf.Tensor, b: tf.Tensor) =>
            tf.engine().runKernel('Conv2DBackpropFilter', { x: a, dy: b }, {
              ...cfg,
              filterShape: c.f,
            } as unknown as tf.NamedAttrMap) as tf.Tensor;
          const ref = await onCpu([x, dy], run);
          expectClose(
            onActive([x, dy], run),
            ref,
            tol(ref, outShape[0] * outShape[1] * outShape[2]),
            `dfilter ${label(c)}`,
          );
        });
      });
  });

  describe('MatMul / BatchMatMul / _FusedMatMul', () => {
    const cases: { a: number[]; b: number[]; ta: boolean; tb: boolean }[] = [
      { a: [7, 5], b: [5, 3], ta: false, tb: false },
      { a: [5, 7], b: [5, 3], ta: true, tb: false },
      { a: [7, 5], b: [3, 5], ta: false, tb: true },
      { a: [5, 7], b: [3, 5], ta: true, tb: true },
      { a: [4, 33, 17], b: [4, 17, 65], ta: false, tb: false },
      { a: [4, 17, 33], b: [4, 65, 17], ta: true, tb: true },
      { a: [2, 3, 9, 11], b: [2, 3, 11, 6], ta: false, tb: false },
      { a: [1, 9, 11], b: [5, 11, 6], ta: false, tb: false },
      { a: [5, 9, 11], b: [6, 11], ta: false, tb: true },
      { a: [129, 257], b: [257, 130], ta: false, tb: false },
    ];
    cases.forEach((c, i) => {
      it(`a [${c.a}]${c.ta ? 'ᵀ' : ''} · b [${c.b}]${c.tb ? 'ᵀ' : ''}`, async () => {
        const a = randomValues(c.a, 70 + i);
        const b = randomValues(c.b, 80 + i);
        const run = (x: tf.Tensor, y: tf.Tensor) => tf.matMul(x, y, c.ta, c.tb);
        const ref = await onCpu([a, b], run);
        const k = c.ta ? c.a[c.a.length - 2] : c.a[c.a.length - 1];
        expectClose(onActive([a, b], run), ref, tol(ref, k), 'matmul');
      });
    });
    for (const activation of ['linear', 'relu', 'elu', 'sigmoid'] as const) {
      it(`fused bias + ${activation}, transposeB`, async () => {
        const a = randomValues([3, 10, 24], 90);
        const b = randomValues([3, 12, 24], 91);
        const bias = randomValues([12], 92);
        const run = (x: tf.Tensor, y: tf.Tensor, z: tf.Tensor) =>
          tf.fused.matMul({ a: x, b: y, transposeB: true, bias: z, activation });
        const ref = await onCpu([a, b, bias], run);
        expectClose(onActive([a, b, bias], run), ref, tol(ref, 24), `fused matmul ${activation}`);
      });
    }
  });

  describe('GroupNorm (+SiLU), LayerNorm, GELU', () => {
    /** The tfjs-op formulas (what the library runs without the fused kernels). */
    const groupNormRef = (
      x: tf.Tensor,
      g: tf.Tensor | undefined,
      b: tf.Tensor | undefined,
      groups: number,
      eps: number,
      silu: boolean,
    ) => {
      const c = x.shape[x.shape.length - 1];
      const xg = tf.reshape(x, [x.shape[0], -1, groups, c / groups]);
      const { mean, variance } = tf.moments(xg, [1, 3], true);
      let y = tf.reshape(tf.mul(tf.sub(xg, mean), tf.rsqrt(tf.add(variance, eps))), x.shape);
      if (g) y = tf.add(tf.mul(y, g), b!);
      return silu ? tf.mul(y, tf.sigmoid(y)) : y;
    };
    const cases = [
      { x: [2, 9, 7, 12], groups: 4, affine: true, silu: false },
      { x: [1, 5, 5, 6], groups: 3, affine: false, silu: true },
      { x: [3, 11, 40], groups: 8, affine: true, silu: true },
      { x: [1, 64, 64, 32], groups: 32, affine: true, silu: false },
    ];
    cases.forEach((c, i) => {
      it(`GroupNorm x [${c.x}] ${c.groups} groups${c.affine ? ' affine' : ''}${c.silu ? ' + SiLU' : ''}`, async () => {
        const ch = c.x[c.x.length - 1];
        const x = randomValues(c.x, 200 + i);
        x.values.forEach((v, k) => (x.values[k] = 3 + 2 * v)); // an offset mean
        const g = randomValues([ch], 210 + i);
        const b = randomValues([ch], 220 + i);
        const ref = await onCpu([x, g, b], (xx, gg, bb) =>
          groupNormRef(xx, c.affine ? gg : undefined, c.affine ? bb : undefined, c.groups, 1e-5, c.silu),
        );
        const got = onActive([x, g, b], (xx, gg, bb) =>
          fusedGroupNorm(xx, c.groups, 1e-5, c.affine ? gg : undefined, c.affine ? bb : undefined, c.silu)!,
        );
        expectClose(got, ref, { atol: 2e-5, rtol: 1e-5 }, 'group norm');
      });
    });
    it('LayerNorm over the last axis, odd width', async () => {
      const x = randomValues([3, 7, 45], 230);
      const g = randomValues([45], 231);
      const b = randomValues([45], 232);
      const ref = await onCpu([x, g, b], (xx, gg, bb) => {
        const { mean, variance } = tf.moments(xx, -1, true);
        return tf.add(tf.mul(tf.mul(tf.sub(xx, mean), tf.rsqrt(tf.add(variance, 1e-5))), gg), bb);
      });
      expectClose(
        onActive([x, g, b], (xx, gg, bb) => fusedLayerNorm(xx, gg, bb, 1e-5)!),
        ref,
        { atol: 2e-5, rtol: 1e-5 },
        'layer norm',
      );
    });
    it('GELU (exact, erf) over [-12, 12], odd length', async () => {
      const n = 4099;
      const x = { shape: [n], values: Float32Array.from({ length: n }, (_, i) => -12 + (24 * i) / (n - 1)) };
      const ref = await onCpu([x], (xx) => tf.mul(tf.mul(xx, tf.add(tf.erf(tf.mul(xx, Math.SQRT1_2)), 1)), 0.5));
      expectClose(
        onActive([x], (xx) => fusedGelu(xx)!),
        ref,
        { atol: 1e-6, rtol: 2e-6 },
        'gelu',
      );
    });
  });

  it('is bit-for-bit deterministic run to run', () => {
    const x = randomValues([2, 16, 16, 32], 100);
    const f = randomValues([3, 3, 32, 48], 101);
    const dy = randomValues([2, 16, 16, 48], 102);
    const runs = [0, 1].map(() => [
      onActive([x, f], (a, b) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same')),
      onActive(
        [x, dy],
        (a, b) =>
          tf.engine().runKernel('Conv2DBackpropFilter', { x: a, dy: b }, {
            strides: 1,
            pad: 'same',
            dataFormat: 'NHWC',
            filterShape: [3, 3, 32, 48],
          } as unknown as tf.NamedAttrMap) as tf.Tensor,
      ),
      onActive(
        [dy, f],
        (a, b) =>
          tf.engine().runKernel('Conv2DBackpropInput', { dy: a, filter: b }, {
            strides: 1,
            pad: 'same',
            dataFormat: 'NHWC',
            inputShape: [2, 16, 16, 32],
          } as unknown as tf.NamedAttrMap) as tf.Tensor,
      ),
      onActive([x, dy], (a, b) => tf.matMul(tf.reshape(a, [512, 32]), tf.reshape(b, [512, 48]), true, false)),
    ]);
    runs[0].forEach((r, i) =>
      expect(Buffer.from(r.buffer).equals(Buffer.from(runs[1][i].buffer)), `output ${i}`).to.equal(true),
    );
  });
});
