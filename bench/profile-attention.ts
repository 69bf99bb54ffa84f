/**
 * Where the time of the tfjs per-head attention path goes at SD sizes (one batch item, one head,
 * each component timed separately). Run: npx tsx bench/profile-attention.ts
 */
import * as tf from '@tensorflow/tfjs-core';
import { initNodeBackend } from '../src/node/backend.js';

function time(label: string, f: () => tf.Tensor | tf.Tensor[], reps = 3): number {
  const ts: number[] = [];
  for (let r = 0; r < reps + 1; r++) {
    const t0 = performance.now();
    const out = f();
    // wasm kernels run synchronously: no read-back needed (dataSync would copy the output).
    const t = performance.now() - t0;
    tf.dispose(out);
    if (r > 0) ts.push(t);
  }
  ts.sort((a, b) => a - b);
  const med = ts[Math.floor(ts.length / 2)];
  console.log(`${label.padEnd(56)} ${med.toFixed(1).padStart(9)} ms`);
  return med;
}

async function main() {
  await initNodeBackend('wasm');
  const cases = [
    { name: 'SD 64² self, 8×40', b: 2, n: 4096, m: 4096, h: 8, d: 40 },
    { name: 'SD 64² cross 77, 8×40', b: 2, n: 4096, m: 77, h: 8, d: 40 },
    { name: 'tiny 64² self, 8×4, batch 4', b: 4, n: 4096, m: 4096, h: 8, d: 4 },
  ];
  for (const c of cases) {
    console.log(`\n== ${c.name}: q [${c.b}, ${c.n}, ${c.h * c.d}] kv [${c.b}, ${c.m}, ${c.h * c.d}]`);
    const inner = c.h * c.d;
    const q = tf.randomNormal([c.b, c.n, inner]) as tf.Tensor3D;
    const k = tf.randomNormal([c.b, c.m, inner]) as tf.Tensor3D;
    const v = tf.randomNormal([c.b, c.m, inner]) as tf.Tensor3D;
    const q2 = tf.reshape(tf.slice(q, [0, 0, 0], [1, c.n, inner]), [c.n, inner]) as tf.Tensor2D;
    const k2 = tf.reshape(tf.slice(k, [0, 0, 0], [1, c.m, inner]), [c.m, inner]) as tf.Tensor2D;
    const v2 = tf.reshape(tf.slice(v, [0, 0, 0], [1, c.m, inner]), [c.m, inner]) as tf.Tensor2D;
    const kT = tf.transpose(k2) as tf.Tensor2D;
    const qh = tf.slice(q2, [0, 0], [c.n, c.d]) as tf.Tensor2D;
    const kTh = tf.slice(kT, [0, 0], [c.d, c.m]) as tf.Tensor2D;
    const vh = tf.slice(v2, [0, 0], [c.m, c.d]) as tf.Tensor2D;
    const s = tf.matMul(qh, kTh);
    const p = tf.softmax(s) as tf.Tensor2D;
    const heads = c.b * c.h;
    const flopHead = 2 * c.n * c.m * c.d;
    const tSliceItem = time('slice batch item q (per item, x3 for q,k,v)', () =>
      tf.reshape(tf.slice(q, [1, 0, 0], [1, c.n, inner]), [c.n, inner]),
    );
    const tT = time('transpose K item [m, inner] (per item)', () => tf.transpose(k2));
    const tSlice = time('slice head q/kT/v (per head, x3)', () => tf.slice(q2, [0, c.d], [c.n, c.d]));
    const tQK = time('matMul q·kT (per head)', () => tf.matMul(qh, kTh));
    const tQKfresh = time('matMul q·kT, fresh kT each call (per head)', () =>
      tf.tidy(() => tf.matMul(qh, tf.slice(kT, [c.d, 0], [c.d, c.m]))),
    );
    const tMul = time('mul by scale on q item', () => tf.mul(q2, 0.1));
    const tSm = time('softmax [n, m] (per head)', () => tf.softmax(s));
    const tPV = time('matMul P·V (per head, same V)', () => tf.matMul(p, vh));
    const tPVfresh = time('matMul P·V, fresh V each call (per head)', () =>
      tf.tidy(() => tf.matMul(p, tf.slice(v2, [0, c.d], [c.m, c.d]))),
    );
    const outs = Array.from({ length: c.h }, () => tf.randomNormal([c.n, c.d]));
    const tCat = time('concat heads → [n, inner] (per item)', () => tf.concat(outs, 1));
    tf.dispose(outs);
    const items = Array.from({ length: c.b }, () => tf.randomNormal([c.n, inner]));
    const tStack = time('stack items (per call)', () => tf.stack(items));
    tf.dispose(items);
    const total = time(
      'attend() per-head path total',
      () =>
        tf.tidy(() => {
          // Imported lazily to keep the component timings above independent.
          return attendRef(q, k, v, c.h);
        }),
      1,
    );
    const parts = c.b * (3 * tSliceItem + tT + tCat) + heads * (3 * tSlice + tQKfresh + tSm + tPVfresh) + tStack + tMul;
    console.log(
      `sum of parts ≈ ${parts.toFixed(0)} ms; per head: QK ${tQK.toFixed(1)} (${(flopHead / tQK / 1e6).toFixed(1)} GFLOP/s, fresh ${(flopHead / tQKfresh / 1e6).toFixed(1)}), softmax ${tSm.toFixed(1)} (${((tSm * 1e6) / (c.n * c.m)).toFixed(2)} ns/el), PV ${tPV.toFixed(1)} (${(flopHead / tPV / 1e6).toFixed(1)} GFLOP/s, fresh ${(flopHead / tPVfresh / 1e6).toFixed(1)})`,
    );
    console.log(`attend total ${total.toFixed(0)} ms = ${((2 * flopHead * heads) / total / 1e6).toFixed(2)} GFLOP/s`);
    tf.dispose([q, k, v, q2, k2, v2, kT, qh, kTh, vh, s, p]);
  }
}

const core = await import('../src/nn/attention-core.js');
const attendRef = (q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, heads: number): tf.Tensor3D =>
  core.attend(q, k, v, { heads });
await main();
