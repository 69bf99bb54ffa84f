/**
 * Child-process probe for backend selection (keeps the test process's global tfjs state as is):
 * `node --import tsx test/helpers/backend-child.ts [preferred|-]` prints the SelectedBackend (or
 * {error}) as JSON on stdout; the selection log goes to stderr.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initNodeBackend } from '../../src/node/backend.js';
import { setLogLevel } from '../../src/util/log.js';

setLogLevel('info');
const arg = process.argv[2];
let out: string;
let code = 0;
try {
  const b = await initNodeBackend(arg === undefined || arg === '-' ? undefined : arg);
  out = JSON.stringify({ ...b, active: tf.getBackend() });
} catch (e) {
  out = JSON.stringify({ error: (e as Error).message });
  code = 3;
}
// Exit explicitly: backend worker threads would keep the process alive.
process.stdout.write(out, () => process.exit(code));
