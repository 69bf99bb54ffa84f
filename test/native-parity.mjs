#!/usr/bin/env node
// Second half of `npm test`: the numeric parity suites and the gradient suites (autograd vs
// finite differences, the diffusion loss back to the text encoder, SegmentTape, training,
// null-text inversion) again, on the native backend, when the addon is built (a loud skip
// otherwise; an error under PTP_REQUIRE_NATIVE, as in CI).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const addon = process.env.PTP_NATIVE_ADDON || join(root, 'native', 'build', 'Release', 'ptp_native.node');
const suites = [
  'attention', 'attention-fused', 'attention-slicing', 'embeddings', 'resnet', 'transformer', 'unet', 'vae', 'text-encoder',
  'schedulers', 'pipeline', 'pipeline-sd2', 'ptp-sd2', 'ptp-attention-layer', 'ptp-controllers', 'ptp-blend', 'ptp-store', 'ptp-aggregate', 'ptp-invert', 'ptp-pipeline',
  'autograd', 'diffusion-gradients', 'segment-tape', 'train', 'ptp-null-text', 'native-train-kernels',
].map((s) => `test/${s}.test.ts`);

if (!existsSync(addon)) {
  const msg = `native addon not built (${addon}): the parity suites did not run on the native backend`;
  if (process.env.PTP_REQUIRE_NATIVE) {
    console.error(`ERROR: ${msg} (PTP_REQUIRE_NATIVE is set)`);
    process.exit(1);
  }
  console.warn(`\n!!! SKIPPED: ${msg} !!!\n`);
  process.exit(0);
}
console.log(`\nParity and gradient suites on the native backend (${suites.length} files)`);
const r = spawnSync(process.execPath, [join(root, 'node_modules', 'mocha', 'bin', 'mocha.js'), ...suites], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, PTP_BACKEND: 'native' },
});
process.exit(r.status ?? 1);
