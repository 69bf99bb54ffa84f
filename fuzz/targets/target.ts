/** One kind of fuzz input: set-up once per process, then cases by seed. */
import type { Rng } from '../rng.js';

export interface FuzzTarget<C> {
  name: string;
  /** Fraction of all cases. */
  share: number;
  setup(): Promise<C>;
  /** One case; resolves (ok; optionally with how far it got, e.g. "sampled") or throws (classified by ../outcome.ts). */
  run(ctx: C, rng: Rng, index: number): Promise<void | string>;
  teardown?(ctx: C): Promise<void>;
}
