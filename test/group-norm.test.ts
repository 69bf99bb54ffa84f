/**
 * GroupNorm where the epsilon matters: groups whose variance is comparable to eps (1e-6…1e-4), so
 * a wrong or ignored eps, or a one-pass E[x²] − E[x]² variance, moves the output far outside the
 * tolerance. The expected values are torch.nn.GroupNorm's definition evaluated in float64 on the
 * same float32 inputs. Every implementation is checked: the GroupNorm module on the active
 * backend, the fused JS kernels on wasm and cpu (forward, and under a gradient tape), the tf-ops
 * form (webgl, webgpu, tfjs-node), and the native kernel.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { expect } from 'chai';
import { GroupNorm, groupNormOp } from '../src/nn/norm.js';
import { fusedGroupNorm as jsGroupNorm } from '../src/backend/group-norm-kernel.js';
import { fusedGroupNorm as nativeGroupNorm, GROUP_NORM as NATIVE_GROUP_NORM } from '../src/backend/fused-ops.js';
import { registerGradients } from '../src/backend/gradients/index.js';
import { describeNative, useNativeBackend } from './helpers/native.js';
import { skipUnlessBackend } from './helpers/backend-skip.js';

const SHAPE = [2, 6, 5, 16];
const GROUPS = 4;
/** Per group: mean and standard deviation (variance 1e-6, 9e-6, 1e-4, 1). */
const GROUP_STATS = [
  [0.5, 1e-3],
  [-0.25, 3e-3],
  [1.5, 1e-2],
  [0, 1],
];

/** Deterministic float32 input with the group statistics above (per item, per group). */
function input(): Float32Array {
  const [b, h, w, c] = SHAPE;
  const cg = c / GROUPS;
  const out = new Float32Array(b * h * w * c);
  let s = 12345;
  const uniform = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  for (let i = 0; i < out.length; i++) {
    const [mean, std] = GROUP_STATS[Math.floor((i % c) / cg)];
    out[i] = mean + std * Math.sqrt(3) * uniform() + (i % 7 === 0 ? std : 0);
  }
  return out;
}

const weight = Float32Array.from({ length: SHAPE[3] }, (_, i) => 0.5 + 0.1 * i);
const bias = Float32Array.from({ length: SHAPE[3] }, (_, i) => 0.05 * (i - 8));

/** torch.nn.GroupNorm in float64: biased group variance, (x − mean)/√(var + eps)·w + b (then SiLU). */
function reference(x: Float32Array, eps: number, silu: boolean): Float64Array {
  const [b, h, w, c] = SHAPE;
  const n = h * w;
  const cg = c / GROUPS;
  const y = new Float64Array(x.length);
  for (let bi = 0; bi < b; bi++) {
    for (let g = 0; g < GROUPS; g++) {
      const at = (p: number, k: number) => (bi * n + p) * c + g * cg + k;
      let sum = 0;
      for (let p = 0; p < n; p++) for (let k = 0; k < cg; k++) sum += x[at(p, k)];
      const mean = sum / (n * cg);
      let sq = 0;
      for (let p = 0; p < n; p++) for (let k = 0; k < cg; k++) sq += (x[at(p, k)] - mean) ** 2;
      const rstd = 1 / Math.sqrt(sq / (n * cg) + eps);
      for (let p = 0; p < n; p++) {
        for (let k = 0; k < cg; k++) {
          const ch = g * cg + k;
          const v = (x[at(p, k)] - mean) * rstd * weight[ch] + bias[ch];
          y[at(p, k)] = silu ? v / (1 + Math.exp(-v)) : v;
        }
      }
    }
  }
  return y;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < b.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

/** Float32 rounding of the normalised values (inputs near 1.5 with a spread of 1e-3) stays well below this. */
const TOL = 5e-4;

type Impl = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, eps: number, silu: boolean) => tf.Tensor;

const cases: [string, number, boolean][] = [
  ['UNet eps 1e-5', 1e-5, false],
  ['VAE eps 1e-6', 1e-6, false],
  ['eps 1e-5 + SiLU', 1e-5, true],
];

/** Checks one implementation on every case, and that the cases really depend on eps. */
function checkImpl(name: string, impl: () => Impl, backends?: readonly string[]) {
  for (const [what, eps, silu] of cases) {
    it(`${name}: ${what}`, function () {
      if (backends) skipUnlessBackend(this, backends, `${name}: the group norm kernel (host memory)`);
      const x = input();
      const expected = reference(x, eps, silu);
      // The test is sensitive: eps × 10 and eps = 0 are far outside the tolerance.
      expect(maxDiff(reference(x, eps * 10, silu), expected)).to.be.above(100 * TOL);
      expect(maxDiff(reference(x, 0, silu), expected)).to.be.above(20 * TOL);
      const got = tf.tidy(() =>
        impl()(tf.tensor(x, SHAPE), tf.tensor1d(weight), tf.tensor1d(bias), eps, silu).dataSync(),
      );
      expect(got.length).to.equal(expected.length);
      const d = maxDiff(got, expected);
      expect(d, `${name} ${what}: max |Δ| ${d} against float64`).to.be.at.most(TOL);
    });
  }
}

const moduleImpl: Impl = (x, w, b, eps, silu) => {
  const gn = new GroupNorm(GROUPS, SHAPE[3], eps);
  gn.weight!.setTorchValues(w.dataSync() as Float32Array);
  gn.bias!.setTorchValues(b.dataSync() as Float32Array);
  try {
    return gn.forward(x, { silu });
  } finally {
    gn.dispose();
  }
};
const jsKernelImpl: Impl = (x, w, b, eps, silu) => jsGroupNorm(x, w, b, { groups: GROUPS, eps, silu });
const tfOpsImpl: Impl = (x, w, b, eps, silu) => {
  const y = groupNormOp(GROUPS, eps)(x, w, b);
  return silu ? tf.mul(y, tf.sigmoid(y)) : y;
};
/** The module while gradients are recorded (training: the native kernel has no gradient and is skipped). */
const tapedImpl: Impl = (x, w, b, eps, silu) => {
  registerGradients();
  let y: tf.Tensor | undefined;
  tf.dispose(
    tf.grads((xi: tf.Tensor) => {
      y = tf.keep(moduleImpl(xi, w, b, eps, silu));
      return tf.sum(y);
    })([x]),
  );
  return y!;
};

describe('GroupNorm with group variances near eps (float64 definition)', () => {
  describe('on the test backend', () => {
    checkImpl('GroupNorm module', () => moduleImpl);
    checkImpl('tf-ops form (groupNormOp)', () => tfOpsImpl);
    checkImpl('GroupNorm module under a gradient tape', () => tapedImpl);
  });

  describe('fused JS kernels', () => {
    checkImpl('kernel on the test backend', () => jsKernelImpl, ['wasm', 'cpu']);
    describe('on the cpu backend', () => {
      let previous = '';
      before(async () => {
        previous = tf.getBackend();
        await tf.setBackend('cpu');
      });
      after(async () => {
        await tf.setBackend(previous);
      });
      checkImpl('kernel (cpu)', () => jsKernelImpl);
      checkImpl('GroupNorm module (cpu)', () => moduleImpl);
    });
  });
});

describeNative('GroupNorm with group variances near eps: native kernel', () => {
  useNativeBackend();
  it('the native kernel is what the GroupNorm module runs', () => {
    expect(tf.getKernel(NATIVE_GROUP_NORM, tf.getBackend()), 'native GroupNorm kernel registered').to.not.equal(
      undefined,
    );
  });
  checkImpl('native kernel', () => (x, w, b, eps, silu) => nativeGroupNorm(x, GROUPS, eps, w, b, silu)!);
  checkImpl('GroupNorm module (native)', () => moduleImpl);
  checkImpl('GroupNorm module under a gradient tape (native backend)', () => tapedImpl);
});
