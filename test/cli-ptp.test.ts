/** `ptp edit` and `ptp attention` on tiny-sd at small sizes: output images, modes and one-line errors. */
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from '../src/cli/args.js';
import { parseCross, parseWordFactors } from '../src/cli/edit-args.js';
import { decodePng } from '../src/node/png.js';
import { readLatentsFile } from '../src/node/latents-file.js';
import type { RgbImage } from '../src/util/image.js';
import { describeRef, tinySdDir } from './helpers/reference.js';
import { tempDirForSuite } from './helpers/tmp.js';
import { lines, ptp, spawnPtp } from './helpers/cli.js';

const png = (path: string): RgbImage => decodePng(readFileSync(path));

/** Pixels of columns [x0, x0 + w) of an image. */
function columns(img: RgbImage, x0: number, w: number): Uint8Array {
  const out = new Uint8Array(img.height * w * 3);
  for (let y = 0; y < img.height; y++)
    out.set(img.data.subarray((y * img.width + x0) * 3, (y * img.width + x0 + w) * 3), y * w * 3);
  return out;
}

/** The `count` images of size `size` laid side by side with 8-pixel gaps. */
function halves(img: RgbImage, size: number, count = 2): Uint8Array[] {
  expect([img.width, img.height]).to.deep.equal([count * size + (count - 1) * 8, size]);
  return Array.from({ length: count }, (_, i) => columns(img, i * (size + 8), size));
}

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

describe('cli: edit option values', () => {
  it('a repeatable option collects its values in order; others keep the last', () => {
    const specs = [
      { name: 'target', short: 't', type: 'string' as const, multiple: true, description: '' },
      { name: 'steps', type: 'number' as const, description: '' },
    ];
    const r = parseArgs(['--target', 'a', '-t', 'b', '--target=c', '--steps', '2', '--steps', '3'], specs);
    expect(r.options).to.deep.equal({ target: ['a', 'b', 'c'], steps: 3 });
  });

  it('--cross and --reweight syntax', () => {
    expect(parseCross('0.8')).to.equal(0.8);
    expect(parseCross('1,dog=0.2')).to.deep.equal({ default_: 1, dog: 0.2 });
    expect(parseCross('dog=0.2, cat=.5')).to.deep.equal({ dog: 0.2, cat: 0.5 });
    expect(() => parseCross('0.5,0.6')).to.throw('--cross: more than one default fraction in "0.5,0.6"');
    expect(parseWordFactors('bicycle=2,cat=-1.5', 'reweight')).to.deep.equal([
      { word: 'bicycle', value: 2 },
      { word: 'cat', value: -1.5 },
    ]);
    expect(() => parseWordFactors('bicycle=2,', 'reweight')).to.throw(
      '--reweight: expected word=factor[,word=factor...], got "bicycle=2,"',
    );
    expect(() => parseWordFactors('red bike=2', 'reweight')).to.throw('--reweight: "red bike" is not a single word');
  });
});

describeRef('cli: ptp edit and ptp attention on tiny-sd', function () {
  this.timeout(300000);
  const tmp = tempDirForSuite('cli-ptp');
  const small = ['--model', tinySdDir, '--steps', '3', '--seed', '7', '--height', '128', '--width', '128'];
  const CAT = 'a cat riding a bicycle';
  const DOG = 'a dog riding a bicycle';
  const REFINED = 'a fluffy cat riding a red bicycle';

  it('edit (replace by default for equal word counts): source | edit, different halves, --save-latents', async () => {
    const out = join(tmp(), 'replace.png');
    const lat = join(tmp(), 'replace.safetensors');
    const r = spawnPtp('edit', ...small, '--source', CAT, '--target', DOG, '--out', out, '--save-latents', lat);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.contain('mode: replace (same number of words)');
    expect(r.stdout).to.equal(`wrote ${out} (264×128: "${CAT}" | "${DOG}", replace)\n`);
    const [left, right] = halves(png(out), 128);
    expect(same(left, right)).to.equal(false);
    expect((await readLatentsFile(lat)).shape).to.deep.equal([2, 4, 16, 16]);
    expect((await readLatentsFile(lat, 'initial_latents')).shape).to.deep.equal([2, 4, 16, 16]);
  });

  it('edit with identical prompts (replace) gives identical halves', async () => {
    const out = join(tmp(), 'same.png');
    const r = spawnPtp(
      'edit',
      ...small,
      '--source',
      CAT,
      '--target',
      CAT,
      '--mode',
      'replace',
      '--blend',
      'cat',
      '--out',
      out,
    );
    expect(r.code, r.stderr).to.equal(0);
    const [left, right] = halves(png(out), 128);
    expect(same(left, right)).to.equal(true);
  });

  it('edit chooses refine when the word counts differ (noted on stderr); reweight over refine with a per-word schedule', async () => {
    const out = join(tmp(), 'refine.png');
    const r = spawnPtp('edit', ...small, '--source', CAT, '--target', REFINED, '--out', out);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.contain('mode: refine (the number of words differs)');
    const [l1, r1] = halves(png(out), 128);
    expect(same(l1, r1)).to.equal(false);
    const out2 = join(tmp(), 'reweight-refine.png');
    const r2 = spawnPtp(
      'edit',
      ...small,
      '--source',
      CAT,
      '--target',
      REFINED,
      '--reweight',
      'fluffy=3',
      '--cross',
      '0.8,fluffy=0.4',
      '--self',
      '0.2',
      '--out',
      out2,
    );
    expect(r2.code, r2.stderr).to.equal(0);
    expect(r2.stdout).to.contain('reweight over refine');
    const [l2, right2] = halves(png(out2), 128);
    expect(same(l1, l2), 'the source image does not depend on the edit').to.equal(true);
    expect(same(r1, right2)).to.equal(false);
  });

  it('edit --reweight without a target reweights the source prompt; repeated --target and --blend', async () => {
    const out = join(tmp(), 'reweight.png');
    const r = spawnPtp('edit', ...small, '--source', CAT, '--reweight', 'bicycle=-2', '--out', out);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.not.contain('mode:');
    expect(r.stdout).to.contain(`"${CAT}" | "${CAT}", reweight)`);
    const [left, right] = halves(png(out), 128);
    expect(same(left, right)).to.equal(false);
    const out3 = join(tmp(), 'three.png');
    const r3 = spawnPtp(
      'edit',
      ...small,
      '--source',
      CAT,
      '--target',
      DOG,
      '-t',
      'a cat riding a horse',
      '--blend',
      'cat,dog,bicycle,horse',
      '--blend-threshold',
      '0.5',
      '--out',
      out3,
    );
    expect(r3.code, r3.stderr).to.equal(0);
    const parts = halves(png(out3), 128, 3);
    expect(same(parts[0], parts[1]) || same(parts[0], parts[2]) || same(parts[1], parts[2])).to.equal(false);
  });

  it('edit: bad input is a one-line error (exit 2), no image written', async () => {
    const out = join(tmp(), 'never.png');
    const cases: [string[], string][] = [
      [['--target', DOG], '--source <text> is required'],
      [['--source', CAT], '--target <text> is required (or --reweight word=factor to reweight the source prompt)'],
      [
        ['--source', CAT, '--target', DOG, '--blend', 'cat,horse'],
        `--blend: "horse" is not a word of "${CAT}" or "${DOG}"`,
      ],
      [['--source', CAT, '--target', DOG, '--blend', 'dog'], `--blend: none of dog is a word of "${CAT}"`],
      [
        ['--source', CAT, '--reweight', 'bicycle2'],
        '--reweight: expected word=factor[,word=factor...], got "bicycle2"',
      ],
      [
        ['--source', CAT, '--reweight', 'bicycle=x'],
        '--reweight: expected word=factor[,word=factor...], got "bicycle=x"',
      ],
      [['--source', CAT, '--reweight', 'horse=2'], `--reweight: "horse" is not a word of "${CAT}"`],
      [
        ['--source', CAT, '--target', REFINED, '--mode', 'replace'],
        `--mode replace needs the same number of words: "${CAT}" has 5, "${REFINED}" has 7; use --mode refine`,
      ],
      [['--source', CAT, '--target', DOG, '--mode', 'reweight'], '--mode reweight needs --reweight word=factor'],
      [
        ['--source', CAT, '--target', DOG, '--cross', '1.5'],
        '--cross: expected a fraction of the steps in [0, 1], got "1.5"',
      ],
      [
        ['--source', CAT, '--target', DOG, '--cross', '1,dog'],
        '--cross: expected a fraction or fraction,word=fraction..., got "1,dog"',
      ],
      [
        ['--source', CAT, '--target', DOG, '--cross', '1,horse=0.2'],
        'crossReplaceSteps: word "horse" is in none of the edited prompts',
      ],
      [['--source', CAT, '--target', DOG, '--blend-threshold', '0.5'], '--blend-threshold needs --blend <words>'],
    ];
    for (const [argv, msg] of cases) {
      const r = await ptp('edit', ...small, ...argv, '--out', out);
      expect(r.code, `${argv.join(' ')}: ${r.stderr}`).to.equal(2);
      // Checked before the model loads: the error is all there is on stderr.
      expect(lines(r.stderr), argv.join(' ')).to.have.length(1);
      expect(r.stderr)
        .to.contain(`ptp edit: ${msg}`)
        .and.match(/\(see 'ptp edit --help'\)\n$/);
      expect(r.stdout).to.equal('');
    }
    expect(existsSync(out)).to.equal(false);
  });

  it('attention: a labelled map per token, self-attention components, the image; --res/--from errors', async () => {
    const out = join(tmp(), 'maps.png');
    const img = join(tmp(), 'img.png');
    const args = [
      '--model',
      tinySdDir,
      '--steps',
      '2',
      '--seed',
      '7',
      '--height',
      '256',
      '--width',
      '256',
      '--prompt',
      CAT,
    ];
    const r = spawnPtp('attention', ...args, '--self-components', '3', '--image', img, '--out', out);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain(`wrote ${out} (920×148: 7 tokens, 8×8 maps from up, down)`);
    const maps = png(out);
    expect([maps.width, maps.height]).to.deep.equal([7 * 128 + 6 * 4, 148]);
    for (let cell = 0; cell < 7; cell++) {
      // The label strip under each map holds dark (text) pixels; the map itself is grey levels.
      let dark = 0;
      for (let y = 130; y < 148; y++)
        for (let x = cell * 132; x < cell * 132 + 128; x++) if (maps.data[(y * maps.width + x) * 3] < 64) dark++;
      expect(dark, `label of token ${cell}`).to.be.greaterThan(10);
    }
    const self = png(join(tmp(), 'maps-self.png'));
    expect([self.width, self.height]).to.deep.equal([3 * 128 + 2 * 4, 148]);
    const image = png(img);
    expect([image.width, image.height]).to.deep.equal([256, 256]);
    const r16 = spawnPtp('attention', ...args, '--res', '16', '--from', 'up', '--out', join(tmp(), 'maps16.png'));
    expect(r16.code, r16.stderr).to.equal(0);
    expect(r16.stdout).to.contain('16×16 maps from up');

    const bad: [string[], string][] = [
      [['--res', '32'], '--res: no cross-attention maps of 32×32 in up, down at this image size (stored: 16×16, 8×8)'],
      [['--from', 'up,sideways'], '--from: "sideways" is not one of down, mid, up (e.g. --from up,down)'],
      [['--self-components', '0'], '--self-components must be a positive integer, got 0'],
    ];
    for (const [argv, msg] of bad) {
      const b = spawnPtp('attention', ...args, ...argv, '--out', join(tmp(), 'bad.png'));
      expect(b.code, argv.join(' ')).to.equal(2);
      expect(lines(b.stderr).at(-1)).to.equal(`ptp attention: ${msg} (see 'ptp attention --help')`);
    }
    expect(existsSync(join(tmp(), 'bad.png'))).to.equal(false);
  });
});
