/**
 * `npm run fuzz` on a short seeded subset: hostile safetensors files, model directories,
 * tokenizer input and command lines end in a result or a clean error, never a crash or a hang;
 * and the harness itself notices a crash and a hang (--selftest).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'chai';
import { repoRoot } from './helpers/reference.js';

interface Summary {
  cases: number;
  clean_errors: number;
  ok: number;
  crashes: number;
  hangs: number;
  per_target: Record<string, { ok: number; clean_error: number; crash: number; hang: number }>;
}

function fuzz(...args: string[]): { code: number; summary: Summary; out: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'fuzz/fuzz.ts'), ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 600000 });
  const out = `${r.stdout}${r.stderr}`;
  const last = r.stdout.trim().split('\n').pop() ?? '';
  return { code: r.status ?? -1, summary: JSON.parse(last) as Summary, out };
}

describe('fuzz (npm run fuzz)', function () {
  this.timeout(600000);

  it('the harness counts a crash and catches a synchronous endless loop as a hang', () => {
    const r = fuzz('--selftest', '--cases', '4', '--timeout-ms', '2000', '--jobs', '1');
    expect(r.code, r.out).to.equal(1);
    expect(r.summary, r.out).to.deep.include({ cases: 4, ok: 1, crashes: 1, hangs: 2 });
  });

  it('a seeded subset of 400 cases: no crash, no hang, and every target reaches both results and clean errors', () => {
    const r = fuzz('--cases', '400', '--seed', '11');
    expect(r.code, r.out).to.equal(0);
    expect(r.summary, r.out).to.deep.include({ cases: 400, crashes: 0, hangs: 0 });
    expect(Object.keys(r.summary.per_target)).to.deep.equal(['safetensors', 'tokenizer', 'model-dir', 'cli']);
    for (const [target, c] of Object.entries(r.summary.per_target)) {
      expect(c.ok, `${target}: results`).to.be.above(0);
      expect(c.clean_error, `${target}: clean errors`).to.be.above(0);
    }
    expect(r.out).to.match(/^  safetensors +180 /m);
  });
});
