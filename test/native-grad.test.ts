/**
 * tf.grad through the native kernels: the gradients of a small conv + matmul net (two convs, the
 * second strided, a bias, relu, a dense layer; conv gradients use Conv2DBackpropInput/Filter,
 * the dense one transposed matmuls) match the cpu backend, with the library's own gradients
 * (src/backend/gradients).
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { registerGradients } from '../src/backend/gradients/index.js';
import { fusedGelu, fusedGroupNorm } from '../src/backend/fused-ops.js';
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

describeNative('tf.grad through the native kernels', function () {
  let ref: Float32Array[];
  before(async () => {
    const active = tf.getBackend();
    await tf.setBackend('cpu');
    ref = gradients();
    await tf.setBackend(active);
  });
  useNativeBackend();

  it('loss and gradients of a conv + matmul net match the cpu backend', () => {
    const got = gradients();
    const names = ['loss', 'dx', 'dconv1', 'dbias1', 'dconv2', 'ddense'];
    got.forEach((g, i) => expectClose(g, ref[i], { atol: 1e-5 * Math.max(1, maxAbs(ref[i])), rtol: 1e-5 }, names[i]));
  });

  it('the fused norm/GELU kernels (no gradient functions) stand aside while gradients are recorded', () => {
    const x = tf.tensor([1, 2, 3, 4], [1, 1, 1, 4]);
    const outside = [fusedGroupNorm(x, 2, 1e-5), fusedGelu(x)];
    expect(outside.every((t) => t instanceof tf.Tensor)).to.equal(true);
    const seen: (tf.Tensor | undefined)[] = [];
    const g = tf.grad((t: tf.Tensor) => {
      seen.push(fusedGroupNorm(t, 2, 1e-5), fusedGelu(t));
      return tf.sum(t);
    })(x);
    expect(seen).to.deep.equal([undefined, undefined]);
    tf.dispose([x, g, ...outside]);
  });

  it('is bit-for-bit deterministic run to run', () => {
    const a = gradients();
    const b = gradients();
    a.forEach((g, i) => expectClose(g, b[i], { atol: 0 }, `run-to-run ${i}`));
  });
});
