/**
 * Child process: selects the backend (argv[2], default auto), runs a small conv + matmul and
 * prints {backend, skipped, sum} (or {error}) as JSON on stdout.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initNodeBackend } from '../../src/node/backend.js';

let out: string;
let code = 0;
try {
  const b = await initNodeBackend(process.argv[2]);
  const sum = tf.tidy(() => {
    const x = tf.ones([1, 6, 6, 3]);
    const w = tf.fill([3, 3, 3, 2], 0.5);
    const y = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'valid');
    return tf.sum(tf.matMul(tf.reshape(y, [16, 2]), tf.ones([2, 2]))).dataSync()[0];
  });
  out = JSON.stringify({ backend: b.name, description: b.description, skipped: b.skipped, sum });
} catch (e) {
  out = JSON.stringify({ error: (e as Error).message });
  code = 3;
}
process.stdout.write(out, () => process.exit(code));
