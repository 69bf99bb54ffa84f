#!/usr/bin/env node
// `npm test` (fast) and `npm run test:slow` (slow): the mocha suite on the test backend (wasm),
// then the numeric parity and gradient suites again on the native backend when the addon is built
// (a loud skip otherwise; an error under PTP_REQUIRE_NATIVE, as in CI). Which suite files are slow
// is declared once, in test/suites.mjs; `.ci/run` runs both halves.
//
//   node test/run.mjs fast|slow|all [mocha options, e.g. --grep text]
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NATIVE_PARITY, SLOW } from './suites.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [mode, ...mochaArgs] = process.argv.slice(2);
if (!['fast', 'slow', 'all'].includes(mode)) {
  console.error('usage: node test/run.mjs fast|slow|all [mocha options]');
  process.exit(2);
}
const all = readdirSync(join(root, 'test'))
  .filter((f) => f.endsWith('.test.ts'))
  .map((f) => f.slice(0, -'.test.ts'.length))
  .sort();
for (const s of [...SLOW, ...NATIVE_PARITY]) {
  if (!all.includes(s)) {
    console.error(`test/suites.mjs names "${s}", but there is no test/${s}.test.ts`);
    process.exit(2);
  }
}
const picked = (names) => names.filter((s) => mode === 'all' || (mode === 'slow') === SLOW.includes(s));
const files = (names) => names.map((s) => `test/${s}.test.ts`);
const mocha = (names, env) => {
  if (!names.length) return 0;
  const r = spawnSync(
    process.execPath,
    [join(root, 'node_modules', 'mocha', 'bin', 'mocha.js'), ...mochaArgs, ...files(names)],
    { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } },
  );
  return r.status ?? 1;
};

const started = Date.now();
const minutes = () => ((Date.now() - started) / 60000).toFixed(1);
console.log(`${mode} suites on the test backend: ${picked(all).length} files`);
const first = mocha(picked(all), {});
console.log(`(${minutes()} min so far)`);

let second = 0;
const parity = picked(NATIVE_PARITY);
const addon = process.env.PTP_NATIVE_ADDON || join(root, 'native', 'build', 'Release', 'ptp_native.node');
if (!parity.length) {
  // nothing of this half runs on native
} else if (!existsSync(addon)) {
  const msg = `native addon not built (${addon}): the parity suites did not run on the native backend`;
  if (process.env.PTP_REQUIRE_NATIVE) {
    console.error(`ERROR: ${msg} (PTP_REQUIRE_NATIVE is set)`);
    second = 1;
  } else console.warn(`\n!!! SKIPPED: ${msg} !!!\n`);
} else {
  console.log(`\nParity and gradient suites on the native backend (${parity.length} files)`);
  second = mocha(parity, { PTP_BACKEND: 'native' });
}
console.log(`${mode} suites finished in ${minutes()} min${first || second ? ' with failures' : ''}`);
process.exit(first || second);
