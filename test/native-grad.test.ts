/**
 * tf.grad through the native kernels: the gradients of a small conv + matmul net (two convs, the
 * second strided, a bias, relu, a dense layer; conv gradients use Conv2DBackpropInput/Filter,
 * the dense one transposed matmuls) match the cpu backend, with the library's own gradients
 * (src/backend/gradients); so do the value and gradients of the differentiable group norm
 * (PtpGroupNorm/PtpGroupNormGrad: native here, JS loops on cpu), with and without affine/SiLU.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { registerGradients } from '../src/backend/gradients/index.js';
import { fusedGroupNorm } from '../src/backend/fused-ops.js';
import { fusedGroupNorm as trainableGroupNorm } from '../src/backend/group-norm-kernel.js';
import { nativeKernelActive } from '../src/node/native/install.js';
import { expectClose } from './helpers/close.js';
import { describeNative, maxAbs, randomValues, useNativeBackend } from './helpers/native.js';

registerGradients();

const inputs = [
  randomValues([4, 10, 10, 3], 1), // x
  randomValues([3, 3, 3, 8], 2), // conv 1
  randomValues([8], 3), // bias 1
  randomValues([3, 3, 8, 16], 4), // conv 2, stride 2
  randomValues([5 * 5 * 16, 7], 5), // dense
];

/** Loss of the net and its gradients with respect to every input, on the active backend. */
function gradients(): Float32Array[] {
  return tf.tidy(() => {
    const ts = inputs.map((i) => tf.tensor(i.values, i.shape));
    const loss = (x: tf.Tensor, w1: tf.Tensor, b1: tf.Tensor, w2: tf.Tensor, w3: tf.Tensor) => {
      const h1 = tf.relu(tf.add(tf.conv2d(x as tf.Tensor4D, w1 as tf.Tensor4D, 1, 'same'), b1));
      const h2 = tf.conv2d(h1 as tf.Tensor4D, w2 as tf.Tensor4D, 2, 'same');
      const y = tf.matMul(tf.reshape(h2, [4, 5 * 5 * 16]), w3);
      return tf.sum(tf.square(y));
    };
    const { value, grads } = tf.valueAndGrads(loss as (...a: tf.Tensor[]) => tf.Scalar)(ts);
    return [value, ...grads].map((t) => t.dataSync() as Float32Array);
  });
}

/** Group norm cases: x [B, H, W, C], groups, affine, SiLU. */
const normCases = [
  { x: [2, 6, 5, 32], groups: 8, affine: true, silu: true },
  { x: [3, 4, 4, 12], groups: 4, affine: true, silu: false },
  { x: [1, 7, 3, 20], groups: 5, affine: false, silu: true },
];

/** Value and gradients (x, and γ/β when affine) of Σ r·groupNorm(x) on the active backend. */
function normGradients(c: (typeof normCases)[number], i: number): Float32Array[] {
  return tf.tidy(() => {
    const ch = c.x[3];
    const [x, g, b, r] = [
      randomValues(c.x, 10 + i),
      randomValues([ch], 20 + i),
      randomValues([ch], 30 + i),
      randomValues(c.x, 40 + i),
    ].map((v) => tf.tensor(v.values, v.shape));
    const f = (xx: tf.Tensor, gg?: tf.Tensor, bb?: tf.Tensor) =>
      tf.sum(tf.mul(trainableGroupNorm(xx, gg, bb, { groups: c.groups, eps: 1e-5, silu: c.silu }), r)) as tf.Scalar;
    const { value, grads } = tf.valueAndGrads(f as (...a: tf.Tensor[]) => tf.Scalar)(c.affine ? [x, g, b] : [x]);
    return [value, ...grads].map((t) => t.dataSync() as Float32Array);
  });
}

describeNative('tf.grad through the native kernels', function () {
  let ref: Float32Array[];
  let normRef: Float32Array[][];
  before(async () => {
    const active = tf.getBackend();
    await tf.setBackend('cpu');
    ref = gradients();
    normRef = normCases.map(normGradients);
    await tf.setBackend(active);
  });
  useNativeBackend();

  it('loss and gradients of a conv + matmul net match the cpu backend', () => {
    const got = gradients();
    const names = ['loss', 'dx', 'dconv1', 'dbias1', 'dconv2', 'ddense'];
    got.forEach((g, i) => expectClose(g, ref[i], { atol: 1e-5 * Math.max(1, maxAbs(ref[i])), rtol: 1e-5 }, names[i]));
  });

  normCases.forEach((c, i) => {
    it(`differentiable group norm x [${c.x}], ${c.groups} groups${c.affine ? ', affine' : ''}${c.silu ? ', SiLU' : ''}: value and gradients match cpu`, () => {
      expect(['PtpGroupNorm', 'PtpGroupNormGrad'].map(nativeKernelActive)).to.deep.equal([true, true]);
      normGradients(c, i).forEach((g, k) =>
        expectClose(
          g,
          normRef[i][k],
          { atol: 2e-5 * Math.max(1, maxAbs(normRef[i][k])), rtol: 1e-5 },
          ['value', 'dx', 'dgamma', 'dbeta'][k],
        ),
      );
    });
  });

  it('the inference group norm kernel (no gradient function) stands aside while gradients are recorded', () => {
    const x = tf.tensor([1, 2, 3, 4], [1, 1, 1, 4]);
    const outside = fusedGroupNorm(x, 2, 1e-5);
    expect(outside).to.be.instanceOf(tf.Tensor);
    const seen: (tf.Tensor | undefined)[] = [];
    const g = tf.grad((t: tf.Tensor) => {
      seen.push(fusedGroupNorm(t, 2, 1e-5));
      return tf.sum(t);
    })(x);
    expect(seen).to.deep.equal([undefined]);
    tf.dispose([x, g, outside!]);
  });

  it('is bit-for-bit deterministic run to run', () => {
    const a = gradients();
    const b = gradients();
    a.forEach((g, i) => expectClose(g, b[i], { atol: 0 }, `run-to-run ${i}`));
  });
});
