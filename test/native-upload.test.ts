/**
 * Weight uploads on the native backend (native/src/upload.cc through src/backend/weight-upload.ts):
 * a streamed weight's host values reach the tensor memory as the JS path writes them — every
 * float16 bit pattern upcast to the same float32 (zeros, subnormals, infinities; NaN stays NaN),
 * float32 copied bit for bit over several work units — and a streamed Param uses it.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { f16ToF32 } from '../src/io/dtypes.js';
import { uploadWeight, weightUploaderInstalled } from '../src/backend/weight-upload.js';
import { Linear } from '../src/nn/linear.js';
import { describeNative, randomValues, useNativeBackend } from './helpers/native.js';

/** Float32 bits of a tensor's values, NaNs as one pattern. */
function bits(v: Float32Array): number[] {
  const u = new Uint32Array(v.buffer, v.byteOffset, v.length);
  return Array.from(u, (x, i) => (Number.isNaN(v[i]) ? -1 : x));
}

function uploaded(values: Float32Array | Uint16Array, shape: number[]): Float32Array {
  const t = uploadWeight(values, shape);
  try {
    expect(t.dtype).to.equal('float32');
    expect(t.shape).to.deep.equal(shape);
    return t.dataSync() as Float32Array;
  } finally {
    t.dispose();
  }
}

describeNative('native weight upload', function () {
  useNativeBackend();

  it('is installed with the native kernels', () => {
    expect(weightUploaderInstalled()).to.equal(true);
  });

  it('upcasts every float16 bit pattern as the JS conversion does', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    expect(bits(uploaded(all, [256, 256]))).to.deep.equal(bits(f16ToF32(all)));
    // An odd length: the vector loop's tail runs the scalar conversion.
    const odd = all.subarray(1000, 1000 + 77);
    expect(bits(uploaded(odd, [7, 11]))).to.deep.equal(bits(f16ToF32(odd)));
  });

  it('refuses values that do not fill the shape (the native copy would write past the tensor)', () => {
    expect(() => uploadWeight(new Float32Array(10), [3, 4])).to.throw(
      'uploadWeight: 10 values do not fill shape [3,4] (12 values)',
    );
  });

  it('copies float32 bit for bit over several work units', () => {
    const v = randomValues([3, 100_003], 5).values;
    expect(bits(uploaded(v, [3, 100_003]))).to.deep.equal(bits(v));
  });

  it('serves a streamed float16 weight with the values of its host copy, without leaking', () => {
    const lin = new Linear(40, 24);
    lin.setResidency('stream');
    for (const [, p] of lin.namedParams()) {
      p.setTorchValues(randomValues([...p.torchShape], 3).values);
      p.setHostPrecision('float16');
    }
    const before = tf.memory().numTensors;
    for (const [name, p] of lin.namedParams()) {
      const t = p.tensor();
      expect(bits(t.dataSync() as Float32Array), name).to.deep.equal(bits(p.values()));
      t.dispose();
    }
    expect(tf.memory().numTensors).to.equal(before);
    lin.dispose();
  });
});
