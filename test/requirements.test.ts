/**
 * Suites that need the fixtures or chromium: skipped with one loud line on a machine without
 * them, a failure when PTP_REQUIRE_REFERENCE / PTP_REQUIRE_BROWSER are set; tests of the wasm
 * backend's kernels likewise under PTP_BACKEND=cpu and PTP_REQUIRE_WASM; `.ci/run` sets them all.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { repoRoot } from './helpers/reference.js';

/** Runs one test file in a child mocha with extra environment variables. */
function mocha(file: string, env: Record<string, string>, ...args: string[]): { code: number; out: string } {
  const clean = { ...process.env };
  for (const k of ['PTP_REQUIRE_REFERENCE', 'PTP_REQUIRE_BROWSER', 'PTP_REQUIRE_NATIVE', 'PTP_REQUIRE_WASM'])
    delete clean[k];
  const r = spawnSync(process.execPath, [join(repoRoot, 'node_modules/mocha/bin/mocha.js'), file, ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 300000,
    env: { ...clean, PTP_BACKEND: 'cpu', ...env },
  });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

describe('required test resources (fixtures, chromium)', function () {
  this.timeout(600000);

  it('without chromium the browser suite is skipped with one loud line, and fails under PTP_REQUIRE_BROWSER', () => {
    const skipped = mocha('test/browser.test.ts', { PTP_CHROMIUM: '/nonexistent/chromium' });
    expect(skipped.code, skipped.out).to.equal(0);
    expect(skipped.out.split('\n').filter((l) => l.includes('[SKIPPED: browser'))).to.have.length(1);
    expect(skipped.out).to.match(/0 passing.*\n.*1 pending/);
    const required = mocha('test/browser.test.ts', { PTP_CHROMIUM: '/nonexistent/chromium', PTP_REQUIRE_BROWSER: '1' });
    expect(required.code, required.out).to.not.equal(0);
    expect(required.out)
      .to.match(/1 failing/)
      .and.to.include('chromium at /nonexistent/chromium');
  });

  it('without the fixtures parity suites are skipped loudly, and fail under PTP_REQUIRE_REFERENCE', () => {
    const skipped = mocha('test/attention.test.ts', { PTP_REFERENCE_DIR: '/nonexistent/reference' });
    expect(skipped.code, skipped.out).to.equal(0);
    expect(skipped.out)
      .to.include('[SKIPPED: Attention layer')
      .and.to.match(/1 pending/);
    const required = mocha('test/attention.test.ts', {
      PTP_REFERENCE_DIR: '/nonexistent/reference',
      PTP_REQUIRE_REFERENCE: '1',
    });
    expect(required.code, required.out).to.not.equal(0);
    expect(required.out).to.include('/nonexistent/reference/README.md not found');
  });

  it('a wasm-kernel test under PTP_BACKEND=cpu is skipped with one loud line, and fails under PTP_REQUIRE_WASM', () => {
    const grep = ['--grep', 'comes with its backward kernels'];
    const skipped = mocha('test/autograd.test.ts', {}, ...grep);
    expect(skipped.code, skipped.out).to.equal(0);
    expect(
      skipped.out
        .split('\n')
        .filter((l) => l.includes('[SKIPPED: ') && l.includes('needs the wasm backend; this run is on cpu')),
    ).to.have.length(1);
    expect(skipped.out).to.match(/0 passing.*\n.*1 pending/);
    const required = mocha('test/autograd.test.ts', { PTP_REQUIRE_WASM: '1' }, ...grep);
    expect(required.code, required.out).to.not.equal(0);
    expect(required.out)
      .to.match(/1 failing/)
      .and.to.include('PTP_REQUIRE_WASM is set, so this is a failure');
  });

  it('.ci/run sets every requirement variable, then runs both halves of the suite', () => {
    const lines = readFileSync(join(repoRoot, '.ci/run'), 'utf8').split('\n');
    const exported = lines.find((l) => /^export PTP_REQUIRE_/.test(l));
    expect(exported, 'an `export PTP_REQUIRE_...` line').to.be.a('string');
    for (const v of ['NATIVE', 'REFERENCE', 'BROWSER', 'WASM', 'ORT'])
      expect(exported).to.include(`PTP_REQUIRE_${v}=1`);
    const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
    const [exp, fast, slow] = [at(/^export PTP_REQUIRE_/), at(/^npm test\b/), at(/^npm run test:slow\b/)];
    expect(fast, '`npm test` after the export').to.be.above(exp);
    expect(slow, '`npm run test:slow` after the export').to.be.above(exp);
  });
});
