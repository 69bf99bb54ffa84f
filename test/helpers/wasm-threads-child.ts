/**
 * Child-process probe for the wasm thread set-up: `node --import tsx
 * test/helpers/wasm-threads-child.ts [default|bad-version|bad-bundle]` selects the wasm backend
 * (the variants break the threaded loader on purpose), checks a matmul, a conv and the fused
 * attention against plain references, and prints one JSON line. It then lets the process end
 * on its own: a worker thread that kept it alive would show up as a timeout in the test.
 */
import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '../../src/backend/select.js';
import { createNodeBackendCandidates, wasmThreadsInUse, type NodeBackendOptions } from '../../src/node/backend.js';
import { attend, setAttentionStrategy } from '../../src/nn/attention-core.js';
import { setLogLevel } from '../../src/util/log.js';

setLogLevel('info');
const scenario = process.argv[2] ?? 'default';
const opts: NodeBackendOptions = {};
if (scenario === 'bad-version') opts.threadedBundle = { expectVersion: '0.0.0-test' };
if (scenario === 'bad-bundle') {
  const dir = mkdtempSync(join(tmpdir(), 'ptp-bad-bundle-'));
  writeFileSync(join(dir, 'bundle.js'), '// not the tfjs-backend-wasm bundle\n');
  opts.threadedBundle = { bundlePath: join(dir, 'bundle.js') };
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++)
    m = Math.max(m, Math.abs(a[i] - b[i]) || (Number.isNaN(a[i] - b[i]) ? Infinity : 0));
  return m;
}

const b = await selectBackend(createNodeBackendCandidates(opts), 'wasm');

// matMul 384³ against a float64 JS product.
const n = 384;
const A = tf.randomUniform([n, n], -1, 1, 'float32', 1) as tf.Tensor2D;
const B = tf.randomUniform([n, n], -1, 1, 'float32', 2) as tf.Tensor2D;
const a = A.dataSync();
const bb = B.dataSync();
const ref = new Float64Array(n * n);
for (let i = 0; i < n; i++)
  for (let k = 0; k < n; k++) {
    const x = a[i * n + k];
    for (let j = 0; j < n; j++) ref[i * n + j] += x * bb[k * n + j];
  }
const matmulDiff = maxDiff(tf.matMul(A, B).dataSync(), ref);

// conv2d 3×3 on [1, 32, 32, 64] against the same conv as a matmul of shifted inputs (im2col).
const x = tf.randomUniform([1, 32, 32, 64], -1, 1, 'float32', 3) as tf.Tensor4D;
const w = tf.randomUniform([3, 3, 64, 32], -1, 1, 'float32', 4) as tf.Tensor4D;
const conv = tf.conv2d(x, w, 1, 'same');
const xp = tf.pad(x, [
  [0, 0],
  [1, 1],
  [1, 1],
  [0, 0],
]);
const cols = [];
for (let dy = 0; dy < 3; dy++) for (let dx = 0; dx < 3; dx++) cols.push(tf.slice(xp, [0, dy, dx, 0], [1, 32, 32, 64]));
const im2col = tf.reshape(tf.concat(cols, 3), [32 * 32, 9 * 64]) as tf.Tensor2D;
const convRef = tf.matMul(im2col, tf.reshape(w, [9 * 64, 32]) as tf.Tensor2D);
const convDiff = maxDiff(conv.dataSync(), convRef.dataSync());

// Fused attention (threaded when the kernel has workers) against the batched tfjs path.
const q = tf.randomNormal([2, 300, 320], 0, 1, 'float32', 5) as tf.Tensor3D;
const k = tf.randomNormal([2, 700, 320], 0, 1, 'float32', 6) as tf.Tensor3D;
const v = tf.randomNormal([2, 700, 320], 0, 1, 'float32', 7) as tf.Tensor3D;
setAttentionStrategy('fused');
const fused = attend(q, k, v, { heads: 8 }).dataSync();
setAttentionStrategy('batched');
const batched = attend(q, k, v, { heads: 8 }).dataSync();
setAttentionStrategy(undefined);

const attentionThreads = Number(/attention kernel (\d+) thread/.exec(b.description)?.[1] ?? 0);
process.stdout.write(
  JSON.stringify({
    description: b.description,
    tfjsThreads: wasmThreadsInUse(),
    attentionThreads,
    matmulDiff,
    convDiff,
    attentionDiff: maxDiff(fused, batched),
  }) + '\n',
);
