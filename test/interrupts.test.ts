/**
 * Interrupted and failing runs lose nothing: outputs are written atomically (a complete file or
 * none, the previous one kept), an unwritable --out is refused before any work, Ctrl-C stops
 * sampling within a step (exit 130, one line), and a size that cannot fit is refused before
 * sampling with the memory it needs.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import { checkWritableFile, writeFileAtomic } from '../src/node/atomic-write.js';
import { readLatentsFile, writeLatentsFile } from '../src/node/latents-file.js';
import { loadPipelineFromDirectory } from '../src/node/pipeline.js';
import { Interrupted } from '../src/cli/cli.js';
import { estimateRunMemory } from '../src/pipeline/run-plan.js';
import { resetWasmPeakBytes, wasmPeakBytes } from '../src/backend/wasm-patches.js';
import { lines, ptp, ptpWithSignal } from './helpers/cli.js';
import { describeRef, repoRoot, tinySdDir } from './helpers/reference.js';
import { tempDirForSuite } from './helpers/tmp.js';
import * as tf from '@tensorflow/tfjs-core';
import { skipUnlessBackend } from './helpers/backend-skip.js';

const hidden = (dir: string) => readdirSync(dir).filter((f) => f.startsWith('.'));

describe('atomic outputs', () => {
  const tmp = tempDirForSuite('atomic');

  it('a failing write keeps the previous file and leaves no temporary file', async () => {
    const path = join(tmp(), 'out.bin');
    writeFileSync(path, 'previous');
    const failing = writeFileAtomic(path, async (t) => {
      await writeFile(t, 'half of the new cont');
      throw new Error('disk full');
    });
    await failing.then(
      () => expect.fail('should fail'),
      (e: Error) => expect(e.message).to.equal('disk full'),
    );
    expect(readFileSync(path, 'utf8')).to.equal('previous');
    expect(hidden(tmp())).to.deep.equal([]);
    await writeFileAtomic(path, (t) => writeFile(t, 'new'));
    expect(readFileSync(path, 'utf8')).to.equal('new');
  });

  it('latents files: a write that fails mid-stream leaves no file', async () => {
    const path = join(tmp(), 'lat.safetensors');
    // 8 values declared, 4 given: the writer fails after the header.
    await writeLatentsFile(path, { latents: { shape: [1, 2, 2, 2], data: new Float32Array(4) } }).catch(
      () => undefined,
    );
    expect(existsSync(path)).to.equal(false);
    expect(hidden(tmp())).to.deep.equal([]);
    await writeLatentsFile(path, { latents: { shape: [1, 1, 1, 2], data: Float32Array.from([1, 2]) } });
    expect(Array.from((await readLatentsFile(path)).data)).to.deep.equal([1, 2]);
  });

  it('a process that exits in the middle of a write leaves neither the target nor a temporary file', () => {
    const dir = join(tmp(), 'exit');
    mkdirSync(dir);
    const script = `import { writeFileAtomic } from ${JSON.stringify(join(repoRoot, 'src/node/atomic-write.ts'))};
      import { writeFile } from 'node:fs/promises';
      await writeFileAtomic(${JSON.stringify(join(dir, 'x.png'))}, async (t) => { await writeFile(t, 'partial'); process.exit(3); });`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: repoRoot,
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).to.equal(3);
    expect(readdirSync(dir)).to.deep.equal([]);
  });

  it('checkWritableFile names the problem: missing folder, a folder as the file, a read-only folder', async () => {
    const err = (p: string) =>
      checkWritableFile(p, '--out').then(
        () => 'ok',
        (e: Error) => e.message,
      );
    expect(await err(join(tmp(), 'fine.png'))).to.equal('ok');
    expect(await err(join(tmp(), 'nope', 'x.png'))).to.equal(
      `--out ${join(tmp(), 'nope', 'x.png')}: cannot write there (folder ${join(tmp(), 'nope')} does not exist)`,
    );
    expect(await err(tmp())).to.equal(`--out ${tmp()}: cannot write there (it is a folder)`);
    expect(await err('/proc/x.png')).to.match(
      /^--out \/proc\/x\.png: cannot write there \((ENOENT|EACCES|EROFS|EPERM) in \/proc\)$/,
    );
    expect(hidden(tmp())).to.deep.equal([]);
  });
});

describeRef('interrupted and refused runs (tiny-sd)', function () {
  const tmp = tempDirForSuite('interrupts');
  const model = ['--model', tinySdDir];

  it('an --out or --save-latents that cannot be written is a usage error before the backend or model load', async () => {
    for (const [flag, path] of [
      ['--out', '/nonexistent-dir/x.png'],
      ['--save-latents', '/nonexistent-dir/x.safetensors'],
    ] as const) {
      const args = ['generate', ...model, '--prompt', 'a cat', '--out', join(tmp(), 'ok.png'), flag, path];
      const r = await ptp(...args);
      expect(r.code).to.equal(2);
      expect(lines(r.stderr), 'one line, nothing loaded').to.deep.equal([
        `ptp generate: ${flag} ${path}: cannot write there (folder /nonexistent-dir does not exist) (see 'ptp generate --help')`,
      ]);
    }
    const r = await ptp('edit', ...model, '--source', 'a cat', '--target', 'a dog', '--out', tmp());
    expect([r.code, lines(r.stderr)]).to.deep.equal([
      2,
      [`ptp edit: --out ${tmp()}: cannot write there (it is a folder) (see 'ptp edit --help')`],
    ]);
  });

  it('a size that cannot fit the wasm heap is refused before sampling, with the memory it needs', async function () {
    skipUnlessBackend(this, ['wasm'], 'the wasm heap budget');
    const out = join(tmp(), 'big.png');
    const r = await ptp('generate', ...model, '--prompt', 'a cat', '--height', '4096', '--width', '4096', '--out', out);
    expect(r.code).to.equal(1);
    const last = lines(r.stderr).pop();
    expect(last).to.match(
      /^ptp generate: 4096×4096 does not fit: it needs about [\d.]+ GiB of backend memory \(UNet call [\d.]+ GiB, VAE decode 8\.0 GiB, 0\.00 GiB in use\) but the wasm heap budget \(PTP_WASM_HEAP_LIMIT_MB\) is 3\.5 GiB; choose a smaller size$/,
    );
    expect(r.stderr, 'refused before the weights load').to.not.include('loaded in');
    expect(existsSync(out)).to.equal(false);
    // The library refuses it too, before any step.
    const pipe = await loadPipelineFromDirectory(tinySdDir);
    const steps: number[] = [];
    try {
      const e = await pipe
        .generate({ prompts: ['a cat'], height: 4096, width: 4096, steps: 2, onStep: (s) => steps.push(s.step) })
        .then(
          () => undefined,
          (x: Error) => x,
        );
      expect(e?.message).to.match(/^4096×4096 does not fit: it needs about/);
      expect(steps).to.deep.equal([]);
    } finally {
      pipe.dispose();
    }
  });

  it('more steps than the scheduler has timesteps is refused before the weights load', async () => {
    const r = await ptp(
      'generate',
      ...model,
      '--prompt',
      'a cat',
      '--steps',
      '5000',
      '--out',
      join(tmp(), 'steps.png'),
    );
    expect(r.code).to.equal(1);
    expect(lines(r.stderr).pop()).to.equal(
      'ptp generate: PNDMScheduler: 5000 inference steps exceed num_train_timesteps (1000)',
    );
    expect(r.stderr).to.not.include('loaded in');
  });

  it('the memory estimate is a lower estimate of what the tiny model really uses (UNet call, VAE decode)', async function () {
    skipUnlessBackend(this, ['wasm'], 'the wasm allocation guard’s peak counter');
    const pipe = await loadPipelineFromDirectory(tinySdDir);
    try {
      const { unet, vae } = pipe.components;
      const est = estimateRunMemory(
        { unet: unet.config.blockOutChannels, vae: vae.config.blockOutChannels },
        { height: 192, width: 256, vaeFactor: 8, batch: 2 },
      );
      const measure = (f: () => tf.Tensor) => {
        tf.dispose(f());
        const base = tf.memory().numBytes;
        resetWasmPeakBytes();
        tf.dispose(f());
        return wasmPeakBytes() - base;
      };
      const x = tf.randomNormal([2, 24, 32, 4]) as tf.Tensor4D;
      const c = tf.randomNormal([2, 77, 32]) as tf.Tensor3D;
      const z = tf.randomNormal([1, 24, 32, 4]) as tf.Tensor4D;
      const unetPeak = measure(() => unet.forward(x, 500, c));
      const vaePeak = measure(() => vae.decode(z));
      tf.dispose([x, c, z]);
      for (const [what, e, m] of [
        ['UNet', est.unetBytes, unetPeak],
        ['VAE', est.vaeBytes, vaePeak],
      ] as const) {
        expect(e, `${what}: estimate ${e} vs measured ${m}`).to.be.within(0.7 * m, 1.01 * m);
      }
    } finally {
      pipe.dispose();
    }
  });

  it('a pre-aborted signal stops the command after its checks, before the weights load (exit 130, one line)', async () => {
    const ac = new AbortController();
    ac.abort(new Interrupted('SIGINT'));
    const out = join(tmp(), 'never.png');
    const r = await ptpWithSignal(
      ac.signal,
      'generate',
      ...model,
      '--prompt',
      'a cat',
      '--steps',
      '3',
      '--height',
      '64',
      '--width',
      '64',
      '--out',
      out,
    );
    expect(r.code).to.equal(130);
    expect(lines(r.stderr).pop()).to.equal('ptp generate: interrupted (SIGINT)');
    expect(r.stderr).to.not.include('loaded in');
    expect(existsSync(out)).to.equal(false);
  });

  it('SIGINT to the real executable during sampling stops within one step: exit 130, one line, no output', async () => {
    const out = join(tmp(), 'sigint.png');
    const args = [
      '--import',
      'tsx',
      join(repoRoot, 'src/cli/main.ts'),
      'generate',
      ...model,
      '--prompt',
      'a cat',
      '--steps',
      '50',
      '--height',
      '256',
      '--width',
      '256',
      '--out',
      out,
      '--verbose',
    ];
    const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let sentAfter = -1;
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /step (\d+)\/\d+/.exec(stderr);
      if (m && sentAfter < 0) {
        sentAfter = Number(m[1]);
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    const stepsDone = [...stderr.matchAll(/step (\d+)\/\d+/g)].map((m) => Number(m[1]));
    expect(sentAfter, stderr).to.be.above(0);
    expect(code, stderr).to.equal(130);
    // The step running when the signal came may finish; no other starts.
    expect(Math.max(...stepsDone), stderr).to.be.at.most(sentAfter + 1);
    expect(lines(stderr).filter((l) => l.startsWith('ptp generate:'))).to.deep.equal([
      'ptp generate: interrupted (SIGINT)',
    ]);
    expect(lines(stderr).pop()).to.equal('ptp generate: interrupted (SIGINT)');
    expect(readdirSync(tmp()).filter((f) => f.includes('sigint'))).to.deep.equal([]);
  });
});
