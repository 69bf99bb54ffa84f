/**
 * The wasm heap guard refuses an allocation with a clear error instead of letting the backend
 * write over other tensors: both the live-bytes budget (PTP_WASM_HEAP_LIMIT_MB) and a real
 * 4 GiB heap exhaustion (malloc returning 0), on the single- and multi-threaded builds. Filling
 * the heap runs in child processes (a wasm heap never shrinks); each fills tensors with their
 * index until refused, then checks every earlier tensor.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { getWasmHeapLimit, setWasmHeapLimit } from '../src/backend/wasm-patches.js';
import { repoRoot } from './helpers/reference.js';
import { skipUnlessBackend } from './helpers/backend-skip.js';

interface HeapProbe {
  allocated: number;
  corrupted: number[];
  error: string;
  heapMiB: number;
  again: boolean;
}

function fill(env: Record<string, string>, chunkMiB: number): HeapProbe {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(repoRoot, 'test/helpers/wasm-heap-child.ts'), String(chunkMiB)],
    {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      encoding: 'utf8',
      timeout: 240000,
    },
  );
  expect(r.error, `${r.error?.message} (a hang here is the corruption the guard prevents)\n${r.stderr}`).to.equal(
    undefined,
  );
  expect(r.status, r.stderr).to.equal(0);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as HeapProbe;
}

describe('wasm heap guard', function () {
  this.timeout(600000);

  it('refuses an allocation past the budget in this process; earlier tensors stay intact', function () {
    skipUnlessBackend(this, ['wasm'], 'the wasm heap guard');
    const before = getWasmHeapLimit();
    const kept: tf.Tensor[] = [];
    try {
      setWasmHeapLimit(tf.memory().numBytes + 40 * 2 ** 20);
      for (let i = 0; i < 4; i++) kept.push(tf.fill([2 ** 20], i + 1));
      expect(() => tf.fill([8 * 2 ** 20], 9)).to.throw(
        /wasm heap budget exceeded: allocating \[8388608\] float32 \(32\.0 MiB\)/,
      );
      kept.forEach((t, i) => expect(Array.from(new Set(t.dataSync()))).to.deep.equal([i + 1]));
    } finally {
      setWasmHeapLimit(before);
      tf.dispose(kept);
    }
  });

  for (const threads of ['1', '2']) {
    it(`${threads} thread(s): the budget refuses first (PTP_WASM_HEAP_LIMIT_MB=1024)`, () => {
      const p = fill({ PTP_WASM_THREADS: threads, PTP_WASM_HEAP_LIMIT_MB: '1024' }, 128);
      expect(p.error).to.match(
        /^wasm heap budget exceeded: allocating \[33554432\] float32 \(128\.0 MiB\) with 1024\.0 MiB live would pass the 1024 MiB limit/,
      );
      expect(p.allocated).to.equal(8);
      expect(p.corrupted).to.deep.equal([]);
      expect(p.again).to.equal(true);
    });

    it(`${threads} thread(s): with no budget, heap exhaustion throws instead of corrupting`, () => {
      const p = fill({ PTP_WASM_THREADS: threads, PTP_WASM_HEAP_LIMIT_MB: '100000' }, 512);
      expect(p.error).to.match(/^wasm heap exhausted: malloc\(536870912\) failed with a \d+ MiB heap/);
      expect(p.allocated).to.be.within(6, 7);
      expect(p.heapMiB).to.be.below(4096);
      expect(p.corrupted).to.deep.equal([]);
      expect(p.again).to.equal(true);
    });
  }
});
