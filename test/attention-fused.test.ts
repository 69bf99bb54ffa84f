/**
 * The fused attention kernel against the tfjs reference path ('batched': matmul + softmax) at
 * SD-like shapes with random inputs: several query tiles and key blocks, padding of odd
 * sizes, masks (causal with −∞ and with float32 min, per-key rows, all-[1] leading dims) and
 * the controller path (probabilities materialised, edited, then multiplied by V).
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import {
  attend,
  attentionStats,
  attentionStrategy,
  resetAttentionStats,
  setAttentionStrategy,
  type AttendOptions,
} from '../src/nn/attention-core.js';
import type { AttentionContext, AttentionController } from '../src/nn/attention-control.js';
import { fusedAttentionUnavailable } from '../src/backend/attention-ops.js';
import { expectClose } from './helpers/close.js';
import { skipUnlessBackend } from './helpers/backend-skip.js';

const TOL = { atol: 2e-6, rtol: 2e-5 };
const PROBS_TOL = { atol: 1e-7, rtol: 2e-5 };

/** attend() with a forced strategy, checking that this strategy (not a fallback) ran. */
function run(
  strategy: 'fused' | 'batched',
  q: tf.Tensor3D,
  k: tf.Tensor3D,
  v: tf.Tensor3D,
  opts: AttendOptions,
): tf.Tensor3D {
  setAttentionStrategy(strategy);
  resetAttentionStats();
  try {
    return attend(q, k, v, opts);
  } finally {
    setAttentionStrategy(undefined);
    expect(attentionStats().calls, `attend() forced to '${strategy}'`).to.deep.include({ [strategy]: 1 });
  }
}

function inputs(b: number, n: number, m: number, inner: number, spread = 1) {
  return {
    q: tf.mul(tf.randomNormal([b, n, inner], 0, 1, 'float32', 1), spread) as tf.Tensor3D,
    k: tf.mul(tf.randomNormal([b, m, inner], 0, 1, 'float32', 2), spread) as tf.Tensor3D,
    v: tf.randomNormal([b, m, inner], 0, 1, 'float32', 3) as tf.Tensor3D,
  };
}

function causal(n: number, fill: number): tf.Tensor4D {
  const a = new Float32Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) a[i * n + j] = fill;
  return tf.tensor4d(a, [1, 1, n, n]);
}

/** Sharpens the probabilities of every head towards key 0 and renormalises (a P2P-like edit). */
class Editor implements AttentionController {
  seen: tf.Tensor3D[] = [];
  onAttention(probs: tf.Tensor3D, _ctx: AttentionContext): tf.Tensor3D {
    this.seen.push(tf.keep(tf.clone(probs)));
    const [, , m] = probs.shape;
    const w = tf.tensor1d(Array.from({ length: m }, (_, j) => (j === 0 ? 3 : 1)));
    const e = tf.mul(probs, w);
    return tf.div(e, tf.sum(e, -1, true)) as tf.Tensor3D;
  }
}

const ctx = (b: number, heads: number, n: number, m: number): AttentionContext => ({
  isCross: false,
  place: 'down',
  layerIndex: 0,
  numLayers: 1,
  blockIndex: 0,
  name: 'test',
  step: 0,
  height: n,
  width: 1,
  latent: { height: n, width: 1 },
  queries: n,
  keys: m,
  heads,
  batch: b,
});

describe('fused attention kernel vs the tfjs reference path', function () {
  before(function () {
    // The kernel is this library's attention on wasm and cpu: there, a kernel that cannot load is
    // a failure (attention would silently fall back to the slow per-head path), not a skip.
    skipUnlessBackend(this, ['wasm', 'cpu'], 'the fused attention kernel suite');
    const why = fusedAttentionUnavailable();
    if (why) throw new Error(`the fused attention kernel is broken on ${tf.getBackend()}: ${why}`);
  });

  it('is the default strategy on this backend, and the one that runs', () => {
    expect(attentionStrategy(40)).to.equal('fused');
    expect(attentionStrategy(6)).to.not.equal('fused');
    const { q, k, v } = inputs(1, 8, 8, 2 * 8);
    resetAttentionStats();
    // Head size 6 (not a multiple of 4): the per-head path.
    tf.tidy(() => [
      attend(q, k, v, { heads: 2 }),
      attend(...([q, k, v].map((t) => tf.slice(t, [0, 0, 0], [1, 8, 12])) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D]), {
        heads: 2,
      }),
    ]).forEach((t) => t.dispose());
    expect(attentionStats().calls).to.deep.equal({ fused: 1, 'per-head': 1, batched: 0 });
    tf.dispose([q, k, v]);
  });

  const shapes = [
    { what: 'SD self-attention 8×40 (several tiles and key blocks, odd sizes)', b: 2, n: 150, m: 1100, h: 8, d: 40 },
    { what: 'SD cross-attention 8×40 over 77 tokens', b: 2, n: 300, m: 77, h: 8, d: 40 },
    { what: 'SD 8×80 heads', b: 1, n: 64, m: 600, h: 8, d: 80 },
    { what: '8×160 heads', b: 1, n: 36, m: 36, h: 8, d: 160 },
    { what: 'tiny model 8×4 at batch 4', b: 4, n: 600, m: 600, h: 8, d: 4 },
    { what: 'VAE mid-block 1×512', b: 1, n: 70, m: 520, h: 1, d: 512 },
    { what: 'CLIP 12×64', b: 2, n: 77, m: 77, h: 12, d: 64 },
  ];
  for (const s of shapes) {
    it(`${s.what}: [${s.b}, ${s.n}, ${s.h * s.d}] × [${s.m}]`, () => {
      const { q, k, v } = inputs(s.b, s.n, s.m, s.h * s.d);
      const got = run('fused', q, k, v, { heads: s.h });
      const exp = run('batched', q, k, v, { heads: s.h });
      expect(got.shape).to.deep.equal(exp.shape);
      expectClose(got, exp, TOL, s.what);
      tf.dispose([q, k, v, got, exp]);
    });
  }

  it('large scores (peaked softmax, online rescaling across key blocks)', () => {
    const { q, k, v } = inputs(1, 40, 1500, 2 * 40, 3);
    const got = run('fused', q, k, v, { heads: 2 });
    const exp = run('batched', q, k, v, { heads: 2 });
    expectClose(got, exp, { atol: 1e-5, rtol: 1e-4 }, 'peaked');
    tf.dispose([q, k, v, got, exp]);
  });

  for (const [what, fill] of [
    ['−∞', -Infinity],
    ['float32 min', -3.4028234663852886e38],
    ['−1e9', -1e9],
  ] as const) {
    it(`CLIP causal mask filled with ${what}`, () => {
      const { q, k, v } = inputs(2, 77, 77, 12 * 64);
      const mask = causal(77, fill);
      const got = run('fused', q, k, v, { heads: 12, mask });
      // Reference with −1e9: the same probabilities to float precision, whatever the fill.
      const refMask = causal(77, -1e9);
      const exp = run('batched', q, k, v, { heads: 12, mask: refMask });
      expectClose(got, exp, TOL, `causal ${what}`);
      tf.dispose([q, k, v, mask, refMask, got, exp]);
    });
  }

  it('per-key mask row [1, M] and [M] broadcast over queries', () => {
    const { q, k, v } = inputs(2, 33, 530, 4 * 8);
    const row = tf.tensor1d(Array.from({ length: 530 }, (_, j) => (j % 7 === 3 ? -1e4 : (j % 5) * 0.1)));
    const exp = run('batched', q, k, v, { heads: 4, mask: row });
    for (const mask of [row, tf.reshape(row, [1, 530]), tf.reshape(row, [1, 1, 1, 530])]) {
      const got = run('fused', q, k, v, { heads: 4, mask });
      expectClose(got, exp, TOL, `mask [${mask.shape}]`);
      got.dispose();
    }
    tf.dispose([q, k, v, row, exp]);
  });

  it('controller path: probabilities match, edits apply, output matches', () => {
    const b = 2,
      h = 8,
      n = 100,
      m = 77;
    const { q, k, v } = inputs(b, n, m, h * 40);
    const fused = new Editor();
    const ref = new Editor();
    resetAttentionStats();
    setAttentionStrategy('fused');
    const got = attend(q, k, v, { heads: h, controller: fused, ctx: ctx(b, h, n, m) });
    setAttentionStrategy('batched');
    const exp = attend(q, k, v, { heads: h, controller: ref, ctx: ctx(b, h, n, m) });
    setAttentionStrategy(undefined);
    expect(fused.seen[0].shape).to.deep.equal([b * h, n, m]);
    expectClose(fused.seen[0], ref.seen[0], PROBS_TOL, 'probs');
    expectClose(got, exp, TOL, 'edited output');
    expect(attentionStats().calls).to.deep.equal({ fused: 1, batched: 1, 'per-head': 0 });
    tf.dispose([q, k, v, got, exp, ...fused.seen, ...ref.seen]);
  });

  it('controller path with a causal mask and more than one key block', () => {
    const { q, k, v } = inputs(1, 20, 700, 2 * 12);
    const mask = tf.tensor2d(
      Array.from({ length: 20 * 700 }, (_, i) => (i % 700 > 350 + ((i / 700) | 0) ? -Infinity : 0)),
      [20, 700],
    );
    const fused = new Editor();
    const ref = new Editor();
    resetAttentionStats();
    setAttentionStrategy('fused');
    const got = attend(q, k, v, { heads: 2, mask, controller: fused, ctx: ctx(1, 2, 20, 700) });
    setAttentionStrategy('batched');
    const exp = attend(q, k, v, { heads: 2, mask: tf.maximum(mask, -1e9), controller: ref, ctx: ctx(1, 2, 20, 700) });
    setAttentionStrategy(undefined);
    expectClose(fused.seen[0], ref.seen[0], PROBS_TOL, 'masked probs');
    expectClose(got, exp, TOL, 'masked edited output');
    expect(attentionStats().calls).to.deep.equal({ fused: 1, batched: 1, 'per-head': 0 });
    tf.dispose([q, k, v, mask, got, exp, ...fused.seen, ...ref.seen]);
  });

  it('many back-to-back calls alternating between threaded and single-threaded jobs stay exact', () => {
    const big = inputs(1, 96, 300, 4 * 40);
    const small = inputs(1, 5, 7, 2 * 4);
    const bigRef = run('batched', big.q, big.k, big.v, { heads: 4 });
    const smallRef = run('batched', small.q, small.k, small.v, { heads: 2 });
    for (let i = 0; i < 25; i++) {
      const a = run('fused', big.q, big.k, big.v, { heads: 4 });
      const b = run('fused', small.q, small.k, small.v, { heads: 2 });
      expectClose(a, bigRef, TOL, `big call ${i}`);
      expectClose(b, smallRef, TOL, `small call ${i}`);
      tf.dispose([a, b]);
    }
    tf.dispose([big.q, big.k, big.v, small.q, small.k, small.v, bigRef, smallRef]);
  });

  it('frees every intermediate tensor', () => {
    const { q, k, v } = inputs(1, 50, 90, 2 * 8);
    const before = tf.memory().numTensors;
    const out = run('fused', q, k, v, { heads: 2, mask: undefined });
    const edit = new Editor();
    setAttentionStrategy('fused');
    const out2 = attend(q, k, v, { heads: 2, controller: edit, ctx: ctx(1, 2, 50, 90) });
    setAttentionStrategy(undefined);
    expect(tf.memory().numTensors).to.equal(before + 2 + edit.seen.length);
    tf.dispose([q, k, v, out, out2, ...edit.seen]);
  });
});
