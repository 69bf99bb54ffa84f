/**
 * `--selftest`: checks the harness itself. Case i by i % 6: 0 never returns (a synchronous
 * endless loop: only the watchdog can stop it); 1 throws a TypeError; 2 succeeds; 3 exits the
 * process with status 0 in the middle of the case; 4 fails a tfjs assertion (a plain Error
 * thrown inside tfjs); 5 throws a plain Error from the fuzz's own code, outside the library.
 * Crashes all but 0 (a hang) and 2.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { FuzzTarget } from './target.js';

export const selftestTarget: FuzzTarget<undefined> = {
  name: 'selftest',
  share: 1,
  async setup() {
    return undefined;
  },
  async run(_ctx, _rng, index) {
    switch (index % 6) {
      case 0:
        for (;;);
      case 1:
        (undefined as unknown as { x: () => void }).x();
        break;
      case 3:
        process.exit(0);
        break; // not reached
      case 4:
        tf.util.assert(false, () => 'a tfjs shape assertion');
        break;
      case 5:
        throw new Error('a plain Error from outside src/');
    }
  },
};
