/**
 * The multi-threaded wasm set-up in Node, in child processes (each needs a fresh tfjs): the
 * patched threaded build with 2 threads, the opt-out (PTP_WASM_THREADS=1), and clean fallbacks
 * to single-threaded SIMD when the loader cannot patch the installed package (wrong version,
 * unexpected bundle), with the reason logged once. Every variant must compute correctly and
 * let its process end by itself (no worker thread keeping it alive).
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './helpers/reference.js';

interface Probe {
  description: string;
  tfjsThreads: number;
  attentionThreads: number;
  matmulDiff: number;
  convDiff: number;
  attentionDiff: number;
}

function probe(scenario: string, env: Record<string, string>): { json: Probe; stderr: string } {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(repoRoot, 'test/helpers/wasm-threads-child.ts'), scenario],
    {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      encoding: 'utf8',
      timeout: 120000,
    },
  );
  expect(
    r.error,
    `${scenario}: ${r.error?.message} (a process that does not end by itself times out)\n${r.stderr}`,
  ).to.equal(undefined);
  expect(r.status, `${scenario} exited with ${r.status}:\n${r.stderr}`).to.equal(0);
  return { json: JSON.parse(r.stdout.trim().split('\n').pop()!) as Probe, stderr: r.stderr };
}

function expectCorrect(p: Probe): void {
  expect(p.matmulDiff, 'matMul vs float64 reference').to.be.below(1e-3);
  expect(p.convDiff, 'conv2d vs im2col matmul').to.be.below(1e-4);
  expect(p.attentionDiff, 'fused vs batched attention').to.be.below(1e-5);
}

const warnings = (stderr: string) => stderr.split('\n').filter((l) => l.includes('multi-threading unavailable'));

describe('wasm threads in Node (child processes)', function () {
  this.timeout(300000);

  it('PTP_WASM_THREADS=2: threaded tfjs build with 2 threads and a 2-thread attention kernel', () => {
    const { json, stderr } = probe('default', { PTP_WASM_THREADS: '2' });
    expect(json.description).to.match(/^wasm \(simd, 2 threads; attention kernel 2 threads\)$/);
    expect(json.tfjsThreads).to.equal(2);
    expect(json.attentionThreads).to.equal(2);
    expect(warnings(stderr)).to.deep.equal([]);
    expectCorrect(json);
  });

  it('PTP_WASM_THREADS=1 opts out: the stock single-threaded SIMD build, no warning', () => {
    const { json, stderr } = probe('default', { PTP_WASM_THREADS: '1' });
    expect(json.description).to.equal('wasm (simd, 1 thread; attention kernel 1 thread)');
    expect(json.tfjsThreads).to.equal(1);
    expect(warnings(stderr)).to.deep.equal([]);
    expectCorrect(json);
  });

  it('falls back to single-threaded SIMD when the installed version is not the pinned one, logging why once', () => {
    const { json, stderr } = probe('bad-version', { PTP_WASM_THREADS: '2' });
    expect(json.tfjsThreads).to.equal(1);
    expect(json.description).to.match(/^wasm \(simd, 1 thread; threads unavailable; attention kernel 2 threads\)$/);
    const w = warnings(stderr);
    expect(w).to.have.length(1);
    expect(w[0]).to.include('tfjs-backend-wasm 4.22.0 is installed; the thread patches are for 0.0.0-test');
    expectCorrect(json);
  });

  it('falls back when the bundle text does not match the patches', () => {
    const { json, stderr } = probe('bad-bundle', { PTP_WASM_THREADS: '2' });
    expect(json.tfjsThreads).to.equal(1);
    const w = warnings(stderr);
    expect(w).to.have.length(1);
    expect(w[0]).to.match(/cannot patch tfjs-backend-wasm \(pthread worker loader\): expected 1 match, found 0/);
    expectCorrect(json);
  });
});
