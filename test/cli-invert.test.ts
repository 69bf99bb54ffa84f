/**
 * `ptp invert` and the photo edits of `ptp edit` (--inversion, --image) on tiny-sd at 64×64:
 * the inversion file, the printed PSNR, photo | reconstruction | edit outputs, and one-line errors
 * (exit 2) for bad input, reported before the backend starts.
 */
import { expect } from 'chai';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { decodePng } from '../src/node/png.js';
import { readInversionFile, writeInversionFile } from '../src/node/inversion-file.js';
import type { RgbImage } from '../src/util/image.js';
import { describeRef, tinySdDir } from './helpers/reference.js';
import { tempDirForSuite } from './helpers/tmp.js';
import { spawnPtp } from './helpers/cli.js';

const png = (path: string): RgbImage => decodePng(readFileSync(path));

/** The `count` panels of width `size` laid side by side with 8-pixel gaps. */
function panels(img: RgbImage, size: number, count: number): Uint8Array[] {
  expect([img.width, img.height]).to.deep.equal([count * size + (count - 1) * 8, size]);
  return Array.from({ length: count }, (_, i) => {
    const out = new Uint8Array(size * size * 3);
    for (let y = 0; y < size; y++)
      out.set(
        img.data.subarray((y * img.width + i * (size + 8)) * 3, (y * img.width + i * (size + 8) + size) * 3),
        y * size * 3,
      );
    return out;
  });
}
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) =>
  Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

describeRef('cli: ptp invert and photo edits on tiny-sd', function () {
  this.timeout(300000);
  const tmp = tempDirForSuite('cli-invert');
  const PROMPT = 'a red circle';
  const model = ['--model', tinySdDir];
  const run = ['--steps', '2', '--inner-steps', '2', '--height', '64', '--width', '64'];
  let photo = '';
  let inv = '';

  before(() => {
    // A 96×72 JPEG: a red disc on blue (centre-cropped to 72×72, then resized to 64×64).
    const w = 96;
    const h = 72;
    const data = new Uint8Array(w * h * 4);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const disc = (x - 48) ** 2 + (y - 36) ** 2 < 20 ** 2;
        data.set(disc ? [220, 60, 50, 255] : [40, 120, 200, 255], (y * w + x) * 4);
      }
    }
    photo = join(tmp(), 'photo.jpg');
    writeFileSync(photo, jpeg.encode({ width: w, height: h, data }, 92).data);
    inv = join(tmp(), 'inv.safetensors');
  });

  it('invert writes the inversion file and the reconstruction, and prints the PSNR', async () => {
    const rec = join(tmp(), 'rec.png');
    const r = spawnPtp(
      'invert',
      ...model,
      ...run,
      '--image',
      photo,
      '--prompt',
      PROMPT,
      '--steps-offset',
      '0',
      '--out',
      inv,
      '--reconstruction',
      rec,
    );
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(
      /^reconstruction PSNR \d+\.\d\d dB against the input \(the VAE round trip alone: \d+\.\d\d dB\)\n/,
    );
    expect(r.stdout).to.contain(`wrote ${inv} and ${rec} (64×64, 2 steps)`);
    expect(r.stderr).to.contain('inverted in');
    const f = await readInversionFile(inv);
    expect(f.latents.shape).to.deep.equal([1, 4, 8, 8]);
    expect(f.uncondEmbeddings.shape).to.deep.equal([2, 77, 32]);
    expect(f.timesteps).to.deep.equal([500, 0]);
    expect([f.image.width, f.image.height]).to.deep.equal([64, 64]);
    expect(f.meta).to.include({
      prompt: PROMPT,
      steps: 2,
      innerSteps: 2,
      earlyStop: 1e-5,
      guidance: 7.5,
      stepsOffset: 0,
    });
    expect(f.meta.psnr).to.be.a('number');
    const img = png(rec);
    expect([img.width, img.height]).to.deep.equal([64, 64]);
  });

  it('edit --inversion: photo | reconstruction | edit; target = source reproduces the reconstruction', async () => {
    const out = join(tmp(), 'blue.png');
    const r = spawnPtp('edit', ...model, '--inversion', inv, '--target', 'a blue circle', '--out', out);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.equal(`wrote ${out} (208×64: photo | "${PROMPT}" | "a blue circle", replace)\n`);
    const [input, source, edited] = panels(png(out), 64, 3);
    const f = await readInversionFile(inv);
    expect(maxAbsDiff(input, f.image.data), 'the photo as inverted').to.be.at.most(1);
    expect(maxAbsDiff(source, png(join(tmp(), 'rec.png')).data), 'the source row is the reconstruction').to.be.at.most(
      1,
    );
    expect(maxAbsDiff(source, edited)).to.be.greaterThan(0);
    const same = join(tmp(), 'same.png');
    const r2 = spawnPtp('edit', ...model, '--inversion', inv, '--target', PROMPT, '--mode', 'replace', '--out', same);
    expect(r2.code, r2.stderr).to.equal(0);
    const [, s2, e2] = panels(png(same), 64, 3);
    expect(maxAbsDiff(s2, e2)).to.equal(0);
  });

  it('edit --image inverts then edits in one go (--save-inversion)', async () => {
    const out = join(tmp(), 'one-go.png');
    const saved = join(tmp(), 'one-go.safetensors');
    const r = spawnPtp(
      'edit',
      ...model,
      ...run,
      '--image',
      photo,
      '--source',
      PROMPT,
      '--target',
      'a red square',
      '--save-inversion',
      saved,
      '--out',
      out,
    );
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain('reconstruction PSNR');
    expect(panels(png(out), 64, 3)).to.have.length(3);
    expect(existsSync(saved)).to.equal(true);
  });

  it('bad input is a one-line error (exit 2) before the backend starts', async () => {
    const other = join(tmp(), 'other-model.safetensors');
    const f = await readInversionFile(inv);
    await writeInversionFile(other, {
      ...f,
      meta: { ...f.meta, model: '/elsewhere/sd', fingerprint: '0123456789abcdef' },
    });
    // Files edited by hand: each tensor off in one way.
    const edited = async (name: string, change: Partial<typeof f>) => {
      const path = join(tmp(), `${name}.safetensors`);
      await writeInversionFile(path, { ...f, ...change });
      return path;
    };
    const otherTimesteps = await edited('timesteps', { timesteps: [400, 0] });
    const smallLatents = await edited('latents', { latents: { shape: [1, 4, 4, 4], data: new Float32Array(64) } });
    const narrow = await edited('narrow', {
      uncondEmbeddings: { shape: [2, 77, 16], data: new Float32Array(2 * 77 * 16) },
    });
    const wide = await edited('wide', { image: { width: 96, height: 64, data: new Uint8Array(96 * 64 * 3) } });
    const threeSteps = await edited('three-steps', { meta: { ...f.meta, steps: 3 } });
    const text = join(tmp(), 'notes.txt');
    writeFileSync(text, 'not an image');
    const cut = join(tmp(), 'cut.jpg');
    writeFileSync(cut, readFileSync(photo).subarray(0, 300));
    const out = join(tmp(), 'never.png');
    const cases: [string[], string][] = [
      [
        [
          'invert',
          ...model,
          '--image',
          join(tmp(), 'missing.jpg'),
          '--prompt',
          PROMPT,
          '--out',
          join(tmp(), 'x.safetensors'),
        ],
        'missing.jpg: cannot read the image (no such file)',
      ],
      [
        ['invert', ...model, '--image', text, '--prompt', PROMPT, '--out', join(tmp(), 'x.safetensors')],
        `${text}: not a PNG or JPEG file`,
      ],
      [
        ['invert', ...model, '--image', cut, '--prompt', PROMPT, '--out', join(tmp(), 'x.safetensors')],
        `${cut}: cannot decode the JPEG data`,
      ],
      [
        [
          'invert',
          ...model,
          '--image',
          photo,
          '--prompt',
          PROMPT,
          '--height',
          '100',
          '--out',
          join(tmp(), 'x.safetensors'),
        ],
        '--height 100 must be a multiple of 64 for this model',
      ],
      [
        [
          'invert',
          ...model,
          '--image',
          photo,
          '--prompt',
          PROMPT,
          '--inner-steps',
          '0',
          '--out',
          join(tmp(), 'x.safetensors'),
        ],
        '--inner-steps must be a positive integer, got 0',
      ],
      [
        [
          'invert',
          ...model,
          '--image',
          photo,
          '--prompt',
          PROMPT,
          '--guidance',
          '1',
          '--out',
          join(tmp(), 'x.safetensors'),
        ],
        '--guidance must be above 1 for null-text inversion, got 1',
      ],
      [
        [
          'invert',
          ...model,
          '--image',
          photo,
          '--prompt',
          PROMPT,
          '--offsets',
          '1,2,3',
          '--out',
          join(tmp(), 'x.safetensors'),
        ],
        '--offsets: expected four non-negative integers left,right,top,bottom, got "1,2,3"',
      ],
      [
        ['edit', ...model, '--inversion', other, '--target', 'a blue circle', '--out', out],
        `${other} was inverted with another model (/elsewhere/sd; fingerprint 0123456789abcdef, this model `,
      ],
      [
        ['edit', ...model, '--inversion', inv, '--target', 'a blue circle', '--steps', '5', '--out', out],
        `${inv} was inverted with 2 steps; --steps 5 cannot use it (leave --steps out)`,
      ],
      [
        ['edit', ...model, '--inversion', inv, '--target', 'a blue circle', '--guidance', '5', '--out', out],
        `${inv} was inverted for guidance 7.5; --guidance 5 cannot use it`,
      ],
      [
        ['edit', ...model, '--inversion', inv, '--target', 'a blue circle', '--steps-offset', '1', '--out', out],
        `${inv} was inverted with steps offset 0; --steps-offset 1 cannot use it`,
      ],
      [
        ['edit', ...model, '--inversion', inv, '--target', 'a blue circle', '--width', '128', '--out', out],
        `${inv} was inverted at 64×64; leave --width/--height out`,
      ],
      [
        ['edit', ...model, '--inversion', wide, '--target', 'a blue circle', '--out', out],
        `${wide} was inverted at 96×64, which does not fit this model (multiples of 64)`,
      ],
      [
        ['edit', ...model, '--inversion', otherTimesteps, '--target', 'a blue circle', '--out', out],
        `${otherTimesteps}: timesteps 400,0 are not this model's DDIM timesteps for 2 steps with steps offset 0 (500,0)`,
      ],
      [
        ['edit', ...model, '--inversion', smallLatents, '--target', 'a blue circle', '--out', out],
        `${smallLatents}: latents [1, 4, 4, 4] do not fit its 64×64 image on this model (expected [1, 4, 8, 8])`,
      ],
      [
        ['edit', ...model, '--inversion', narrow, '--target', 'a blue circle', '--out', out],
        `${narrow}: uncond_embeddings [2, 77, 16], expected [2, 77, 32] for this model`,
      ],
      [
        ['edit', ...model, '--inversion', threeSteps, '--target', 'a blue circle', '--out', out],
        `${threeSteps}: 2 embeddings and 2 timesteps for 3 steps`,
      ],
      [
        ['edit', ...model, '--inversion', inv, '--source', 'a cat', '--target', 'a dog', '--out', out],
        `--source "a cat" differs from the prompt the photo was inverted with ("${PROMPT}")`,
      ],
      [
        ['edit', ...model, '--inversion', inv, '--target', 'a blue circle', '--seed', '3', '--out', out],
        '--seed does not apply to editing a photo',
      ],
      [
        ['edit', ...model, '--inversion', inv, '--image', photo, '--target', 'a blue circle', '--out', out],
        'give --inversion <file> or --image <photo>, not both',
      ],
      [
        ['edit', ...model, '--source', PROMPT, '--target', 'a blue circle', '--inner-steps', '3', '--out', out],
        '--inner-steps needs --image <photo>',
      ],
      [
        ['edit', ...model, '--inversion', photo, '--target', 'a blue circle', '--out', out],
        `${photo}: not a readable inversion file`,
      ],
      [
        ['edit', ...model, '--inversion', inv, '--target', 'a blue square circle', '--mode', 'replace', '--out', out],
        '--mode replace needs the same number of words',
      ],
    ];
    for (const [argv, message] of cases) {
      const r = spawnPtp(...argv);
      expect(r.code, `${argv.join(' ')}\n${r.stderr}`).to.equal(2);
      const lines = r.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('mode:'));
      expect(lines, r.stderr).to.have.length(1);
      expect(lines[0]).to.contain(message);
      expect(r.stderr, 'no backend started').to.not.contain('backend:');
    }
    expect(existsSync(out)).to.equal(false);
  });
});
