/**
 * Why the native kernels sit on the wasm backend rather than on tfjs-backend-cpu's storage: the
 * kernels the addon does not replace run on the host backend, so compare those — the
 * non-conv/matmul ops of a UNet resnet block and transformer block at SD-1.5's 64² shapes
 * (GroupNorm by tfjs ops, SiLU, residual add, skip concat, bias add, GEGLU product, slice) —
 * on cpu and on wasm, alternating in one process. Prints ms per backend and the ratio, then
 * one JSON line.
 *
 *   node --import tsx bench/storage-choice.ts [--reps=3]
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { initNodeBackend } from '../src/node/backend.js';

const reps = Number(process.argv.find((a) => a.startsWith('--reps='))?.split('=')[1] ?? 3);

/** The glue ops of one resnet + transformer block pair at 64² (no conv, matmul or attention). */
function glue(x: tf.Tensor4D, skip: tf.Tensor4D, h: tf.Tensor3D, gate: tf.Tensor3D): tf.Tensor[] {
  return tf.tidy(() => {
    const [b, hh, w, c] = x.shape;
    const g = tf.reshape(x, [b, hh * w, 32, c / 32]);
    const { mean, variance } = tf.moments(g, [1, 3], true);
    const n = tf.reshape(tf.mul(tf.sub(g, mean), tf.rsqrt(tf.add(variance, 1e-5))), x.shape);
    const act = tf.mul(n, tf.sigmoid(n));
    const res = tf.add(act, x);
    const cat = tf.concat([res, skip], 3);
    const geglu = tf.mul(h, tf.mul(gate, tf.sigmoid(tf.mul(gate, 1.702))));
    const part = tf.slice(geglu, [0, 0, 0], [b, hh * w, 640]);
    return [cat, part];
  });
}

async function time(backend: string): Promise<number> {
  await tf.setBackend(backend);
  const x = tf.randomNormal([2, 64, 64, 320]) as tf.Tensor4D;
  const skip = tf.randomNormal([2, 64, 64, 320]) as tf.Tensor4D;
  const h = tf.randomNormal([2, 4096, 1280]) as tf.Tensor3D;
  const gate = tf.randomNormal([2, 4096, 1280]) as tf.Tensor3D;
  tf.dispose(glue(x, skip, h, gate));
  const t0 = performance.now();
  for (let r = 0; r < reps; r++) tf.dispose(glue(x, skip, h, gate));
  const ms = (performance.now() - t0) / reps;
  tf.dispose([x, skip, h, gate]);
  return ms;
}

await initNodeBackend('wasm');
const results: { wasm: number[]; cpu: number[] } = { wasm: [], cpu: [] };
for (let round = 0; round < 2; round++) {
  results.wasm.push(await time('wasm'));
  results.cpu.push(await time('cpu'));
}
const wasm = Math.min(...results.wasm);
const cpu = Math.min(...results.cpu);
console.log(
  `glue ops of a resnet + transformer block at 64² (best of 2 rounds × ${reps}): wasm ${wasm.toFixed(0)} ms, cpu ${cpu.toFixed(0)} ms, cpu/wasm ×${(cpu / wasm).toFixed(1)}`,
);
console.log(
  JSON.stringify({
    glue_wasm_ms: +wasm.toFixed(1),
    glue_cpu_ms: +cpu.toFixed(1),
    ratio_cpu_vs_wasm: +(cpu / wasm).toFixed(2),
  }),
);
process.exit(0);
