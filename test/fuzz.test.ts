/**
 * `npm run fuzz` on a short seeded subset: hostile safetensors files, model directories,
 * tokenizer input and command lines end in a result or a clean error, never a crash or a hang,
 * and CLI cases reach sampling and decoding on the shipped model; the harness itself notices a
 * crash, a hang, a child that exits mid-case and a plain Error from inside tfjs (--selftest);
 * errors are classified by type and origin (fuzz/outcome.ts).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'chai';
import { repoRoot } from './helpers/reference.js';
import { classify, Violation } from '../fuzz/outcome.js';
import { UsageError } from '../src/cli/args.js';
import { SafetensorsError } from '../src/io/safetensors.js';
import { sampleTimestep } from '../src/train/diffusion.js';

interface Summary {
  cases: number;
  clean_errors: number;
  ok: number;
  crashes: number;
  hangs: number;
  reached: Record<string, number>;
  per_target: Record<string, { ok: number; clean_error: number; crash: number; hang: number }>;
}

function fuzz(...args: string[]): { code: number; summary: Summary; out: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'fuzz/fuzz.ts'), ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 1800000,
  });
  const out = `${r.stdout}${r.stderr}`;
  const last = r.stdout.trim().split('\n').pop() ?? '';
  return { code: r.status ?? -1, summary: JSON.parse(last) as Summary, out };
}

describe('fuzz (npm run fuzz)', function () {
  this.timeout(1800000);

  it('errors are classified by type and origin', async () => {
    const thrownBy = async (f: () => unknown) => {
      try {
        await f();
      } catch (e) {
        return classify(e).outcome;
      }
      throw new Error('did not throw');
    };
    // Our typed errors, and a plain Error thrown by a check of ours in src/: clean.
    expect(classify(new UsageError('--steps must be a positive integer')).outcome).to.equal('clean_error');
    expect(classify(new SafetensorsError('x.safetensors', 'header too short')).outcome).to.equal('clean_error');
    expect(await thrownBy(() => sampleTimestep(2, 0))).to.equal('clean_error');
    // Engine errors, a plain Error from outside src/ (here: this test), a tfjs assertion: crashes.
    expect(classify(new TypeError('x is not a function')).outcome).to.equal('crash');
    expect(classify(new RangeError('Invalid array length')).outcome).to.equal('crash');
    expect(classify(new Error('thrown by a test')).outcome).to.equal('crash');
    const tf = await import('@tensorflow/tfjs-core');
    expect(await thrownBy(() => tf.util.assert(false, () => 'Error in concat: shapes differ'))).to.equal('crash');
    expect(classify(new Violation('read outside the file')).outcome).to.equal('crash');
    expect(classify('a string').outcome).to.equal('crash');
    // A system error names its path: clean; one without a path is not.
    const { readFile } = await import('node:fs/promises');
    expect(await thrownBy(() => readFile('/nonexistent/ptp-fuzz'))).to.equal('clean_error');
    expect(
      classify(Object.assign(new Error('EPIPE: broken pipe'), { code: 'EPIPE', syscall: 'write' })).outcome,
    ).to.equal('crash');
  });

  it('the harness counts crashes (a TypeError, an exit mid-case, a tfjs assertion, a plain Error outside src/) and catches an endless loop as a hang', () => {
    const r = fuzz('--selftest', '--cases', '6', '--timeout-ms', '2000', '--jobs', '1');
    expect(r.code, r.out).to.equal(1);
    expect(r.summary, r.out).to.deep.include({ cases: 6, ok: 1, crashes: 4, hangs: 1 });
    expect(r.out).to.match(/CRASH selftest #3 .*the process ended during the case \(exit 0\)/);
    expect(r.out).to.match(/CRASH selftest #4 .*plain Error thrown outside our code/);
  });

  it('a seeded subset of 400 cases: no crash, no hang, every target reaches both results and clean errors, the CLI samples and decodes', () => {
    const r = fuzz('--cases', '400', '--seed', '11');
    expect(r.code, r.out).to.equal(0);
    expect(r.summary, r.out).to.deep.include({ cases: 400, crashes: 0, hangs: 0 });
    expect(Object.keys(r.summary.per_target)).to.deep.equal(['safetensors', 'tokenizer', 'model-dir', 'cli']);
    for (const [target, c] of Object.entries(r.summary.per_target)) {
      expect(c.ok, `${target}: results`).to.be.above(0);
      expect(c.clean_error, `${target}: clean errors`).to.be.above(0);
    }
    expect(r.out).to.match(/^ {2}safetensors +180 /m);
    expect(
      r.summary.reached['cli: sampled and decoded'] ?? 0,
      'CLI cases that sampled and decoded an image',
    ).to.be.above(0);
  });
});
