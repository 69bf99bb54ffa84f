/** Numeric comparison with the reference rule |a − b| ≤ atol + rtol·|b|, reporting the worst element. */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';

export interface Tol {
  atol: number;
  rtol?: number;
}

function toArray(x: tf.Tensor | ArrayLike<number>): ArrayLike<number> {
  return x instanceof tf.Tensor ? x.dataSync() : x;
}

/** Summary of the differences between `actual` and `expected`. */
export function compare(actual: tf.Tensor | ArrayLike<number>, expected: tf.Tensor | ArrayLike<number>, tol: Tol) {
  const a = toArray(actual);
  const b = toArray(expected);
  const rtol = tol.rtol ?? 0;
  let worst = -Infinity;
  let worstIdx = -1;
  let maxAbs = 0;
  let bad = 0;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    const excess = d - (tol.atol + rtol * Math.abs(b[i]));
    if (!(excess <= 0)) bad++;
    if (d > maxAbs || Number.isNaN(d)) maxAbs = Number.isNaN(d) ? NaN : d;
    if (excess > worst || Number.isNaN(excess)) {
      worst = Number.isNaN(excess) ? Infinity : excess;
      worstIdx = i;
    }
  }
  return {
    length: a.length,
    expectedLength: b.length,
    maxAbs,
    bad,
    worstIdx,
    actualAt: a[worstIdx],
    expectedAt: b[worstIdx],
  };
}

/** Asserts closeness elementwise with a message naming `what` and the worst element. */
export function expectClose(
  actual: tf.Tensor | ArrayLike<number>,
  expected: tf.Tensor | ArrayLike<number>,
  tol: Tol,
  what = 'tensor',
): void {
  const r = compare(actual, expected, tol);
  expect(r.length, `${what}: length`).to.equal(r.expectedLength);
  expect(
    r.bad,
    `${what}: ${r.bad}/${r.length} elements outside atol ${tol.atol} rtol ${tol.rtol ?? 0}; max |diff| ${r.maxAbs}; worst at ${r.worstIdx}: got ${r.actualAt}, expected ${r.expectedAt}`,
  ).to.equal(0);
}
