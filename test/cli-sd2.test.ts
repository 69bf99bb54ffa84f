/** `ptp generate`, `edit` and `attention` on the tiny SD-2 model: default size, size and clip-skip checks, the pad-"!" tokenizer. */
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodePng } from '../src/node/png.js';
import type { RgbImage } from '../src/util/image.js';
import { describeRef, referenceDir } from './helpers/reference.js';
import { tempDirForSuite } from './helpers/tmp.js';
import { lines, ptp } from './helpers/cli.js';

const png = (path: string): RgbImage => decodePng(readFileSync(path));

describeRef('cli: ptp generate / edit / attention on tiny-sd2', function () {
  this.timeout(300000);
  const tmp = tempDirForSuite('cli-sd2');
  const model = () => join(referenceDir, 'tiny-sd2');

  it("generate without --height/--width makes the model's default size (unet sample_size 32 × 8 = 256), no size note", async () => {
    const out = join(tmp(), 'default.png');
    const r = await ptp(
      'generate',
      '--model',
      model(),
      '--prompt',
      'a cat riding a horse!',
      '--steps',
      '2',
      '--seed',
      '3',
      '--out',
      out,
    );
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.equal(`wrote ${out} (256×256)\n`);
    expect(r.stderr).to.not.contain('note:');
    const img = png(out);
    expect([img.width, img.height]).to.deep.equal([256, 256]);
  });

  it('generate at another size notes the native size; --clip-skip 1 changes the image', async () => {
    const a = join(tmp(), 'small.png');
    const b = join(tmp(), 'small-skip.png');
    const args = [
      'generate',
      '--model',
      model(),
      '--prompt',
      'a cat riding a horse',
      '--steps',
      '2',
      '--seed',
      '3',
      '--height',
      '128',
      '--width',
      '64',
    ];
    const r = await ptp(...args, '--out', a);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.contain(
      "note: 64×128 is not this model's native size 256×256 (unet sample_size 32 × VAE factor 8)",
    );
    const r2 = await ptp(...args, '--clip-skip', '1', '--out', b);
    expect(r2.code, r2.stderr).to.equal(0);
    const [ia, ib] = [png(a), png(b)];
    expect([ib.width, ib.height]).to.deep.equal([64, 128]);
    expect(Buffer.from(ia.data).equals(Buffer.from(ib.data))).to.equal(false);
  });

  it('bad --height/--width/--clip-skip: one-line usage error (exit 2) before the backend starts or weights load, nothing written', async () => {
    const out = join(tmp(), 'bad.png');
    const bad: [string[], string][] = [
      [
        ['--height', '100'],
        "--height 100 must be a positive multiple of 64 (VAE factor 8 × UNet factor 8); this model's default is 256×256",
      ],
      [
        ['--width', '96'],
        "--width 96 must be a positive multiple of 64 (VAE factor 8 × UNet factor 8); this model's default is 256×256",
      ],
      [['--clip-skip', '3'], '--clip-skip 3 leaves no layer: the text encoder has 3 layers (use 0..2)'],
      [['--clip-skip', '-1'], '--clip-skip must be a non-negative integer, got -1'],
    ];
    for (const [argv, msg] of bad) {
      const r = await ptp('generate', '--model', model(), '--prompt', 'a cat', '--steps', '1', ...argv, '--out', out);
      expect(r.code, argv.join(' ')).to.equal(2);
      expect(lines(r.stderr).at(-1)).to.equal(`ptp generate: ${msg} (see 'ptp generate --help')`);
      expect(r.stderr, argv.join(' ')).to.not.contain('backend:');
    }
    expect(existsSync(out)).to.equal(false);
  });

  it('edit: a replace edit with "!" in the prompts (the pad token, one token per "!")', async () => {
    const out = join(tmp(), 'edit.png');
    const r = await ptp(
      'edit',
      '--model',
      model(),
      '--source',
      'a cat riding a bicycle!',
      '--target',
      'a dog riding a bicycle!',
      '--blend',
      'cat,dog',
      '--steps',
      '3',
      '--seed',
      '7',
      '--height',
      '128',
      '--width',
      '128',
      '--out',
      out,
    );
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.contain('mode: replace (same number of words)');
    expect(r.stdout).to.equal(
      `wrote ${out} (264×128: "a cat riding a bicycle!" | "a dog riding a bicycle!", replace)\n`,
    );
    const img = png(out);
    expect([img.width, img.height]).to.deep.equal([264, 128]);
  });

  it('attention: one map per token ("!" is its own token), at latent/4 of the default size', async () => {
    const out = join(tmp(), 'maps.png');
    const r = await ptp(
      'attention',
      '--model',
      model(),
      '--prompt',
      'a cat riding a bicycle!',
      '--steps',
      '2',
      '--seed',
      '7',
      '--self-components',
      '2',
      '--out',
      out,
    );
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain(`wrote ${out} (1052×148: 8 tokens, 8×8 maps from up, down)`);
    const maps = png(out);
    expect([maps.width, maps.height]).to.deep.equal([8 * 128 + 7 * 4, 148]);
  });
});
