/**
 * The README's photo edit on the shipped demo model, end to end and without --model (the default):
 * `ptp invert` of examples/shapes-scene.png, then `ptp edit --inversion` swapping the square's
 * colour, with tiny step counts (2 DDIM steps × 2 Adam iterations). Needs no ../shared.
 */
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodePng } from '../src/node/png.js';
import { readInversionFile, modelFingerprint } from '../src/node/inversion-file.js';
import { openModelDirectory } from '../src/node/model-dir.js';
import { demoModelDir } from '../src/node/package-files.js';
import type { RgbImage } from '../src/util/image.js';
import { repoRoot } from './helpers/reference.js';
import { tempDirForSuite } from './helpers/tmp.js';
import { spawnPtp } from './helpers/cli.js';
import { DDIMScheduler } from '../src/models/schedulers/ddim.js';

const json = (rel: string) =>
  JSON.parse(readFileSync(join(demoModelDir(), rel), 'utf8')) as Record<string, number | undefined>;

const png = (path: string): RgbImage => decodePng(readFileSync(path));
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) =>
  Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

/** Panel `i` (of width `size`) of a side-by-side image with 8-pixel gaps. */
function panel(img: RgbImage, size: number, i: number): Uint8Array {
  const out = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++)
    out.set(
      img.data.subarray((y * img.width + i * (size + 8)) * 3, (y * img.width + i * (size + 8) + size) * 3),
      y * size * 3,
    );
  return out;
}

describe('cli: ptp invert → ptp edit --inversion on the shipped model (no --model)', function () {
  this.timeout(600000);
  const tmp = tempDirForSuite('cli-invert-shipped');
  const photo = join(repoRoot, 'examples', 'shapes-scene.png');
  const caption = 'a big black square on a blue background';
  const target = 'a big red square on a blue background';

  before(() => {
    if (!existsSync(join(demoModelDir(), 'model_index.json')))
      throw new Error(`the shipped demo model is missing (${demoModelDir()}): it belongs in the repository`);
  });

  it('inverts the example scene with the default model and edits it: photo | reconstruction | edit', async () => {
    const dir = tmp();
    const inv = join(dir, 'scene-inv.safetensors');
    const rec = join(dir, 'scene-rec.png');
    const r = spawnPtp(
      'invert',
      '--image',
      photo,
      '--prompt',
      caption,
      '--steps',
      '2',
      '--inner-steps',
      '2',
      '--out',
      inv,
      '--reconstruction',
      rec,
    );
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(
      /^reconstruction PSNR \d+\.\d\d dB against the input \(the VAE round trip alone: \d+\.\d\d dB\)\n/,
    );
    expect(r.stdout).to.contain(`wrote ${inv} and ${rec} (128×128, 2 steps)`);

    const f = await readInversionFile(inv);
    const model = await openModelDirectory(demoModelDir());
    const fingerprint = await modelFingerprint(model).finally(() => model.close());
    // What the file records follows the shipped model's own configs (no schedule or length assumed).
    const schedulerConfig = json('scheduler/scheduler_config.json');
    const text = json('text_encoder/config.json');
    const scheduler = DDIMScheduler.fromConfig(schedulerConfig);
    scheduler.setTimesteps(2);
    expect(f.meta).to.include({
      model: demoModelDir(),
      fingerprint,
      prompt: caption,
      steps: 2,
      innerSteps: 2,
      guidance: 7.5,
      stepsOffset: schedulerConfig.steps_offset ?? 0,
    });
    expect(f.latents.shape).to.deep.equal([1, 4, 32, 32]);
    expect(f.uncondEmbeddings.shape).to.deep.equal([2, text.max_position_embeddings, text.hidden_size]);
    expect(f.timesteps).to.deep.equal(scheduler.timesteps);
    expect(Array.from(f.image.data), 'the 128×128 photo is used as it is').to.deep.equal(Array.from(png(photo).data));

    const out = join(dir, 'scene-red.png');
    const e = spawnPtp('edit', '--inversion', inv, '--target', target, '--out', out);
    expect(e.code, e.stderr).to.equal(0);
    expect(e.stdout).to.equal(`wrote ${out} (400×128: photo | "${caption}" | "${target}", replace)\n`);
    const grid = png(out);
    expect([grid.width, grid.height]).to.deep.equal([400, 128]);
    expect(maxAbsDiff(panel(grid, 128, 0), f.image.data), 'panel 1: the photo').to.equal(0);
    expect(maxAbsDiff(panel(grid, 128, 1), png(rec).data), 'panel 2: the reconstruction').to.be.at.most(1);
    expect(maxAbsDiff(panel(grid, 128, 2), panel(grid, 128, 1)), 'panel 3: the edit differs').to.be.greaterThan(0);
  });
});
