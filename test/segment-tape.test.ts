/**
 * SegmentTape (gradient checkpointing): gradients from per-segment recomputation equal tfjs's
 * plain autograd, for a small graph with multi-output segments, shared inputs and constants, and
 * for the tiny UNet's gradient with respect to the text embedding (what null-text inversion
 * optimises), on wasm and on the cpu backend; no tensor leaks.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { join } from 'node:path';
import { SegmentTape } from '../src/nn/segment-tape.js';
import { registerGradients } from '../src/backend/gradients/index.js';
import { installWasmGradKernels } from '../src/backend/wasm-grad-kernels.js';
import { UNet2DConditionModel } from '../src/models/unet/unet.js';
import { loadWeights } from '../src/nn/load-weights.js';
import { openWeightFiles } from '../src/node/weights.js';
import { TorchGenerator } from '../src/models/random.js';
import '@tensorflow/tfjs-backend-cpu';
import { describeRef, readJson, tinySdDir } from './helpers/reference.js';
import { expectClose } from './helpers/close.js';
import { skipUnlessBackend } from './helpers/backend-skip.js';

const randn = (shape: number[], seed: number, scale = 1) =>
  tf.tidy(() => tf.mul(tf.tensor(new TorchGenerator(seed).randn(shape), shape), scale));
const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

describe('SegmentTape: gradients by per-segment recomputation', () => {
  before(() => {
    registerGradients();
    installWasmGradKernels();
  });

  it('equals plain autograd on a graph with a two-output segment, a reused tensor, constants and an untracked branch', () => {
    const w = randn([4, 4], 1);
    const c = randn([1, 4], 2);
    const src = randn([3, 4], 3);
    const other = randn([3, 4], 4);
    const r = randn([3, 4], 5);
    /** The same computation, segment by segment (`seg` runs or records a segment). */
    const model = (
      s: tf.Tensor,
      seg: (xs: tf.Tensor[], f: (xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[]) => tf.Tensor | tf.Tensor[],
    ) => {
      const free = seg([other], ([o]) => tf.tanh(o)) as tf.Tensor; // does not depend on the source
      const [a, b] = seg([s, c], ([x, k]) => [tf.tanh(tf.matMul(x, w)), tf.mul(tf.sigmoid(x), k)]) as tf.Tensor[];
      const d = seg([a, free], ([p, q]) => tf.mul(tf.sin(p), q)) as tf.Tensor;
      return seg([d, a, b, s], ([p, q, u, x]) =>
        tf.add(tf.add(tf.mul(p, q), tf.square(u)), tf.mul(x, 0.5)),
      ) as tf.Tensor;
    };
    const before = tf.memory().numTensors;
    const plain = tf.grads((s: tf.Tensor) =>
      tf.sum(
        tf.mul(
          model(s, (xs, f) => f(xs)),
          r,
        ),
      ),
    )([src])[0];
    const tape = new SegmentTape();
    tape.watch(src);
    const y = tf.tidy(() => model(src, (xs, f) => tape.run(xs, f)) as tf.Tensor);
    expect(tape.size, 'segments that depend on the source').to.equal(3);
    const [g] = tape.backward(y, r, [src]);
    tape.dispose();
    expectClose(g, plain, { atol: 1e-6, rtol: 1e-5 }, 'gradient');
    tf.dispose([plain, y, g]);
    expect(tf.memory().numTensors, 'leaked tensors').to.equal(before);
    tf.dispose([w, c, src, other, r]);
  });

  it('refuses unwatched sources, an output that does not depend on them and use after dispose', () => {
    const tape = new SegmentTape();
    const x = tf.scalar(2);
    const y = tape.run([x], ([t]) => tf.square(t));
    expect(() => tape.backward(y, tf.scalar(1), [x])).to.throw('does not depend on a watched tensor');
    tape.watch(x);
    const z = tape.run([x], ([t]) => tf.square(t));
    const unwatched = tf.scalar(3);
    expect(() => tape.backward(z, tf.scalar(1), [unwatched])).to.throw('a source is not watched');
    tape.dispose();
    expect(() => tape.run([x], ([t]) => t)).to.throw('after dispose');
    tf.dispose([x, y, z, unwatched]);
  });
});

describeRef('SegmentTape through the tiny UNet: d⟨unet(x, t, context), r⟩ / d context', () => {
  let unet: UNet2DConditionModel;
  before(async () => {
    registerGradients();
    installWasmGradKernels();
    unet = UNet2DConditionModel.fromConfig(readJson('tiny-sd/unet/config.json'));
    const src = await openWeightFiles(join(tinySdDir, 'unet', 'diffusion_pytorch_model.safetensors'));
    await loadWeights(unet, src);
    await src.close();
  });
  after(() => unet?.dispose());

  /** The gradient of ⟨unet(x, 401, ctx), r⟩ by plain autograd and by the tape (size² latents). */
  function gradients(size = 16, withPlain = true): { plain?: Float32Array; taped: Float32Array; segments: number } {
    const x = randn([1, size, size, 4], 11) as tf.Tensor4D;
    const ctx = randn([1, 77, unet.config.crossAttentionDim[0]], 12) as tf.Tensor3D;
    const r = randn([1, size, size, 4], 13);
    const plain = withPlain
      ? tf.grads((c: tf.Tensor) => tf.sum(tf.mul(unet.forward(x, 401, c as tf.Tensor3D), r)))([ctx])[0]
      : undefined;
    const tape = new SegmentTape();
    tape.watch(ctx);
    const y = unet.forward(x, 401, ctx, undefined, { tape });
    const segments = tape.size;
    const [g] = tape.backward(y, r, [ctx]);
    tape.dispose();
    const out = { plain: plain?.dataSync() as Float32Array | undefined, taped: g.dataSync() as Float32Array, segments };
    tf.dispose([x, ctx, r, y, g]);
    plain?.dispose();
    return out;
  }

  it('matches plain autograd on the test backend (every down, mid and up block and the output recomputed), no leaks', () => {
    tf.dispose(unet.forward(tf.zeros([1, 16, 16, 4]), 1, tf.zeros([1, 77, unet.config.crossAttentionDim[0]]))); // caches of resident weights
    const before = tf.memory().numTensors;
    const { plain, taped, segments } = gradients();
    if (!plain) throw new Error('no plain gradient');
    const n = unet.config.downBlockTypes.length + unet.config.upBlockTypes.length + 2;
    expect(segments, 'recorded segments: down blocks, mid, up blocks, output').to.equal(n);
    expect(maxAbs(plain), 'the gradient is not zero').to.be.greaterThan(1e-4);
    // Only the order of float32 sums differs (the 16 cross-attention layers' contributions).
    expectClose(taped, plain, { atol: 1e-5 * maxAbs(plain), rtol: 1e-4 }, 'd context');
    expect(tf.memory().numTensors, 'leaked tensors').to.equal(before);
  });

  it('gives the same gradient on the cpu backend', async function () {
    // Compares the test backend with cpu: meaningless when the test backend is cpu.
    skipUnlessBackend(this, ['wasm'], 'comparing the test backend with cpu');
    const active = tf.getBackend();
    const ref = gradients(8, false).taped;
    await tf.setBackend('cpu');
    try {
      const { taped } = gradients(8, false);
      expectClose(taped, ref, { atol: 1e-5 * maxAbs(ref), rtol: 1e-3 }, 'd context, cpu vs ' + active);
    } finally {
      await tf.setBackend(active);
    }
  });

  it('refuses an attention controller on a tape', () => {
    const tape = new SegmentTape();
    const x = tf.zeros([1, 8, 8, 4]) as tf.Tensor4D;
    const ctx = tf.zeros([1, 77, unet.config.crossAttentionDim[0]]) as tf.Tensor3D;
    expect(() => unet.forward(x, 1, ctx, { controller: { onAttention: (p) => p } }, { tape })).to.throw(
      'cannot run on a gradient tape',
    );
    tape.dispose();
    tf.dispose([x, ctx]);
  });
});
