/**
 * `--selftest`: checks the harness itself. Case i: i % 3 = 0 never returns (a synchronous endless
 * loop: only the watchdog can stop it), 1 throws a TypeError (a crash), 2 succeeds.
 */
import type { FuzzTarget } from './target.js';

export const selftestTarget: FuzzTarget<undefined> = {
  name: 'selftest',
  share: 1,
  async setup() {
    return undefined;
  },
  async run(_ctx, _rng, index) {
    if (index % 3 === 0) for (;;);
    if (index % 3 === 1) (undefined as unknown as { x: () => void }).x();
  },
};
