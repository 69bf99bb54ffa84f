import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { gradientConfigs, registerGradients } from '../src/backend/gradients/index.js';
import { installWasmGradKernels } from '../src/backend/wasm-grad-kernels.js';
import { fusedAttention, attentionProbs, applyAttentionProbs, fusedAttentionSupported } from '../src/backend/attention-ops.js';
import { GroupNorm, groupNormOp, layerNormOp } from '../src/nn/norm.js';
import { gelu } from '../src/nn/activations.js';
import { fusedGroupNorm, groupNormKernelAvailable } from '../src/backend/group-norm-kernel.js';
import { expectClose } from './helpers/close.js';
import { expectNoLeak } from './helpers/leaks.js';

/** Deterministic values in [-1, 1) (a fixed LCG: independent of the backend's RNG). */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  // Seed mixed first, so that nearby seeds give unrelated streams.
  let s = Math.imul((seed ^ 0x9e3779b9) >>> 0, 0x85ebca6b) >>> 0;
  s = Math.imul(s ^ (s >>> 13), 0xc2b2ae35) >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}
const rnd = (shape: number[], seed: number, scale = 1, shift = 0) =>
  tf.add(tf.mul(tf.tensor(values(shape.reduce((a, b) => a * b, 1), seed), shape), scale), shift);

/**
 * Checks tf.grads of loss = Σ f(inputs)·r against central differences (h = 1e-2; float32, so
 * the tolerance is about 1e-2 of the gradient's scale), on `probe` elements of each input.
 */
function checkGrads(name: string, f: (...xs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[], probe = 12): void {
  const out = tf.tidy(() => f(...inputs));
  const r = rnd(out.shape, 99);
  out.dispose();
  const loss = (...xs: tf.Tensor[]) => tf.sum(tf.mul(f(...xs), r)) as tf.Scalar;
  const grads = tf.grads(loss)(inputs);
  inputs.forEach((x, k) => {
    const g = grads[k].dataSync();
    expect(grads[k].shape, `${name}: gradient shape of input ${k}`).to.deep.equal(x.shape);
    const base = x.dataSync().slice();
    const scale = Math.max(1e-3, ...Array.from(g, Math.abs));
    const h = 1e-2;
    for (let j = 0; j < probe; j++) {
      const i = Math.floor((j * 7919 + 13) % base.length);
      const at = (d: number) => tf.tidy(() => {
        const v = base.slice();
        v[i] += d;
        const xs = inputs.map((t, m) => (m === k ? tf.tensor(v, x.shape) : t));
        return loss(...xs).dataSync()[0];
      });
      const fd = (at(h) - at(-h)) / (2 * h);
      expect(Math.abs(fd - g[i]), `${name}: d/d input${k}[${i}] autograd ${g[i]} vs finite difference ${fd}`).to.be.lessThan(2e-2 * scale + 1e-3);
    }
  });
  r.dispose();
  tf.dispose(grads);
}

describe('autograd: our gradients for the kernels the models run', () => {
  before(() => registerGradients());

  it('the wasm backend comes with its backward kernels (no set-up call needed)', function () {
    if (tf.getBackend() !== 'wasm') this.skip();
    for (const k of ['Conv2DBackpropFilter', 'Conv2DBackpropInput']) expect(tf.getKernel(k, 'wasm'), k).to.not.equal(undefined);
  });

  it('registers a gradient for every kernel listed, once', () => {
    const names = gradientConfigs.map((c) => c.kernelName);
    expect(new Set(names).size, 'duplicate kernel names').to.equal(names.length);
    for (const n of ['Add', 'Multiply', 'Mean', 'Sum', 'Reshape', 'Transpose', 'Slice', 'Concat', 'BatchMatMul', 'Conv2D', 'Softmax', 'GatherV2', 'Erf', 'Sigmoid', 'Rsqrt']) {
      expect(tf.getGradient(n), n).to.not.equal(undefined);
    }
  });

  it('element-wise ops, broadcasting both ways', () => {
    const a = rnd([3, 4], 1);
    const b = rnd([1, 4], 2, 0.5, 1.5);
    checkGrads('add', (x, y) => tf.add(x, y), [a, b]);
    checkGrads('sub', (x, y) => tf.sub(x, y), [a, b]);
    checkGrads('mul', (x, y) => tf.mul(x, y), [a, b]);
    checkGrads('div', (x, y) => tf.div(x, y), [a, b]);
    checkGrads('squaredDifference', (x, y) => tf.squaredDifference(x, y), [a, b]);
    checkGrads('maximum', (x, y) => tf.maximum(x, y), [a, rnd([3, 4], 3)]);
    const pos = rnd([2, 5], 4, 0.4, 1);
    for (const [n, op] of [['square', tf.square], ['rsqrt', tf.rsqrt], ['sqrt', tf.sqrt], ['exp', tf.exp], ['log', tf.log], ['sigmoid', tf.sigmoid],
      ['tanh', tf.tanh], ['erf', tf.erf], ['sin', tf.sin], ['cos', tf.cos], ['neg', tf.neg]] as const) {
      checkGrads(n, (x) => (op as (t: tf.Tensor) => tf.Tensor)(x), [pos]);
    }
    checkGrads('relu/abs away from 0', (x) => tf.add(tf.relu(x), tf.abs(x)), [rnd([2, 5], 5, 1, 0.05)]);
    checkGrads('addN', (x, y) => tf.addN([x, y, x]), [a, rnd([3, 4], 6)]);
    checkGrads('clipByValue', (x) => tf.clipByValue(x, -0.5, 0.6), [rnd([4, 4], 7)]);
    tf.dispose([a, b, pos]);
  });

  it('shape ops: reshape, transpose, slice, concat, split, stack, unstack, pad, tile, broadcastTo, gather, resize', () => {
    const x = rnd([2, 3, 4], 11);
    checkGrads('reshape+transpose', (t) => tf.transpose(tf.reshape(t, [6, 4]), [1, 0]), [x]);
    checkGrads('slice', (t) => tf.slice(t, [0, 1, 1], [2, 2, 2]), [x]);
    checkGrads('concat', (t, u) => tf.concat([t, u, t], 2), [x, rnd([2, 3, 2], 12)]);
    checkGrads('split', (t) => { const [p, q] = tf.split(t, [1, 3], 2); return tf.mul(p, tf.sum(q, 2, true)); }, [x]);
    checkGrads('stack/unstack', (t, u) => tf.stack(tf.unstack(tf.add(t, u), 1), 2), [x, rnd([2, 3, 4], 15)]);
    checkGrads('pad', (t) => tf.pad(t, [[0, 1], [2, 0], [1, 1]]), [x]);
    checkGrads('tile', (t) => tf.tile(t, [2, 1, 3]), [x]);
    checkGrads('broadcastTo', (t) => tf.broadcastTo(t, [3, 2, 3, 4]), [x]);
    const table = rnd([10, 3], 13);
    const ids = tf.tensor1d([3, 1, 3, 7, 0], 'int32');
    checkGrads('gather (repeated rows add up)', (t) => tf.gather(t, ids), [table]);
    checkGrads('gather axis 1', (t) => tf.gather(t, tf.tensor1d([2, 0, 2], 'int32'), 1), [table]);
    checkGrads('resizeNearestNeighbor 2x', (t) => tf.image.resizeNearestNeighbor(t as tf.Tensor4D, [6, 8]), [rnd([1, 3, 4, 2], 14)]);
    tf.dispose([x, table, ids]);
  });

  it('reductions, softmax, matmul (all transposes, broadcast batch), conv2d (strides, paddings), fused ops', () => {
    const x = rnd([2, 3, 4], 21);
    checkGrads('sum/mean', (t) => tf.concat([tf.sum(t, [0, 2]), tf.sum(tf.mean(t, 1, false), 0)]), [x]);
    checkGrads('mean keepDims', (t) => tf.mul(tf.mean(t, [1, 2], true), t), [x]);
    checkGrads('softmax', (t) => tf.softmax(t), [x]);
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
      const a = rnd(ta ? [2, 4, 3] : [2, 3, 4], 22);
      const b = rnd(tb ? [1, 5, 4] : [1, 4, 5], 23);
      checkGrads(`matMul ta=${ta} tb=${tb}`, (p, q) => tf.matMul(p as tf.Tensor3D, q as tf.Tensor3D, ta, tb), [a, b]);
      tf.dispose([a, b]);
    }
    checkGrads('fused matMul + bias', (p, q, c) => tf.fused.matMul({ a: p as tf.Tensor2D, b: q as tf.Tensor2D, bias: c }), [rnd([3, 4], 24), rnd([4, 2], 25), rnd([2], 26)]);
    const img = rnd([2, 7, 6, 3], 27);
    for (const [s, pad] of [[1, 'same'], [1, 1], [2, 'valid'], [2, 'same']] as const) {
      checkGrads(`conv2d s${s} ${pad}`, (t, w) => tf.conv2d(t as tf.Tensor4D, w as tf.Tensor4D, s, pad), [img, rnd([3, 3, 3, 4], 28)]);
    }
    checkGrads('fused conv2d + bias', (t, w, c) => tf.fused.conv2d({ x: t as tf.Tensor4D, filter: w as tf.Tensor4D, strides: 1, pad: 'same', bias: c }), [img, rnd([3, 3, 3, 2], 29), rnd([2], 30)]);
    tf.dispose([x, img]);
  });

  it('fused attention ops: gradients of q, k, v (with a causal mask) and of the two-step probs path', () => {
    const q = rnd([2, 5, 8], 31);
    const k = rnd([2, 6, 8], 32);
    const v = rnd([2, 6, 8], 33);
    const mask = tf.tidy(() => tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([5, 6]), -1, 0)), -1e9));
    checkGrads('fusedAttention', (a, b, c) => fusedAttention(a as tf.Tensor3D, b as tf.Tensor3D, c as tf.Tensor3D, { heads: 2 }), [q, k, v]);
    checkGrads('fusedAttention masked', (a, b, c) => fusedAttention(a as tf.Tensor3D, b as tf.Tensor3D, c as tf.Tensor3D, { heads: 2, mask }), [q, k, v]);
    checkGrads('probs → apply', (a, b, c) => applyAttentionProbs(tf.mul(attentionProbs(a as tf.Tensor3D, b as tf.Tensor3D, { heads: 2 }), 1.5) as tf.Tensor3D, c as tf.Tensor3D, 2), [q, k, v]);
    tf.dispose([q, k, v, mask]);
  });

  it('fused attention backward in query chunks (with a per-row mask sliced along) equals the unchunked one and tf ops', function () {
    if (!fusedAttentionSupported(4)) this.skip();
    const heads = 2;
    const [q, k, v, r] = [rnd([2, 40, 8], 71), rnd([2, 24, 8], 72), rnd([2, 24, 8], 73), rnd([2, 40, 8], 74)];
    // Row i may see keys up to i/2 + 3 (a per-row mask).
    const mask = tf.tidy(() => tf.mul(tf.sub(1, tf.tensor2d(Array.from({ length: 40 * 24 }, (_, j) => (j % 24 <= Math.floor(j / 24) / 2 + 3 ? 1 : 0)), [40, 24])), -1e9));
    const split = (x: tf.Tensor) => tf.reshape(tf.transpose(tf.reshape(x, [2, x.shape[1]!, heads, 4]), [0, 2, 1, 3]), [2 * heads, x.shape[1]!, 4]) as tf.Tensor3D;
    const plain = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, m?: tf.Tensor) => {
      let s = tf.mul(tf.matMul(split(a), split(b), false, true), 0.5);
      if (m) s = tf.add(s, m);
      const o = tf.matMul(tf.softmax(s), split(c));
      return tf.reshape(tf.transpose(tf.reshape(o, [2, heads, 40, 4]), [0, 2, 1, 3]), [2, 40, 8]);
    };
    const loss = (f: (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.Tensor) => (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(f(a, b, c), r)) as tf.Scalar;
    for (const m of [undefined, mask]) {
      // 16 query rows per chunk: chunks of 16, 16 and 8 rows.
      const chunked = tf.grads(loss((a, b, c) => fusedAttention(a as tf.Tensor3D, b as tf.Tensor3D, c as tf.Tensor3D, { heads, mask: m, backwardChunkBytes: 4 * 2 * heads * 24 * 16 })))([q, k, v]);
      const whole = tf.grads(loss((a, b, c) => fusedAttention(a as tf.Tensor3D, b as tf.Tensor3D, c as tf.Tensor3D, { heads, mask: m })))([q, k, v]);
      const ops = tf.grads(loss((a, b, c) => plain(a, b, c, m)))([q, k, v]);
      chunked.forEach((g, i) => {
        expectClose(g, whole[i], { atol: 1e-6, rtol: 1e-5 }, `${m ? 'masked ' : ''}d${'qkv'[i]}: chunked vs whole`);
        expectClose(g, ops[i], { atol: 1e-5, rtol: 1e-4 }, `${m ? 'masked ' : ''}d${'qkv'[i]}: chunked vs tf ops`);
      });
      tf.dispose([...chunked, ...whole, ...ops]);
    }
    tf.dispose([q, k, v, r, mask]);
  });

  it('GroupNorm’s closed-form backward matches finite differences (with and without affine)', () => {
    const gn = new GroupNorm(2, 6, 1e-5);
    gn.weight!.setTorchValues(values(6, 41).map((x) => 1 + 0.3 * x));
    gn.bias!.setTorchValues(values(6, 42));
    gn.setTrainable(true);
    const x = rnd([2, 3, 3, 6], 43, 2, 0.5);
    checkGrads('groupnorm x', (t) => gn.forward(t), [x]);
    const { grads } = tf.variableGrads(() => tf.sum(tf.mul(gn.forward(x), rnd([2, 3, 3, 6], 44))) as tf.Scalar);
    for (const p of [gn.weight!, gn.bias!]) {
      const v = p.trainableVariable!;
      const g = grads[v.name].dataSync();
      const base = v.dataSync().slice();
      for (let i = 0; i < 6; i++) {
        const at = (d: number) => tf.tidy(() => { const b = base.slice(); b[i] += d; v.assign(tf.tensor(b)); return tf.sum(tf.mul(gn.forward(x), rnd([2, 3, 3, 6], 44))).dataSync()[0]; });
        const fd = (at(1e-2) - at(-1e-2)) / 2e-2;
        tf.tidy(() => v.assign(tf.tensor(base)));
        expect(Math.abs(fd - g[i])).to.be.lessThan(2e-2 * Math.max(1, Math.abs(g[i])));
      }
    }
    tf.dispose(Object.values(grads));
    checkGrads('groupnorm without affine', (t) => new GroupNorm(3, 6, 1e-6, false).forward(t), [x]);
    checkGrads('groupnorm + silu', (t) => gn.forward(t, { silu: true }), [x]);
    // The tf-op form (other backends) and the fused kernels agree, values and gradients.
    const w = tf.tensor1d(values(6, 41).map((v) => 1 + 0.3 * v));
    const b = tf.tensor1d(values(6, 42));
    checkGrads('groupnorm as tf ops', (t, ww, bb) => groupNormOp(2, 1e-5)(t, ww, bb), [x, w, b]);
    if (groupNormKernelAvailable()) {
      expectClose(fusedGroupNorm(x, w, b, { groups: 2, eps: 1e-5, silu: false }), groupNormOp(2, 1e-5)(x, w, b), { atol: 2e-6, rtol: 1e-5 }, 'fused vs ops');
      const r = rnd([2, 3, 3, 6], 45);
      const gk = tf.grads((t, ww, bb) => tf.sum(tf.mul(fusedGroupNorm(t, ww, bb, { groups: 2, eps: 1e-5, silu: false }), r)))([x, w, b]);
      const go = tf.grads((t, ww, bb) => tf.sum(tf.mul(groupNormOp(2, 1e-5)(t, ww, bb), r)))([x, w, b]);
      gk.forEach((g, i) => expectClose(g, go[i], { atol: 2e-5, rtol: 1e-4 }, `gradient ${i}: fused vs ops`));
      tf.dispose([...gk, ...go, r]);
    }
    tf.dispose([w, b]);
    gn.dispose();
    x.dispose();
  });

  it('GELU’s closed-form backward matches finite differences', () => {
    checkGrads('gelu', (t) => gelu(t), [rnd([3, 7], 49, 3)]);
  });

  it('LayerNorm’s closed-form backward matches finite differences', () => {
    const x = rnd([2, 3, 5], 46, 2, 0.3);
    checkGrads('layernorm', (t, w, b) => layerNormOp(1e-5)(t, w, b), [x, rnd([5], 47, 0.3, 1), rnd([5], 48)]);
    x.dispose();
  });

  it('wasm backward kernels equal the cpu backend’s (conv backprop input/filter, transposed and batched matmul)', async function () {
    if (tf.getBackend() !== 'wasm') this.skip();
    const run = () => tf.tidy(() => {
      const outs: tf.Tensor[] = [];
      for (const [xs, fs, s, pad] of [[[2, 9, 7, 5], [3, 3, 5, 6], 1, 'same'], [[2, 9, 9, 4], [3, 3, 4, 3], 2, 'valid'], [[2, 8, 8, 4], [3, 3, 4, 5], 2, 'same'], [[1, 10, 8, 3], [3, 3, 3, 2], 2, 1], [[2, 5, 5, 4], [1, 1, 4, 3], 1, 'valid']] as const) {
        const x = rnd([...xs], 51);
        const w = rnd([...fs], 52);
        const y = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, s, pad);
        const dy = rnd(y.shape, 53);
        outs.push(tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { strides: s, pad, dataFormat: 'NHWC', inputShape: x.shape } as unknown as tf.NamedAttrMap) as tf.Tensor);
        outs.push(tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: s, pad, dataFormat: 'NHWC', filterShape: w.shape } as unknown as tf.NamedAttrMap) as tf.Tensor);
      }
      for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
        outs.push(tf.matMul(rnd(ta ? [3, 5, 4] : [3, 4, 5], 54) as tf.Tensor3D, rnd(tb ? [1, 6, 5] : [1, 5, 6], 55) as tf.Tensor3D, ta, tb));
        outs.push(tf.matMul(rnd(ta ? [2, 2, 5, 4] : [2, 2, 4, 5], 56) as tf.Tensor4D, rnd(tb ? [2, 2, 6, 5] : [2, 2, 5, 6], 57) as tf.Tensor4D, ta, tb));
      }
      return outs.map((t) => Array.from(t.dataSync()));
    });
    const wasm = run();
    await import('@tensorflow/tfjs-backend-cpu');
    await tf.setBackend('cpu');
    try {
      const cpu = run();
      cpu.forEach((c, i) => expectClose(wasm[i], c, { atol: 2e-5, rtol: 1e-5 }, `result ${i}`));
    } finally {
      await tf.setBackend('wasm');
    }
  });

  it('leaves no tensors behind', async () => {
    const x = rnd([2, 3, 4], 61);
    await expectNoLeak('tf.grads', () => [...tf.grads((t) => tf.sum(tf.softmax(t)))([x]), ...tf.grads((t) => tf.sum(tf.mul(tf.softmax(tf.matMul(t, t, false, true)), 2)))([x])]);
    x.dispose();
  });
});
