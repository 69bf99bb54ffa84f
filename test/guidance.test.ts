/** Guidance rescale (diffusers 0.25 `guidance_rescale`, Lin et al. 2023 §3.4): the formula, the sampler, the pipeline and the CLI option. */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { guide } from '../src/pipeline/guidance.js';
import { sample } from '../src/pipeline/sampler.js';
import type { Scheduler } from '../src/models/schedulers/index.js';
import type { UNet2DConditionModel } from '../src/models/unet/unet.js';
import { readLatentsFile } from '../src/node/latents-file.js';
import { lines, ptp } from './helpers/cli.js';
import { tempDirForSuite } from './helpers/tmp.js';
import { expectClose } from './helpers/close.js';

/** diffusers' rescale_noise_cfg in double, one batch row at a time (torch.std is unbiased). */
function byHand(u: Float32Array, c: Float32Array, rows: number, g: number, phi: number): Float64Array {
  const n = u.length / rows;
  const out = new Float64Array(u.length);
  const std = (x: ArrayLike<number>) => {
    let m = 0;
    for (let i = 0; i < n; i++) m += x[i] / n;
    let s = 0;
    for (let i = 0; i < n; i++) s += (x[i] - m) ** 2;
    return Math.sqrt(s / (n - 1));
  };
  for (let r = 0; r < rows; r++) {
    const cr = c.subarray(r * n, (r + 1) * n);
    const guided = Float64Array.from(cr, (cv, i) => u[r * n + i] + g * (cv - u[r * n + i]));
    const ratio = std(cr) / std(guided);
    guided.forEach((v, i) => (out[r * n + i] = phi * v * ratio + (1 - phi) * v));
  }
  return out;
}

describe('guidance rescale', () => {
  const shape: [number, number, number, number] = [2, 3, 3, 4];
  let u: tf.Tensor;
  let c: tf.Tensor;
  before(() => {
    u = tf.randomNormal(shape, 0, 1, 'float32', 1);
    // Rows of different spread, so a std over the whole batch instead of per row would show.
    c = tf.tidy(() =>
      tf.add(tf.mul(tf.randomNormal(shape, 0, 1, 'float32', 2), tf.tensor4d([0.5, 2], [2, 1, 1, 1])), 0.3),
    );
  });
  after(() => tf.dispose([u, c]));

  for (const phi of [0.7, 1]) {
    it(`φ = ${phi}: equals diffusers' rescale_noise_cfg computed by hand (per batch row)`, () => {
      const got = tf.tidy(() => guide(u, c, 7.5, phi));
      expectClose(
        got,
        byHand(u.dataSync() as Float32Array, c.dataSync() as Float32Array, 2, 7.5, phi),
        { atol: 2e-5, rtol: 1e-5 },
        `φ ${phi}`,
      );
      got.dispose();
    });
  }

  it('φ = 0 is plain guidance, bit for bit; no tensors are left', () => {
    const before = tf.memory().numTensors;
    const a = tf.tidy(() => guide(u, c, 7.5, 0));
    const b = tf.tidy(() => tf.add(u, tf.mul(tf.sub(c, u), 7.5)));
    expect([...a.dataSync()]).to.deep.equal([...b.dataSync()]);
    tf.dispose([a, b]);
    expect(tf.memory().numTensors).to.equal(before);
  });

  /** A scheduler that records the guided model output it is given and leaves the sample as it is. */
  function recorder(outputs: Float32Array[]): Scheduler {
    return {
      name: 'ddim',
      order: 1,
      timesteps: [999],
      initNoiseSigma: 1,
      setTimesteps: () => {},
      reset: () => {},
      dispose: () => {},
      scaleModelInput: (x) => tf.clone(x),
      step: (m, _t, x) => {
        outputs.push(m.dataSync() as Float32Array);
        return tf.clone(x);
      },
    };
  }

  it('the sampler applies it to the [uncond, cond] UNet outputs when guidance > 1', async () => {
    // The "UNet" answers u for the unconditional half and c for the conditional one.
    const unet = { forward: () => tf.concat([u, c], 0) } as unknown as UNet2DConditionModel;
    const latents = tf.zeros(shape) as tf.Tensor4D;
    const cond = tf.zeros([2, 5, 8]) as tf.Tensor3D;
    const uncond = tf.ones([2, 5, 8]) as tf.Tensor3D;
    const seen: Float32Array[] = [];
    const base = { unet, cond, uncond, latents, steps: 1, guidance: 5 };
    for (const guidanceRescale of [undefined, 0.7]) {
      const r = await sample({ ...base, scheduler: recorder(seen), guidanceRescale });
      r.latents.dispose();
    }
    expectClose(
      seen[0],
      byHand(u.dataSync() as Float32Array, c.dataSync() as Float32Array, 2, 5, 0),
      { atol: 2e-5 },
      'plain',
    );
    expectClose(
      seen[1],
      byHand(u.dataSync() as Float32Array, c.dataSync() as Float32Array, 2, 5, 0.7),
      { atol: 2e-5, rtol: 1e-5 },
      'rescaled',
    );
    let err = '';
    await sample({ ...base, scheduler: recorder([]), guidanceRescale: 1.5 }).catch((e: Error) => (err = e.message));
    expect(err).to.equal('guidance rescale must be a number in [0, 1], got 1.5');
    tf.dispose([latents, cond, uncond]);
  });
});

describe('cli: --guidance-rescale', function () {
  this.timeout(300000);
  const tmp = tempDirForSuite('guidance-rescale');

  it('bad values and photo edits: one-line usage error (exit 2), nothing written', async () => {
    const out = join(tmp(), 'bad.png');
    for (const v of ['1.5', '-0.1']) {
      const r = await ptp('generate', '--prompt', 'a red circle', '--guidance-rescale', v, '--out', out);
      expect(r.code, v).to.equal(2);
      expect(lines(r.stderr).at(-1)).to.equal(
        `ptp generate: --guidance-rescale must be a number in [0, 1], got ${v} (see 'ptp generate --help')`,
      );
    }
    const r = await ptp(
      'edit',
      '--image',
      join(tmp(), 'photo.png'),
      '--source',
      'a red circle',
      '--target',
      'a blue circle',
      '--guidance-rescale',
      '0.7',
      '--out',
      out,
    );
    expect(r.code).to.equal(2);
    expect(lines(r.stderr).at(-1)).to.match(
      /^ptp edit: --guidance-rescale cannot be used for a photo edit: the null-text inversion reconstructs .*photo\.png with plain guidance/,
    );
    expect(existsSync(out)).to.equal(false);
  });

  it('generate on the shipped model: 0 is the default; 0.7 changes the latents', async () => {
    const run = async (name: string, extra: string[]) => {
      const latents = join(tmp(), `${name}.safetensors`);
      const r = await ptp(
        'generate',
        '--prompt',
        'a red circle on a white background',
        '--steps',
        '2',
        '--seed',
        '1',
        '--height',
        '64',
        '--width',
        '64',
        ...extra,
        '--save-latents',
        latents,
        '--out',
        join(tmp(), `${name}.png`),
      );
      expect(r.code, r.stderr).to.equal(0);
      return (await readLatentsFile(latents)).data;
    };
    const plain = await run('plain', []);
    const zero = await run('zero', ['--guidance-rescale', '0']);
    const rescaled = await run('rescaled', ['--guidance-rescale', '0.7']);
    expect([...zero]).to.deep.equal([...plain]);
    expect([...rescaled]).to.not.deep.equal([...plain]);
  });
});
