/**
 * Tests that exercise one backend's own kernels (wasm's backward kernels, its heap guard, ...)
 * cannot run on another: under `PTP_BACKEND=cpu` they are skipped with one loud line, and they
 * fail instead when PTP_REQUIRE_WASM is set (`.ci/run` sets it), so CI cannot pass by skipping.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Returns when one of `backends` is active; else a loud skip of the running test, or a failure under PTP_REQUIRE_WASM. */
export function skipUnlessBackend(ctx: Mocha.Context, backends: readonly string[], what: string): void {
  const active = tf.getBackend();
  if (backends.includes(active)) return;
  const msg = `${what} needs the ${backends.join(' or ')} backend; this run is on ${active}`;
  if (process.env.PTP_REQUIRE_WASM)
    throw new Error(`${msg} (PTP_REQUIRE_WASM is set, so this is a failure, not a skip)`);
  console.warn(
    `    [SKIPPED: ${ctx.test?.fullTitle() ?? what}: ${msg}; set PTP_REQUIRE_WASM=1 to make this a failure]`,
  );
  ctx.skip();
}
