/**
 * Resuming `ptp train` across processes, from the files on disk: a run stopped at checkpoints
 * (`--max-minutes`, twice: inside the autoencoder stage, then inside the UNet stage) and finished
 * by a third process leaves the same saved state as one uninterrupted process, bit for bit —
 * every tensor of every checkpoint (weights, Adam moments, EMA), the checkpoints' JSON state
 * (step, loss history, ...; only the time spent differs), the loss curves, the last sample grid
 * and the exported model. Only the CLI is used, with as few flags as possible (tiny step counts
 * and batches), so the test does not depend on how the stages are written.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { expect } from 'chai';
import { openSafetensors } from '../src/node/weights.js';
import { repoRoot } from './helpers/reference.js';
import { tempDirForSuite } from './helpers/tmp.js';

/** The smallest run: 2 autoencoder steps, 2 UNet steps, batch 1, the autoencoder on 16-px crops. */
const TINY = ['--vae-steps', '2', '--vae-batch', '1', '--vae-crop', '16', '--unet-steps', '2', '--unet-batch', '1'];
/** A deadline already past when the process starts: each sitting stops at its first checkpoint. */
const STOP_AT_NEXT_CHECKPOINT = ['--max-minutes', '1e-6'];

interface Sitting {
  code: number;
  stdout: string;
  stderr: string;
}

/** `ptp train` in a child process, exactly as the bin runs. */
function train(dir: string, ...extra: string[]): Sitting {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(repoRoot, 'src/cli/main.ts'), 'train', '--out', dir, ...TINY, ...extra],
    {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 900000,
    },
  );
  return { code: r.status ?? -1, stdout: r.stdout, stderr: `${r.stderr}${r.error ? `\n${r.error.message}` : ''}` };
}

/** Every file under `dir`, relative, sorted. */
function files(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

/** Time spent differs from sitting to sitting: JSON keys ending in "seconds" are left out. */
function withoutTimes(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutTimes);
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v)
        .filter(([k]) => !/seconds$/i.test(k))
        .map(([k, x]) => [k, withoutTimes(x)]),
    );
  return v;
}

/** A checkpoint as found on disk: tensor names, dtypes, shapes and bytes; metadata parsed where it is JSON. */
async function readCheckpoint(
  path: string,
): Promise<{ tensors: Map<string, { info: string; bytes: Buffer }>; metadata: Record<string, unknown> }> {
  const f = await openSafetensors(path);
  try {
    const tensors = new Map<string, { info: string; bytes: Buffer }>();
    for (const k of f.keys()) {
      const i = f.info(k);
      tensors.set(k, { info: `${i.dtype} [${i.shape}]`, bytes: Buffer.from(await f.readBytes(k)) });
    }
    const metadata: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(f.metadata)) {
      try {
        metadata[k] = withoutTimes(JSON.parse(v));
      } catch {
        metadata[k] = v;
      }
    }
    return { tensors, metadata };
  } finally {
    await f.close();
  }
}

describe('ptp train: stopped twice and resumed in new processes = one uninterrupted process, bit for bit', function () {
  this.timeout(3600000);
  const tmp = tempDirForSuite('train-resume');

  it('every checkpoint tensor and state, the loss curves, the last samples and the exported model are identical', async () => {
    const whole = join(tmp(), 'whole');
    const parts = join(tmp(), 'parts');
    const one = train(whole);
    expect(one.code, one.stderr).to.equal(0);
    expect(one.stdout).to.match(/model written to/);

    // Sitting 1 stops inside the autoencoder stage, sitting 2 inside the UNet stage.
    const s1 = train(parts, ...STOP_AT_NEXT_CHECKPOINT);
    expect(s1.code, s1.stderr).to.equal(0);
    expect(s1.stdout, 'sitting 1').to.match(/stopped at a checkpoint/);
    expect(existsSync(join(parts, 'unet.ckpt.safetensors')), 'sitting 1 stopped before the UNet stage').to.equal(false);
    const s2 = train(parts, ...STOP_AT_NEXT_CHECKPOINT);
    expect(s2.code, s2.stderr).to.equal(0);
    expect(s2.stdout, 'sitting 2').to.match(/stopped at a checkpoint/);
    const mid = await readCheckpoint(join(parts, 'unet.ckpt.safetensors'));
    expect(JSON.stringify(mid.metadata), 'sitting 2 stopped after one UNet step').to.match(/"step":1[,}]/);
    const s3 = train(parts);
    expect(s3.code, s3.stderr).to.equal(0);
    expect(s3.stdout, 'sitting 3').to.match(/model written to/);

    // The split run wrote one sample grid more (at its stop in the UNet stage); everything the
    // uninterrupted run wrote exists there too.
    const wholeFiles = files(whole);
    const partFiles = files(parts);
    expect(
      wholeFiles.filter((f) => !partFiles.includes(f)),
      'files only the uninterrupted run has',
    ).to.deep.equal([]);
    const checkpoints = wholeFiles.filter((f) => f.endsWith('.ckpt.safetensors'));
    expect(checkpoints, 'checkpoints').to.include.members(['vae.ckpt.safetensors', 'unet.ckpt.safetensors']);
    for (const f of checkpoints) {
      const [a, b] = [await readCheckpoint(join(whole, f)), await readCheckpoint(join(parts, f))];
      expect([...b.tensors.keys()], `${f}: tensor names`).to.deep.equal([...a.tensors.keys()]);
      for (const [k, t] of a.tensors) {
        const u = b.tensors.get(k)!;
        expect(u.info, `${f}: ${k}`).to.equal(t.info);
        expect(u.bytes.equals(t.bytes), `${f}: ${k} differs`).to.equal(true);
      }
      expect(b.metadata, `${f}: state (times left out)`).to.deep.equal(a.metadata);
    }
    // Loss curves, reconstructions, the final sample grid and every file of the exported model.
    for (const f of wholeFiles.filter((x) => !x.endsWith('.ckpt.safetensors'))) {
      expect(readFileSync(join(parts, f)).equals(readFileSync(join(whole, f))), `${f} differs`).to.equal(true);
    }
    expect(wholeFiles.filter((f) => f.startsWith('model/')).length, 'exported model files').to.be.above(5);
  });
});
