/**
 * Backend selection on this machine: tfjs-node(-gpu) are not installed (their install needs
 * internet), so `auto` must skip them with a reason and pick wasm. Selections that would change
 * the active backend run in child processes so the test process keeps its backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { selectBackend } from '../src/backend/select.js';
import { BACKEND_CHOICES } from '../src/cli/globals.js';
import { nodeBackendCandidates } from '../src/node/backend.js';
import { nativeUnavailable } from './helpers/native.js';
import { repoRoot } from './helpers/reference.js';

interface ChildResult {
  status: number | null;
  json: {
    name?: string;
    tfName?: string;
    active?: string;
    description?: string;
    skipped?: { name: string; reason: string }[];
    error?: string;
  };
  stderr: string;
}

function child(arg: string | undefined, env: Record<string, string | undefined> = {}): ChildResult {
  const e = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete e[k];
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(repoRoot, 'test/helpers/backend-child.ts'), ...(arg ? [arg] : [])],
    {
      cwd: repoRoot,
      env: e,
      encoding: 'utf8',
      timeout: 120000,
    },
  );
  let json: ChildResult['json'];
  try {
    json = JSON.parse(r.stdout);
  } catch {
    throw new Error(`child printed no JSON (status ${r.status}):\n${r.stdout}\n${r.stderr}`);
  }
  return { status: r.status, json, stderr: r.stderr };
}

describe('backend selection', function () {
  this.timeout(180000);

  it('auto skips the unavailable tfjs-node backends with reasons, picks native (when built) or wasm and logs it once', () => {
    const r = child(undefined, { PTP_BACKEND: undefined });
    expect(r.status, r.stderr).to.equal(0);
    const native = nativeUnavailable() === undefined;
    expect(r.json).to.include({ name: native ? 'native' : 'wasm', tfName: 'wasm', active: 'wasm' });
    expect(r.json.skipped!.map((s) => s.name)).to.deep.equal(
      native ? ['tensorflow-gpu', 'tensorflow'] : ['tensorflow-gpu', 'tensorflow', 'native'],
    );
    for (const s of r.json.skipped!.slice(0, 2))
      expect(s.reason, s.name).to.match(/Cannot find (package|module) '@tensorflow\/tfjs-node(-gpu)?'/);
    const lines = r.stderr.split('\n').filter((l) => l.includes('backend: '));
    expect(lines).to.have.length(1);
    const wasm = String.raw`wasm \((simd|no simd), \d+ threads?[;)]`;
    const lib = String.raw`native \(oneDNN \d+\.\d+\.\d+ \(\w+\), \d+ threads?, fp32\) over `;
    expect(lines[0]).to.match(
      new RegExp(
        String.raw`\[ptp\] backend: ${native ? lib : ''}${wasm}.* \(skipped tensorflow-gpu, tensorflow${native ? '' : ', native'}\)$`,
      ),
    );
    expect(r.json.description).to.match(new RegExp(`^${native ? lib : ''}${wasm}`));
  });

  it('PTP_BACKEND overrides the automatic order; an explicit option overrides PTP_BACKEND', () => {
    const cpu = child(undefined, { PTP_BACKEND: 'cpu' });
    expect(cpu.json).to.include({ name: 'cpu', active: 'cpu' });
    expect(cpu.json.skipped).to.deep.equal([]);
    const wasm = child('wasm', { PTP_BACKEND: 'cpu' });
    expect(wasm.json).to.include({ name: 'wasm', active: 'wasm' });
    const auto = child(undefined, { PTP_BACKEND: 'auto' });
    expect(auto.json).to.include({ name: nativeUnavailable() === undefined ? 'native' : 'wasm' });
  });

  it('an unusable PTP_BACKEND is an error naming it', () => {
    const r = child(undefined, { PTP_BACKEND: 'tensorflow-gpu' });
    expect(r.status).to.equal(3);
    expect(r.json.error).to.match(
      /^backend "tensorflow-gpu" is not available: Cannot find (package|module) '@tensorflow\/tfjs-node-gpu'/,
    );
  });

  it('an explicitly requested unavailable backend throws naming it (no fallback, active backend unchanged)', async () => {
    const before = tf.getBackend();
    for (const name of ['tensorflow', 'tfjs-node-gpu']) {
      let msg = '';
      await selectBackend(nodeBackendCandidates, name).catch((e: Error) => (msg = e.message));
      expect(msg).to.match(
        new RegExp(`^backend "${name}" is not available: Cannot find (package|module) '@tensorflow/tfjs-node`),
      );
    }
    expect(tf.getBackend()).to.equal(before);
  });

  it('an unknown name throws listing the choices', async () => {
    let msg = '';
    await selectBackend(nodeBackendCandidates, 'tpu').catch((e: Error) => (msg = e.message));
    expect(msg).to.equal('unknown backend "tpu"; choose one of: auto, tensorflow-gpu, tensorflow, native, wasm, cpu');
  });

  it('initialising again (any module copy, auto or the active name) reuses the active backend', async () => {
    const { initNodeBackend } = await import('../src/node/backend.js');
    const first = await initNodeBackend();
    expect(await initNodeBackend()).to.equal(first);
    expect(await initNodeBackend(first.name)).to.equal(first);
    expect(tf.getBackend()).to.equal(first.tfName);
  });

  it('the CLI --backend choices are the Node candidates plus auto', () => {
    expect(BACKEND_CHOICES).to.deep.equal(['auto', ...nodeBackendCandidates.map((c) => c.name)]);
  });
});
