import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { Param } from '../src/nn/param.js';
import { f16ToF32, f32ToF16 } from '../src/io/dtypes.js';

describe('Param: layouts, residency and host precision', () => {
  it('converts torch layouts once: linear [out,in]→[in,out], conv [O,I,kh,kw]→[kh,kw,I,O]', () => {
    const lin = new Param([2, 3], 'linear');
    lin.setTorchValues(Float32Array.from([1, 2, 3, 4, 5, 6]));
    expect(lin.shape).to.deep.equal([3, 2]);
    expect(Array.from(lin.values())).to.deep.equal([1, 4, 2, 5, 3, 6]);
    const conv = new Param([2, 1, 1, 2], 'conv2d');
    conv.setTorchValues(Float32Array.from([1, 2, 3, 4])); // [o][i][y][x]
    expect(conv.shape).to.deep.equal([1, 2, 1, 2]);
    expect(Array.from(conv.values())).to.deep.equal([1, 3, 2, 4]); // [y][x][i][o]
    lin.dispose();
    conv.dispose();
  });

  it('streaming uploads a fresh tensor per call (freed by the caller’s tidy); resident shares one', () => {
    const p = new Param([4]);
    p.setTorchValues(Float32Array.from([1, 2, 3, 4]));
    const resident = p.tensor();
    expect(p.tensor()).to.equal(resident);
    p.setResidency('stream');
    expect(resident.isDisposed).to.equal(true);
    const before = tf.memory().numTensors;
    const sum = tf.tidy(() => tf.add(p.tensor(), p.tensor()));
    expect(tf.memory().numTensors).to.equal(before + 1);
    expect(Array.from(sum.dataSync())).to.deep.equal([2, 4, 6, 8]);
    sum.dispose();
    p.dispose();
  });

  it('setHostPrecision keeps float16 bits on the host and uploads the rounded values', () => {
    const v = Float32Array.from([0.1, -2.5, 1 / 3, 1000.7]);
    const p = new Param([2, 2], 'linear');
    p.setTorchValues(v);
    p.setHostPrecision('float16');
    const rounded = f16ToF32(f32ToF16(Float32Array.from([v[0], v[2], v[1], v[3]])));
    expect(Array.from(p.values())).to.deep.equal(Array.from(rounded));
    expect(Array.from(p.tensor().dataSync())).to.deep.equal(Array.from(rounded));
    p.setHostPrecision('float32');
    expect(Array.from(p.values())).to.deep.equal(Array.from(rounded));
    p.dispose();
  });
});
