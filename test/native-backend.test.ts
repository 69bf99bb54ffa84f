/**
 * The native backend's set-up knobs, each in a child process (they apply when the addon loads):
 * PTP_THREADS (default: every core), PTP_PRECISION (fp32 default, bf16), bad values as errors
 * naming the variable, and the one log line naming the backend and the kernel library.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { describeNative } from './helpers/native.js';
import { repoRoot } from './helpers/reference.js';

function child(env: Record<string, string>) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'test/helpers/conv-child.ts'), 'native'], {
    cwd: repoRoot,
    env: { ...process.env, PTP_THREADS: '', PTP_PRECISION: '', ...env },
    encoding: 'utf8',
    timeout: 120000,
  });
  return {
    status: r.status,
    stderr: r.stderr,
    json: JSON.parse(r.stdout) as { description?: string; sum?: number; error?: string },
  };
}

describeNative('native backend set-up', function () {
  this.timeout(300000);

  it('uses every core by default, logs backend and kernel library once, computes', () => {
    const r = child({});
    expect(r.status, r.stderr).to.equal(0);
    const n = availableParallelism();
    expect(r.json.description).to.match(
      new RegExp(`^native \\(oneDNN \\d+\\.\\d+\\.\\d+ \\(\\w+\\), ${n} threads?, fp32\\) over wasm`),
    );
    expect(r.stderr.split('\n').filter((l) => l.includes('backend: native (oneDNN'))).to.have.length(1);
    expect(r.json.sum).to.equal(16 * 2 * 2 * 13.5);
  });

  it('PTP_THREADS and PTP_PRECISION are honoured', () => {
    const r = child({ PTP_THREADS: '1', PTP_PRECISION: 'bf16' });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.json.description).to.match(
      /, 1 thread, bf16(, attention too| emulated: no AVX512-BF16\/AMX on this CPU)?\) over wasm/,
    );
    expect(r.json.sum).to.equal(16 * 2 * 2 * 13.5); // exact in bf16 too: 0.5, 1 and the sums are representable
  });

  it('bad PTP_THREADS / PTP_PRECISION are errors naming the variable', () => {
    expect(child({ PTP_THREADS: 'many' }).json.error).to.match(/PTP_THREADS must be a positive integer, got "many"/);
    expect(child({ PTP_PRECISION: 'fp16' }).json.error).to.match(
      /precision must be fp32 or bf16, got "fp16" \(--precision \/ PTP_PRECISION\)/,
    );
  });
});
