/**
 * Our gradients (src/backend/gradients: one per kernel the models run; the closed-form custom
 * gradients of GELU, LayerNorm/GroupNorm and the fused attention ops) against finite differences
 * on EVERY element of small inputs, at batch 2 wherever the op has a batch, on the test backend
 * (wasm; native in the native half of `npm test`) and again on the cpu backend (whose own
 * ResizeNearestNeighborGrad is wrong for batch > 1: ours replaces it). Every registered gradient
 * is exercised by a case (checked from the kernels the cases run).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { expect } from 'chai';
import { gradientConfigs, registerGradients } from '../src/backend/gradients/index.js';
import { installWasmGradKernels } from '../src/backend/wasm-grad-kernels.js';
import {
  fusedAttention,
  attentionProbs,
  applyAttentionProbs,
  fusedAttentionSupported,
  fusedAttentionUnavailable,
} from '../src/backend/attention-ops.js';
import { resizeNearestNeighborBackward } from '../src/backend/resize-nearest-grad.js';
import { GroupNorm, groupNormOp, layerNormOp } from '../src/nn/norm.js';
import { gelu } from '../src/nn/activations.js';
import { fusedGroupNorm, groupNormKernelAvailable } from '../src/backend/group-norm-kernel.js';
import { expectClose } from './helpers/close.js';
import { expectNoLeak } from './helpers/leaks.js';
import { checkEveryElement, rnd, rndAwayFrom, values } from './helpers/grad-check.js';
import { skipUnlessBackend } from './helpers/backend-skip.js';

type Op = (...xs: tf.Tensor[]) => tf.Tensor;
interface GradCase {
  name: string;
  f: Op;
  /** Fresh inputs (disposed after the check). */
  inputs: () => tf.Tensor[];
}

const t4 = (x: tf.Tensor) => x as tf.Tensor4D;
const t3 = (x: tf.Tensor) => x as tf.Tensor3D;

/** The cases, grouped by the `it` that checks them. */
function gradientCases(): Record<string, GradCase[]> {
  const pos = () => [rnd([2, 5], 4, 0.4, 1)];
  const ab = () => [rnd([2, 3, 4], 1), rnd([1, 1, 4], 2, 0.5, 1.5)];
  const unary = (
    [
      ['square', tf.square],
      ['rsqrt', tf.rsqrt],
      ['sqrt', tf.sqrt],
      ['exp', tf.exp],
      ['log', tf.log],
      ['sigmoid', tf.sigmoid],
      ['tanh', tf.tanh],
      ['erf', tf.erf],
      ['sin', tf.sin],
      ['cos', tf.cos],
      ['neg', tf.neg],
    ] as const
  ).map(([name, op]) => ({ name, f: (x: tf.Tensor) => (op as (t: tf.Tensor) => tf.Tensor)(x), inputs: pos }));
  const img = () => rnd([2, 7, 6, 3], 27);
  const heads = 2;
  const qkv = () => [rnd([2, 5, 8], 31), rnd([2, 6, 8], 32), rnd([2, 6, 8], 33)];
  const causal = () => tf.tidy(() => tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([5, 6]), -1, 0)), -1e9));
  const gnX = () => rnd([2, 3, 3, 6], 43, 2, 0.5);
  const gnW = () => tf.tensor1d(values(6, 41).map((v) => 1 + 0.3 * v));
  const gnB = () => tf.tensor1d(values(6, 42));
  return {
    'element-wise ops, broadcasting both ways': [
      { name: 'add', f: (x, y) => tf.add(x, y), inputs: ab },
      { name: 'sub', f: (x, y) => tf.sub(x, y), inputs: ab },
      { name: 'mul', f: (x, y) => tf.mul(x, y), inputs: ab },
      { name: 'div', f: (x, y) => tf.div(x, y), inputs: ab },
      { name: 'squaredDifference', f: (x, y) => tf.squaredDifference(x, y), inputs: ab },
      // b = a + d with |d| ≥ 0.05: the finite differences (±2h = ±0.02) never cross a = b.
      {
        name: 'maximum',
        f: (x, y) => tf.maximum(x, y),
        inputs: () => {
          const a = rnd([2, 3, 4], 1);
          const d = rndAwayFrom([2, 3, 4], 3, [0]);
          const b = tf.add(a, d);
          d.dispose();
          return [a, b];
        },
      },
      ...unary,
      {
        name: 'relu + abs (away from 0)',
        f: (x) => tf.add(tf.relu(x), tf.abs(x)),
        inputs: () => [rndAwayFrom([2, 5], 5, [0])],
      },
      { name: 'addN', f: (x, y) => tf.addN([x, y, x]), inputs: () => [rnd([2, 3, 4], 1), rnd([2, 3, 4], 6)] },
      {
        name: 'clipByValue (away from the limits)',
        f: (x) => tf.clipByValue(x, -0.5, 0.6),
        inputs: () => [rndAwayFrom([2, 4, 4], 7, [-0.5, 0.6])],
      },
      { name: 'cast + identity', f: (x) => tf.mul(tf.cast(x, 'float32'), tf.clone(x)), inputs: () => [rnd([2, 3], 8)] },
    ],
    'shape ops: reshape, transpose, slice, concat, split, stack, unstack, pad, tile, broadcastTo, gather, resize': [
      {
        name: 'reshape + transpose',
        f: (t) => tf.transpose(tf.reshape(t, [6, 4]), [1, 0]),
        inputs: () => [rnd([2, 3, 4], 11)],
      },
      { name: 'slice', f: (t) => tf.slice(t, [0, 1, 1], [2, 2, 2]), inputs: () => [rnd([2, 3, 4], 11)] },
      { name: 'concat', f: (t, u) => tf.concat([t, u, t], 2), inputs: () => [rnd([2, 3, 4], 11), rnd([2, 3, 2], 12)] },
      {
        name: 'split',
        f: (t) => {
          const [p, q] = tf.split(t, [1, 3], 2);
          return tf.mul(p, tf.sum(q, 2, true));
        },
        inputs: () => [rnd([2, 3, 4], 11)],
      },
      {
        name: 'stack/unstack',
        f: (t, u) => tf.stack(tf.unstack(tf.add(t, u), 1), 2),
        inputs: () => [rnd([2, 3, 4], 11), rnd([2, 3, 4], 15)],
      },
      {
        name: 'pad',
        f: (t) =>
          tf.pad(t, [
            [0, 1],
            [2, 0],
            [1, 1],
          ]),
        inputs: () => [rnd([2, 3, 4], 11)],
      },
      { name: 'tile', f: (t) => tf.tile(t, [2, 1, 3]), inputs: () => [rnd([2, 3, 4], 11)] },
      {
        name: 'broadcastTo (runs as Tile)',
        f: (t) => tf.broadcastTo(t, [3, 2, 3, 4]),
        inputs: () => [rnd([2, 3, 4], 11)],
      },
      {
        name: 'gather (repeated rows add up)',
        f: (t) => tf.tidy(() => tf.gather(t, tf.tensor1d([3, 1, 3, 7, 0], 'int32'))),
        inputs: () => [rnd([10, 3], 13)],
      },
      {
        name: 'gather axis 1, batch 2',
        f: (t) => tf.tidy(() => tf.gather(t, tf.tensor1d([2, 0, 2], 'int32'), 1)),
        inputs: () => [rnd([2, 10, 3], 13)],
      },
      {
        name: 'resizeNearestNeighbor 2× (the UNet upsampler), batch 2',
        f: (t) => tf.image.resizeNearestNeighbor(t4(t), [6, 8]),
        inputs: () => [rnd([2, 3, 4, 2], 14)],
      },
      {
        name: 'resizeNearestNeighbor to 5×7 (not a multiple), batch 2',
        f: (t) => tf.image.resizeNearestNeighbor(t4(t), [5, 7]),
        inputs: () => [rnd([2, 3, 4, 2], 16)],
      },
      {
        name: 'resizeNearestNeighbor to 5×7, align corners, batch 2',
        f: (t) => tf.image.resizeNearestNeighbor(t4(t), [5, 7], true),
        inputs: () => [rnd([2, 3, 4, 2], 17)],
      },
    ],
    'reductions, softmax, matmul (all transposes, broadcast batch), conv2d (strides, paddings), fused ops': [
      {
        name: 'sum/mean',
        f: (t) => tf.concat([tf.sum(t, [0, 2]), tf.sum(tf.mean(t, 1, false), 0)]),
        inputs: () => [rnd([2, 3, 4], 21)],
      },
      { name: 'mean keepDims', f: (t) => tf.mul(tf.mean(t, [1, 2], true), t), inputs: () => [rnd([2, 3, 4], 21)] },
      { name: 'softmax', f: (t) => tf.softmax(t), inputs: () => [rnd([2, 3, 4], 21)] },
      ...[
        [false, false],
        [true, false],
        [false, true],
        [true, true],
      ].map(([ta, tb]) => ({
        name: `matMul ta=${ta} tb=${tb}, batch 2 × broadcast 1`,
        f: (p: tf.Tensor, q: tf.Tensor) => tf.matMul(t3(p), t3(q), ta, tb),
        inputs: () => [rnd(ta ? [2, 4, 3] : [2, 3, 4], 22), rnd(tb ? [1, 5, 4] : [1, 4, 5], 23)],
      })),
      {
        name: 'matMul, batch 2 × batch 2',
        f: (p, q) => tf.matMul(t3(p), t3(q)),
        inputs: () => [rnd([2, 3, 4], 24), rnd([2, 4, 2], 25)],
      },
      {
        name: 'fused matMul + bias',
        f: (p, q, c) => tf.fused.matMul({ a: p as tf.Tensor2D, b: q as tf.Tensor2D, bias: c }),
        inputs: () => [rnd([3, 4], 24), rnd([4, 2], 25), rnd([2], 26)],
      },
      ...(
        [
          [1, 'same'],
          [1, 1],
          [2, 'valid'],
          [2, 'same'],
        ] as const
      ).map(([s, pad]) => ({
        name: `conv2d stride ${s} pad ${pad}, batch 2`,
        f: (t: tf.Tensor, w: tf.Tensor) => tf.conv2d(t4(t), t4(w), s, pad),
        inputs: () => [img(), rnd([3, 3, 3, 4], 28)],
      })),
      {
        name: 'fused conv2d + bias, batch 2',
        f: (t, w, c) => tf.fused.conv2d({ x: t4(t), filter: t4(w), strides: 1, pad: 'same', bias: c }),
        inputs: () => [img(), rnd([3, 3, 3, 2], 29), rnd([2], 30)],
      },
    ],
    'fused attention ops (batch 2): q, k, v with and without a causal mask; the two-step probs path': [
      { name: 'fusedAttention', f: (a, b, c) => fusedAttention(t3(a), t3(b), t3(c), { heads }), inputs: qkv },
      {
        name: 'fusedAttention masked',
        f: (a, b, c) => tf.tidy(() => fusedAttention(t3(a), t3(b), t3(c), { heads, mask: causal() })),
        inputs: qkv,
      },
      {
        name: 'probs → apply',
        f: (a, b, c) =>
          applyAttentionProbs(tf.mul(attentionProbs(t3(a), t3(b), { heads }), 1.5) as tf.Tensor3D, t3(c), heads),
        inputs: qkv,
      },
    ],
    'norms and GELU: closed-form backward passes (batch 2)': [
      {
        name: 'GroupNorm module (x)',
        f: (t) =>
          tf.tidy(() => {
            const gn = groupNormModule();
            try {
              return gn.forward(t);
            } finally {
              gn.dispose();
            }
          }),
        inputs: () => [gnX()],
      },
      {
        name: 'GroupNorm module + SiLU (x)',
        f: (t) =>
          tf.tidy(() => {
            const gn = groupNormModule();
            try {
              return gn.forward(t, { silu: true });
            } finally {
              gn.dispose();
            }
          }),
        inputs: () => [gnX()],
      },
      {
        name: 'group norm as tf ops (x, γ, β)',
        f: (t, w, b) => groupNormOp(2, 1e-5)(t, w, b),
        inputs: () => [gnX(), gnW(), gnB()],
      },
      { name: 'group norm as tf ops, no affine', f: (t) => groupNormOp(3, 1e-6)(t), inputs: () => [gnX()] },
      {
        name: 'group norm kernel (x, γ, β) + SiLU',
        f: (t, w, b) => fusedGroupNorm(t, w, b, { groups: 2, eps: 1e-5, silu: true }),
        inputs: () => [gnX(), gnW(), gnB()],
      },
      {
        name: 'group norm kernel, no affine',
        f: (t) => fusedGroupNorm(t, undefined, undefined, { groups: 3, eps: 1e-6, silu: false }),
        inputs: () => [gnX()],
      },
      {
        name: 'layer norm (x, γ, β)',
        f: (t, w, b) => layerNormOp(1e-5)(t, w, b),
        inputs: () => [rnd([2, 3, 5], 46, 2, 0.3), rnd([5], 47, 0.3, 1), rnd([5], 48)],
      },
      { name: 'gelu', f: (t) => gelu(t), inputs: () => [rnd([2, 3, 7], 49, 3)] },
    ],
  };
}

function groupNormModule(): GroupNorm {
  const gn = new GroupNorm(2, 6, 1e-5);
  gn.weight!.setTorchValues(values(6, 41).map((x) => 1 + 0.3 * x));
  gn.bias!.setTorchValues(values(6, 42));
  return gn;
}

/** The group norm kernel runs on host backends only (wasm, cpu; elsewhere the module uses tf ops). */
const hostOnly = (name: string) => /^group norm kernel/.test(name) && !groupNormKernelAvailable();

/** Runs every case of a group on the active backend; returns the worst ratio to the bound. */
function checkGroup(cases: GradCase[]): number {
  let worst = 0;
  for (const c of cases) {
    if (hostOnly(c.name)) continue;
    const inputs = c.inputs();
    try {
      worst = Math.max(worst, checkEveryElement(c.name, c.f, inputs).worstRatio);
    } finally {
      tf.dispose(inputs);
    }
  }
  return worst;
}

/** The gradient cases as `it`s, on the active backend (`backend` switches to another one for the suite). */
function gradientSuite(title: string, backend?: string): void {
  describe(title, () => {
    let previous: string;
    before(async () => {
      registerGradients();
      previous = tf.getBackend();
      if (backend) await tf.setBackend(backend);
    });
    after(async () => {
      if (backend) await tf.setBackend(previous);
    });
    for (const [group, cases] of Object.entries(gradientCases())) {
      it(group, function () {
        this.timeout(300000);
        const worst = checkGroup(cases);
        console.log(`      worst |fd − g| / bound: ${worst.toFixed(3)} (${tf.getBackend()})`);
      });
    }
  });
}

describe('autograd: our gradients for the kernels the models run', () => {
  before(() => registerGradients());

  it('the wasm backend comes with its backward kernels (no set-up call needed)', function () {
    skipUnlessBackend(this, ['wasm'], 'the wasm backend’s backward kernels');
    for (const k of ['Conv2DBackpropFilter', 'Conv2DBackpropInput'])
      expect(tf.getKernel(k, 'wasm'), k).to.not.equal(undefined);
  });

  it('registers a gradient for every kernel listed, once; every one is exercised by a finite-difference case', async () => {
    const names = gradientConfigs.map((c) => c.kernelName);
    expect(new Set(names).size, 'duplicate kernel names').to.equal(names.length);
    for (const n of [
      'Add',
      'Multiply',
      'Mean',
      'Sum',
      'Reshape',
      'Transpose',
      'Slice',
      'Concat',
      'BatchMatMul',
      'Conv2D',
      'Softmax',
      'GatherV2',
      'Erf',
      'Sigmoid',
      'Rsqrt',
    ]) {
      expect(tf.getGradient(n), n).to.not.equal(undefined);
    }
    const ran = new Set<string>();
    for (const c of Object.values(gradientCases()).flat()) {
      const inputs = c.inputs();
      const info = await tf.profile(() => tf.tidy(() => c.f(...inputs)));
      info.kernelNames.forEach((k) => ran.add(k));
      tf.dispose(inputs);
    }
    expect(
      names.filter((n) => !ran.has(n)),
      'gradients no case runs',
    ).to.deep.equal([]);
  });

  it('the check fails a gradient that is wrong in one element whose gradient is 1e-3 of the largest', () => {
    const scale = tf.tensor1d([1000, 1, 1000, 1000]);
    // d/dx of Σ r·(scale·x²) is 2·scale·x·r; the custom gradient is off by 2 % in element 1 only.
    const bumped = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
      save([x]);
      return {
        value: tf.mul(scale, tf.square(x)),
        gradFunc: (dy: tf.Tensor, [xs]: tf.Tensor[]) => [
          tf.mul(tf.mul(dy, tf.mul(scale, tf.mul(xs, 2))), tf.tensor1d([1, 1.02, 1, 1])),
        ],
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as Op;
    const x = tf.tensor1d([0.7, 0.8, -0.9, 0.6]);
    expect(() => checkEveryElement('bumped', bumped, [x])).to.throw(/d\/d input0\[1\]/);
    expect(checkEveryElement('exact', (t) => tf.mul(scale, tf.square(t)), [x]).elements).to.equal(4);
    tf.dispose([scale, x]);
  });

  it('the cpu ResizeNearestNeighborGrad is ours and scatters each batch item’s dy onto its own pixels', async () => {
    const active = tf.getBackend();
    await tf.setBackend('cpu');
    try {
      const dy = rnd([2, 5, 7, 3], 18);
      const images = tf.zeros([2, 3, 4, 3]);
      for (const [alignCorners, halfPixelCenters] of [
        [false, false],
        [true, false],
        [false, true],
      ]) {
        const got = tf
          .engine()
          .runKernel('ResizeNearestNeighborGrad', { images, dy }, { alignCorners, halfPixelCenters }) as tf.Tensor;
        // By definition: dx = Jᵀ·dy for the forward's 0/1 matrix J, read off the forward of one-hot images.
        const want = new Float32Array(images.size);
        const dv = dy.dataSync();
        for (let i = 0; i < images.size; i++) {
          const oneHot = tf.tidy(() =>
            tf.image
              .resizeNearestNeighbor(
                tf.reshape(tf.oneHot(tf.tensor1d([i], 'int32'), images.size), [2, 3, 4, 3]) as tf.Tensor4D,
                [5, 7],
                alignCorners,
                halfPixelCenters,
              )
              .dataSync(),
          );
          for (let j = 0; j < oneHot.length; j++) want[i] += oneHot[j] * dv[j];
        }
        expectClose(got, want, { atol: 1e-6, rtol: 1e-6 }, `align ${alignCorners}, half pixel ${halfPixelCenters}`);
        got.dispose();
      }
      // The host function alone, on the shapes the UNet uses (2× upsampling of batch 2).
      const out = new Float32Array(2 * 2 * 2 * 1);
      resizeNearestNeighborBackward(
        Float32Array.from({ length: 32 }, (_, i) => i),
        [2, 4, 4, 1],
        [2, 2, 2, 1],
        {},
        out,
      );
      expect(Array.from(out)).to.deep.equal([
        0 + 1 + 4 + 5,
        2 + 3 + 6 + 7,
        8 + 9 + 12 + 13,
        10 + 11 + 14 + 15,
        16 + 17 + 20 + 21,
        18 + 19 + 22 + 23,
        24 + 25 + 28 + 29,
        26 + 27 + 30 + 31,
      ]);
      tf.dispose([dy, images]);
    } finally {
      await tf.setBackend(active);
    }
  });

  it('fused attention backward in query chunks (with a per-row mask sliced along) equals the unchunked one and tf ops', function () {
    skipUnlessBackend(this, ['wasm', 'cpu'], 'the fused attention kernel');
    // On wasm and cpu the kernel is the library's attention: unavailable there is a failure.
    expect(fusedAttentionSupported(4), fusedAttentionUnavailable()).to.equal(true);
    const heads = 2;
    const [q, k, v, r] = [rnd([2, 40, 8], 71), rnd([2, 24, 8], 72), rnd([2, 24, 8], 73), rnd([2, 40, 8], 74)];
    // Row i may see keys up to i/2 + 3 (a per-row mask).
    const mask = tf.tidy(() =>
      tf.mul(
        tf.sub(
          1,
          tf.tensor2d(
            Array.from({ length: 40 * 24 }, (_, j) => (j % 24 <= Math.floor(j / 24) / 2 + 3 ? 1 : 0)),
            [40, 24],
          ),
        ),
        -1e9,
      ),
    );
    const split = (x: tf.Tensor) =>
      tf.reshape(tf.transpose(tf.reshape(x, [2, x.shape[1]!, heads, 4]), [0, 2, 1, 3]), [
        2 * heads,
        x.shape[1]!,
        4,
      ]) as tf.Tensor3D;
    const plain = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, m?: tf.Tensor) => {
      let s = tf.mul(tf.matMul(split(a), split(b), false, true), 0.5);
      if (m) s = tf.add(s, m);
      const o = tf.matMul(tf.softmax(s), split(c));
      return tf.reshape(tf.transpose(tf.reshape(o, [2, heads, 40, 4]), [0, 2, 1, 3]), [2, 40, 8]);
    };
    const loss =
      (f: (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.Tensor) => (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
        tf.sum(tf.mul(f(a, b, c), r)) as tf.Scalar;
    for (const m of [undefined, mask]) {
      // 16 query rows per chunk: chunks of 16, 16 and 8 rows.
      const chunked = tf.grads(
        loss((a, b, c) =>
          fusedAttention(a as tf.Tensor3D, b as tf.Tensor3D, c as tf.Tensor3D, {
            heads,
            mask: m,
            backwardChunkBytes: 4 * 2 * heads * 24 * 16,
          }),
        ),
      )([q, k, v]);
      const whole = tf.grads(
        loss((a, b, c) => fusedAttention(a as tf.Tensor3D, b as tf.Tensor3D, c as tf.Tensor3D, { heads, mask: m })),
      )([q, k, v]);
      const ops = tf.grads(loss((a, b, c) => plain(a, b, c, m)))([q, k, v]);
      chunked.forEach((g, i) => {
        // Chunking changes only which rows are summed together (float32 order): rounding level.
        expectClose(g, whole[i], { atol: 1e-6, rtol: 1e-5 }, `${m ? 'masked ' : ''}d${'qkv'[i]}: chunked vs whole`);
        // The kernel's fused softmax vs tf's exp/sum: a few float32 ulps of values of order 1.
        expectClose(g, ops[i], { atol: 1e-5, rtol: 1e-4 }, `${m ? 'masked ' : ''}d${'qkv'[i]}: chunked vs tf ops`);
      });
      tf.dispose([...chunked, ...whole, ...ops]);
    }
    tf.dispose([q, k, v, r, mask]);
  });

  it('the group norm kernel and the tf-op form agree, values and gradients', function () {
    skipUnlessBackend(this, ['wasm', 'cpu'], 'the group norm kernel (a host-memory kernel of wasm and cpu)');
    const x = rnd([2, 3, 3, 6], 43, 2, 0.5);
    const w = tf.tensor1d(values(6, 41).map((v) => 1 + 0.3 * v));
    const b = tf.tensor1d(values(6, 42));
    // Same arithmetic, different summation order (float32): a few ulps of O(1) values.
    expectClose(
      fusedGroupNorm(x, w, b, { groups: 2, eps: 1e-5, silu: false }),
      groupNormOp(2, 1e-5)(x, w, b),
      { atol: 2e-6, rtol: 1e-5 },
      'fused vs ops',
    );
    const r = rnd([2, 3, 3, 6], 45);
    const gk = tf.grads((t, ww, bb) =>
      tf.sum(tf.mul(fusedGroupNorm(t, ww, bb, { groups: 2, eps: 1e-5, silu: false }), r)),
    )([x, w, b]);
    const go = tf.grads((t, ww, bb) => tf.sum(tf.mul(groupNormOp(2, 1e-5)(t, ww, bb), r)))([x, w, b]);
    // The γ/β gradients sum 18 products each: ~10 ulps of their size.
    gk.forEach((g, i) => expectClose(g, go[i], { atol: 2e-5, rtol: 1e-4 }, `gradient ${i}: fused vs ops`));
    tf.dispose([...gk, ...go, r, x, w, b]);
  });

  it('wasm backward kernels equal the cpu backend’s (conv backprop input/filter, transposed and batched matmul)', async function () {
    skipUnlessBackend(this, ['wasm'], 'the wasm backend’s backward kernels');
    const run = () =>
      tf.tidy(() => {
        const outs: tf.Tensor[] = [];
        for (const [xs, fs, s, pad] of [
          [[2, 9, 7, 5], [3, 3, 5, 6], 1, 'same'],
          [[2, 9, 9, 4], [3, 3, 4, 3], 2, 'valid'],
          [[2, 8, 8, 4], [3, 3, 4, 5], 2, 'same'],
          [[1, 10, 8, 3], [3, 3, 3, 2], 2, 1],
          [[2, 5, 5, 4], [1, 1, 4, 3], 1, 'valid'],
        ] as const) {
          const x = rnd([...xs], 51);
          const w = rnd([...fs], 52);
          const y = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, s, pad);
          const dy = rnd(y.shape, 53);
          outs.push(
            tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, {
              strides: s,
              pad,
              dataFormat: 'NHWC',
              inputShape: x.shape,
            } as unknown as tf.NamedAttrMap) as tf.Tensor,
          );
          outs.push(
            tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
              strides: s,
              pad,
              dataFormat: 'NHWC',
              filterShape: w.shape,
            } as unknown as tf.NamedAttrMap) as tf.Tensor,
          );
        }
        for (const [ta, tb] of [
          [false, false],
          [true, false],
          [false, true],
          [true, true],
        ]) {
          outs.push(
            tf.matMul(
              rnd(ta ? [3, 5, 4] : [3, 4, 5], 54) as tf.Tensor3D,
              rnd(tb ? [1, 6, 5] : [1, 5, 6], 55) as tf.Tensor3D,
              ta,
              tb,
            ),
          );
          outs.push(
            tf.matMul(
              rnd(ta ? [2, 2, 5, 4] : [2, 2, 4, 5], 56) as tf.Tensor4D,
              rnd(tb ? [2, 2, 6, 5] : [2, 2, 5, 6], 57) as tf.Tensor4D,
              ta,
              tb,
            ),
          );
        }
        return outs.map((t) => Array.from(t.dataSync()));
      });
    const wasm = run();
    const active = tf.getBackend();
    await tf.setBackend('cpu');
    try {
      const cpu = run();
      // Sums of up to 3·3·6·9·7 products of values in [-1, 1) in another order: float32 rounding.
      cpu.forEach((c, i) => expectClose(wasm[i], c, { atol: 2e-5, rtol: 1e-5 }, `result ${i}`));
    } finally {
      await tf.setBackend(active);
    }
  });

  it('leaves no tensors behind', async () => {
    installWasmGradKernels();
    const x = rnd([2, 3, 4], 61);
    await expectNoLeak('tf.grads', () => [
      ...tf.grads((t) => tf.sum(tf.softmax(t)))([x]),
      ...tf.grads((t) => tf.sum(tf.mul(tf.softmax(tf.matMul(t, t, false, true)), 2)))([x]),
    ]);
    x.dispose();
  });
});

gradientSuite('autograd vs finite differences, every element (the test backend)');
gradientSuite('autograd vs finite differences, every element (the cpu backend)', 'cpu');
