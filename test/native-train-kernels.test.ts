/**
 * The native kernels training runs (src/node/native/elementwise-kernels.ts, norm-kernels.ts,
 * attention-kernels.ts) against the cpu backend, whose kernels are plain JS: binary arithmetic
 * with broadcasting (bit-identical), unary maps, Sum/Mean over any axes, the copy kernels
 * (Slice, SplitV, Concat, PadV2, Transpose; int32 too), Adam (bit-identical to the JS kernel)
 * and Σx²; the differentiable LayerNorm, GELU/quick_gelu/SiLU, GEGLU and fused attention
 * (value and gradients against the tf-op paths the other backends run, and against central
 * finite differences); results independent of the thread count and run to run.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { registerGradients } from '../src/backend/gradients/index.js';
import { adamUpdate, sumOfSquares } from '../src/backend/adam-kernel.js';
import { fusedActivation, fusedGeglu, fusedLayerNorm, type FusedActivation } from '../src/backend/fused-ops.js';
import { fusedAttention } from '../src/backend/attention-ops.js';
import { layerNormOp } from '../src/nn/norm.js';
import { loadNativeAddon, wantedNativeThreads } from '../src/node/native/addon.js';
import { nativeKernelActive } from '../src/node/native/install.js';
import { expectClose } from './helpers/close.js';
import { describeNative, maxAbs, onActive, randomValues, useNativeBackend } from './helpers/native.js';

registerGradients();

type Input = { shape: number[]; values: Float32Array; dtype?: 'float32' | 'int32' };
const int32 = (shape: number[], seed: number): Input => {
  const r = randomValues(shape, seed);
  return { shape, values: r.values.map((v) => Math.round(v * 1000)), dtype: 'int32' };
};
const tensorOf = (i: Input) =>
  i.dtype === 'int32' ? tf.tensor(Int32Array.from(i.values), i.shape, 'int32') : tf.tensor(i.values, i.shape);

/** Values of `f` on the active backend and on cpu (int32 inputs kept as int32). */
async function both(
  inputs: Input[],
  f: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[],
): Promise<[number[][], number[][]]> {
  const runIt = () =>
    tf.tidy(() => {
      const out = f(...inputs.map(tensorOf));
      return (Array.isArray(out) ? out : [out]).map((t) => Array.from(t.dataSync()));
    });
  const got = runIt();
  const active = tf.getBackend();
  await tf.setBackend('cpu');
  try {
    return [got, runIt()];
  } finally {
    await tf.setBackend(active);
  }
}

/** [value, ...gradients] of Σ r·f(xs) with respect to every input, on the active backend. */
function gradsOf(inputs: Input[], f: (...xs: tf.Tensor[]) => tf.Tensor): Float32Array[] {
  return tf.tidy(() => {
    const ts = inputs.map(tensorOf);
    const r = tf.tensor(randomValues(f(...ts).shape, 99).values, f(...ts).shape);
    const loss = (...xs: tf.Tensor[]) => tf.sum(tf.mul(f(...xs), r)) as tf.Scalar;
    const { value, grads } = tf.valueAndGrads(loss)(ts);
    return [value, ...grads].map((t) => t.dataSync() as Float32Array);
  });
}

async function gradsOnCpu(inputs: Input[], f: (...xs: tf.Tensor[]) => tf.Tensor): Promise<Float32Array[]> {
  const active = tf.getBackend();
  await tf.setBackend('cpu');
  try {
    return gradsOf(inputs, f);
  } finally {
    await tf.setBackend(active);
  }
}

/**
 * Central finite differences of Σ r·f(xs) (float64 accumulation of the float32 outputs) with
 * respect to input `which`, at `count` spread-out elements.
 */
function finiteDifferences(
  inputs: Input[],
  f: (...xs: tf.Tensor[]) => tf.Tensor,
  which: number,
  count: number,
  h = 1e-2,
): { at: number[]; fd: number[] } {
  const shape = f(...inputs.map(tensorOf)).shape;
  const r = randomValues(shape, 99).values;
  const lossAt = (xs: Input[]) =>
    tf.tidy(() => {
      const y = f(...xs.map(tensorOf)).dataSync();
      let s = 0;
      for (let i = 0; i < y.length; i++) s += y[i] * r[i];
      return s;
    });
  const n = inputs[which].values.length;
  const at = Array.from({ length: Math.min(count, n) }, (_, i) => Math.floor((i * n) / Math.min(count, n)));
  const fd = at.map((k) => {
    const moved = (d: number) =>
      inputs.map((inp, j) => (j !== which ? inp : { ...inp, values: inp.values.map((v, i) => (i === k ? v + d : v)) }));
    return (lossAt(moved(h)) - lossAt(moved(-h))) / (2 * h);
  });
  return { at, fd };
}

function bitsEqual(a: ArrayLike<number>[], b: ArrayLike<number>[], what: string): void {
  a.forEach((x, i) =>
    expect(
      Buffer.from(Float32Array.from(x).buffer).equals(Buffer.from(Float32Array.from(b[i]).buffer)),
      `${what} ${i}`,
    ).to.equal(true),
  );
}

/** `f` once with one native thread and once with the configured count. */
function withThreads<T>(n: number, f: () => T): T {
  const addon = loadNativeAddon();
  addon.setThreads(n);
  try {
    return f();
  } finally {
    addon.setThreads(wantedNativeThreads());
  }
}

describeNative('native training kernels vs the cpu backend', function () {
  this.timeout(120000);
  useNativeBackend();

  describe('binary arithmetic with broadcasting (bit-identical)', () => {
    const shapes: [number[], number[]][] = [
      [
        [3, 7, 33],
        [3, 7, 33],
      ],
      [[3, 7, 33], []],
      [[], [5, 17]],
      [[40, 64], [64]],
      [
        [40, 64],
        [40, 1],
      ],
      [
        [4, 5, 6, 32],
        [4, 1, 1, 32],
      ],
      [
        [4, 1, 3],
        [1, 5, 1],
      ],
      [
        [2, 70000],
        [2, 70000],
      ],
      [
        [64, 300, 77],
        [64, 300, 1],
      ],
      [
        [5, 1],
        [1, 300000],
      ],
    ];
    const ops: [string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor][] = [
      ['Add', tf.add],
      ['Sub', tf.sub],
      ['Multiply', tf.mul],
      ['RealDiv', tf.div],
      ['SquaredDifference', tf.squaredDifference],
    ];
    for (const [name, op] of ops) {
      it(`${name} on ${shapes.length} shape pairs`, async () => {
        expect(nativeKernelActive(name)).to.equal(true);
        for (const [i, [sa, sb]] of shapes.entries()) {
          const [got, ref] = await both([randomValues(sa, 10 + i), randomValues(sb, 20 + i)], op);
          // cpu squares the exact difference in float64: within an ulp or two.
          if (name === 'SquaredDifference')
            expectClose(got[0], ref[0], { atol: 0, rtol: 3e-7 }, `${name} [${sa}] [${sb}]`);
          else bitsEqual(got, ref, `${name} [${sa}] [${sb}]`);
        }
      });
    }
    it('int32 operands run the wasm kernel', async () => {
      const [got, ref] = await both([int32([3, 4], 1), int32([4], 2)], tf.add);
      expect(got).to.deep.equal(ref);
    });
  });

  it('unary maps: Neg, Square, Sqrt, Rsqrt, Exp, Sigmoid', async () => {
    const x = randomValues([3, 40001], 5);
    const pos = { shape: x.shape, values: x.values.map((v) => 0.01 + 4 * Math.abs(v)) };
    const wide = { shape: x.shape, values: x.values.map((v) => 30 * v) };
    const cases: [string, Input, (t: tf.Tensor) => tf.Tensor, number][] = [
      ['Neg', x, tf.neg, 0],
      ['Square', wide, tf.square, 0],
      ['Sqrt', pos, tf.sqrt, 0],
      ['Rsqrt', pos, tf.rsqrt, 1.2e-7],
      ['Exp', wide, tf.exp, 4e-7],
      ['Sigmoid', wide, tf.sigmoid, 4e-7],
    ];
    for (const [name, input, op, rtol] of cases) {
      expect(nativeKernelActive(name), name).to.equal(true);
      const [got, ref] = await both([input], op);
      expectClose(got[0], ref[0], { atol: 1e-30, rtol }, name);
    }
  });

  describe('Sum and Mean over any axes', () => {
    const cases: [number[], number | number[], boolean][] = [
      [[4096, 64], 0, false],
      [[1, 4096, 256], [0, 1], false],
      [[64, 256, 256], -1, true],
      [[16, 32, 32, 32], [0, 1, 2], false],
      [[16, 16, 16, 64], [1, 2], true],
      [[3, 10, 7, 4, 5], [1, 3], false],
      [[100003], 0, false],
      [[5, 6, 7], [0, 1, 2], true],
      [[2, 1, 3], 1, false],
    ];
    cases.forEach(([shape, axis, keepDims], i) => {
      it(`x [${shape}] axis ${JSON.stringify(axis)}${keepDims ? ' keepDims' : ''}`, async () => {
        const x = randomValues(shape, 30 + i);
        for (const [name, op] of [
          ['sum', tf.sum],
          ['mean', tf.mean],
        ] as const) {
          const [got, ref] = await both([x], (t) => op(t, axis, keepDims));
          const reduced = tf.util.sizeFromShape(shape) / ref[0].length;
          // The cpu backend sums in float32 in order: its error grows with the length.
          expectClose(
            got[0],
            ref[0],
            { atol: 1e-6 * Math.sqrt(reduced) * (name === 'mean' ? 1 / reduced : 1), rtol: 1e-5 },
            `${name} [${shape}]`,
          );
          const [shapeGot] = await both([x], (t) => tf.tensor1d(op(t, axis, keepDims).shape));
          expect(shapeGot[0]).to.deep.equal(tf.tidy(() => op(tf.zeros(shape), axis, keepDims).shape));
        }
      });
    });
    it('is close to a float64 sum over 2²⁰ values', () => {
      const x = randomValues([1 << 20], 7);
      let exact = 0;
      for (const v of x.values) exact += v;
      const got = onActive([x], (t) => tf.sum(t))[0];
      expect(Math.abs(got - exact)).to.be.below(1e-6 * Math.max(1, Math.abs(exact)) + 1e-4);
    });
  });

  describe('data movement (float32 and int32, exact)', () => {
    const x = randomValues([4, 9, 10, 12], 40);
    const xi = int32([4, 9, 10, 12], 41);
    const cases: [string, Input[], (...t: tf.Tensor[]) => tf.Tensor | tf.Tensor[]][] = [
      ['Slice', [x], (t) => tf.slice(t, [1, 2, 0, 5], [2, 6, 10, 7])],
      ['Slice (int32)', [xi], (t) => tf.slice(t, [0, 3, 1, 0], [4, 1, 9, 12])],
      ['SplitV last axis', [x], (t) => tf.split(t, [8, 4], 3)],
      ['SplitV outer axis (int32)', [xi], (t) => tf.split(t, [1, 6, 2], 1)],
      ['Concat channels', [x, randomValues([4, 9, 10, 5], 42)], (a, b) => tf.concat([a, b], 3)],
      ['Concat rows', [x, randomValues([2, 9, 10, 12], 43)], (a, b) => tf.concat([a, b], 0)],
      [
        'PadV2',
        [x],
        (t) =>
          tf.pad(
            t,
            [
              [0, 1],
              [2, 0],
              [1, 1],
              [0, 3],
            ],
            0.5,
          ),
      ],
      ['Transpose [0,2,1,3]', [x], (t) => tf.transpose(t, [0, 2, 1, 3])],
      ['Transpose [3,1,2,0] (int32)', [xi], (t) => tf.transpose(t, [3, 1, 2, 0])],
    ];
    for (const [name, inputs, f] of cases) {
      it(name, async () => {
        const [got, ref] = await both(inputs, f);
        expect(got).to.deep.equal(ref);
      });
    }
  });

  it('Adam: bit-identical to the JS kernel; Σx² to float64', async () => {
    const shape = [70001];
    const ins = [
      randomValues(shape, 50),
      randomValues(shape, 51),
      { shape, values: randomValues(shape, 52).values.map(Math.abs) },
      randomValues(shape, 53),
    ];
    const c = {
      beta1: 0.9,
      beta2: 0.999,
      stepSize: 1e-3 / (1 - 0.9 ** 3),
      bc2Sqrt: Math.sqrt(1 - 0.999 ** 3),
      eps: 1e-8,
      decay: 1 - 1e-3 * 0.01,
    };
    expect(nativeKernelActive('PtpAdamUpdate')).to.equal(true);
    const [got, ref] = await both(ins, (p, m, v, g) => adamUpdate(p, m, v, g, c));
    bitsEqual(got, ref, 'adam output');
    const [s] = await both([ins[0]], (t) => sumOfSquares(t));
    const exact = ins[0].values.reduce((a, v) => a + v * v, 0);
    expect(Math.abs(s[0][0] - exact)).to.be.below(1e-6 * exact);
  });

  describe('differentiable fused ops: value and gradients', () => {
    it('LayerNorm matches the tf-op LayerNorm (cpu) and finite differences', async () => {
      const ins = [
        { shape: [3, 7, 45], values: randomValues([3, 7, 45], 60).values.map((v) => 2 + 3 * v) },
        randomValues([45], 61),
        randomValues([45], 62),
      ];
      const f = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
        fusedLayerNorm(x, g, b, 1e-5) ?? layerNormOp(1e-5)(x, g, b);
      const ref = await gradsOnCpu(ins, (x, g, b) => layerNormOp(1e-5)(x, g, b));
      const got = gradsOf(ins, f);
      got.forEach((g, i) =>
        expectClose(
          g,
          ref[i],
          { atol: 3e-5 * Math.max(1, maxAbs(ref[i])), rtol: 1e-4 },
          ['value', 'dx', 'dgamma', 'dbeta'][i],
        ),
      );
      const { at, fd } = finiteDifferences(ins, f, 0, 12);
      expectClose(
        at.map((k) => got[1][k]),
        fd,
        { atol: 5e-3, rtol: 1e-2 },
        'dx vs finite differences',
      );
    });

    const acts: [FusedActivation, (x: tf.Tensor) => tf.Tensor][] = [
      ['gelu', (x) => tf.mul(tf.mul(x, tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)), 0.5)],
      ['quick_gelu', (x) => tf.mul(x, tf.sigmoid(tf.mul(x, 1.702)))],
      ['silu', (x) => tf.mul(x, tf.sigmoid(x))],
    ];
    for (const [kind, ops] of acts) {
      it(`${kind} matches autograd through tf ops (cpu) and finite differences`, async () => {
        const ins = [{ shape: [5, 4001], values: randomValues([5, 4001], 70).values.map((v) => 8 * v) }];
        const f = (x: tf.Tensor) => fusedActivation(x, kind)!;
        const ref = await gradsOnCpu(ins, ops);
        const got = gradsOf(ins, f);
        expectClose(got[0], ref[0], { atol: 1e-3, rtol: 1e-5 }, `${kind} value`);
        expectClose(got[1], ref[1], { atol: 2e-6, rtol: 2e-5 }, `${kind} dx`);
        const { at, fd } = finiteDifferences(ins, f, 0, 16, 1e-3);
        expectClose(
          at.map((k) => got[1][k]),
          fd,
          { atol: 2e-3, rtol: 1e-2 },
          `${kind} dx vs finite differences`,
        );
      });
    }

    it('GEGLU matches h·gelu(g) through tf ops (cpu)', async () => {
      const ins = [{ shape: [3, 50, 2 * 37], values: randomValues([3, 50, 74], 80).values.map((v) => 4 * v) }];
      const ref = await gradsOnCpu(ins, (x) => {
        const [h, g] = tf.split(x, 2, -1);
        return tf.mul(h, acts[0][1](g));
      });
      const got = gradsOf(ins, (x) => fusedGeglu(x)!);
      expectClose(got[0], ref[0], { atol: 1e-3, rtol: 1e-5 }, 'geglu value');
      expectClose(got[1], ref[1], { atol: 2e-6, rtol: 2e-5 }, 'geglu dx');
    });

    const attnCases = [
      { b: 2, n: 37, m: 37, heads: 4, d: 16, mask: true },
      { b: 3, n: 64, m: 77, heads: 2, d: 40, mask: false },
      { b: 1, n: 9, m: 5, heads: 3, d: 8, mask: false },
    ];
    attnCases.forEach((c, i) => {
      it(`fused attention b ${c.b}, ${c.n} queries, ${c.m} keys, ${c.heads}×${c.d}${c.mask ? ', causal mask' : ''}: gradients match the tf-op backward (cpu)`, async () => {
        const inner = c.heads * c.d;
        const ins = [
          randomValues([c.b, c.n, inner], 90 + i),
          randomValues([c.b, c.m, inner], 91 + i),
          randomValues([c.b, c.m, inner], 92 + i),
        ];
        const mask = c.mask
          ? tf.tidy(() => tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([c.n, c.m]), -1, 0)), -1e9))
          : undefined;
        const maskOn = async () => (mask ? tf.tensor(mask.dataSync(), mask.shape) : undefined);
        const f = (m?: tf.Tensor) => (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) =>
          fusedAttention(q as tf.Tensor3D, k as tf.Tensor3D, v as tf.Tensor3D, { heads: c.heads, mask: m });
        const active = tf.getBackend();
        await tf.setBackend('cpu');
        const cpuMask = await maskOn();
        const ref = gradsOf(ins, f(cpuMask));
        cpuMask?.dispose();
        await tf.setBackend(active);
        expect(nativeKernelActive('PtpFusedAttentionGrad')).to.equal(true);
        const got = gradsOf(ins, f(mask));
        got.forEach((g, k) =>
          expectClose(
            g,
            ref[k],
            { atol: 2e-5 * Math.max(1, maxAbs(ref[k])), rtol: 1e-4 },
            ['value', 'dq', 'dk', 'dv'][k],
          ),
        );
        if (i === 2) {
          for (const which of [0, 1, 2]) {
            const { at, fd } = finiteDifferences(ins, f(), which, 10);
            expectClose(
              at.map((k) => got[1 + which][k]),
              fd,
              { atol: 2e-3, rtol: 1e-2 },
              `${['dq', 'dk', 'dv'][which]} vs finite differences`,
            );
          }
        }
        mask?.dispose();
      });
    });
  });

  it('reductions, norms and attention give the same bits on 1 thread and on all, run to run', () => {
    const x = randomValues([16, 64, 96], 110);
    const g = randomValues([96], 111);
    const b = randomValues([96], 112);
    const run = () => [
      ...gradsOf([x, g, b], (xx, gg, bb) => fusedLayerNorm(xx, gg, bb, 1e-5)!),
      ...gradsOf([x, x, x], (q, k, v) =>
        fusedAttention(q as tf.Tensor3D, k as tf.Tensor3D, v as tf.Tensor3D, { heads: 4 }),
      ),
      onActive([x], (t) => tf.sum(t, [0, 1])),
      onActive([x], (t) => tf.mean(t, -1)),
      onActive([x], (t) => tf.sum(t)),
    ];
    const all = run();
    bitsEqual(all, run(), 'run to run');
    bitsEqual(all, withThreads(1, run), '1 thread vs all');
  });

  it('the inference-only group norm kernel stands aside while gradients are recorded; GELU is differentiable', () => {
    const x = tf.tensor([1, 2, 3, 4], [1, 1, 1, 4]);
    const seen: (tf.Tensor | undefined)[] = [];
    const g = tf.grad((t: tf.Tensor) => {
      const gelu = fusedActivation(t, 'gelu');
      seen.push(gelu);
      return tf.sum(gelu!);
    })(x);
    expect(seen[0]).to.be.instanceOf(tf.Tensor);
    expect(Array.from(g.dataSync()).every((v) => v > 0.5 && v < 1.2)).to.equal(true);
    tf.dispose([x, g]);
  });
});
