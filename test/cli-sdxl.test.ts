/**
 * The CLI on the tiny SD-XL model: `ptp edit` reproduces the official sdxl_p2p_replace run
 * (latents and images), and generate / attention / invert / edit --inversion work with an SD-XL
 * diffusers directory.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodePng } from '../src/node/png.js';
import { readLatentsFile } from '../src/node/latents-file.js';
import type { RgbImage } from '../src/util/image.js';
import { describeRef, fixture, fixtureTensor, readJson, referenceDir, repoRoot } from './helpers/reference.js';
import { tempDirForSuite } from './helpers/tmp.js';
import { lines, ptp } from './helpers/cli.js';
import { cpuLatentsRel, maxDiff, sdxlTolerance } from './helpers/p2p-cases.js';

const png = (path: string): RgbImage => decodePng(readFileSync(path));

describeRef('cli: ptp on tiny-sdxl', function () {
  this.timeout(900000);
  const tmp = tempDirForSuite('cli-sdxl');
  const model = () => join(referenceDir, 'tiny-sdxl');

  it('ptp edit reproduces sdxl_p2p_replace (Replace .8/.4 + LocalBlend cat,dog at .8015, 10 Euler steps, seed 8888, 512×512)', async () => {
    const c = readJson('p2p/index.json').cases.sdxl_p2p_replace;
    const tol = sdxlTolerance('sdxl_p2p_replace');
    const [out, saved] = [join(tmp(), 'replace.png'), join(tmp(), 'replace.safetensors')];
    const lb = c.controller.local_blend;
    const r = await ptp(
      'edit',
      '--model',
      model(),
      '--source',
      c.prompts[0],
      '--target',
      c.prompts[1],
      '--mode',
      'replace',
      '--cross',
      String(c.controller.cross_replace_steps),
      '--self',
      String(c.controller.self_replace_steps),
      '--blend',
      lb.words.join(','),
      '--blend-threshold',
      String(lb.threshold),
      '--steps',
      String(c.steps),
      '--guidance',
      String(c.guidance_scale),
      '--seed',
      String(c.seed),
      '--scheduler',
      'euler',
      '--height',
      String(c.height),
      '--width',
      String(c.width),
      '--save-latents',
      saved,
      '--out',
      out,
    );
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.equal(`wrote ${out} (1032×512: "${c.prompts[0]}" | "${c.prompts[1]}", replace)\n`);
    const fin = maxDiff(
      (await readLatentsFile(saved, 'latents')).data,
      (await fixtureTensor('p2p/sdxl_p2p_replace.safetensors', 'final_latents')).data,
    );
    expect(fin.maxAbs / fin.maxRef, `final latents: max|Δ| ${fin.maxAbs} vs max|ref| ${fin.maxRef}`).to.be.at.most(
      cpuLatentsRel(tol.latentsRel),
    );
    // The two panels against the official uint8 images (floor there, rounding here: |Δ| ≤ 2).
    const img = png(out);
    const ref = await (await fixture('p2p/sdxl_p2p_replace.safetensors')).readBytes('image_u8');
    let worst = 0;
    for (let p = 0; p < 2; p++) {
      for (let y = 0; y < 512; y++) {
        for (let x = 0; x < 512 * 3; x++)
          worst = Math.max(
            worst,
            Math.abs(img.data[(y * img.width + p * 520) * 3 + x] - ref[(p * 512 + y) * 512 * 3 + x]),
          );
      }
    }
    expect(worst, 'panels vs image_u8, max |Δ|').to.be.at.most(tol.u8MaxAbs);
  });

  it('generate: the default 128×128 of sample_size 16; --negative and --clip-skip change the image', async () => {
    const outs = ['plain', 'neg', 'skip'].map((n) => join(tmp(), `${n}.png`));
    const args = [
      'generate',
      '--model',
      model(),
      '--prompt',
      'a photograph of an astronaut riding a horse',
      '--steps',
      '2',
      '--seed',
      '3',
    ];
    const runs = [
      await ptp(...args, '--out', outs[0]),
      await ptp(...args, '--negative', 'blurry', '--out', outs[1]),
      await ptp(...args, '--clip-skip', '1', '--out', outs[2]),
    ];
    for (const [i, r] of runs.entries()) {
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.equal(`wrote ${outs[i]} (128×128)\n`);
    }
    const [a, b, d] = outs.map(png);
    expect(Buffer.from(a.data).equals(Buffer.from(b.data))).to.equal(false);
    expect(Buffer.from(a.data).equals(Buffer.from(d.data))).to.equal(false);
    const bad = await ptp(...args, '--clip-skip', '3', '--out', join(tmp(), 'bad.png'));
    expect(lines(bad.stderr).at(-1)).to.equal(
      "ptp generate: --clip-skip 3 leaves no layer: the text encoder has 3 layers (use 0..2) (see 'ptp generate --help')",
    );
  });

  it('attention: token maps at latent/4 and self-attention components', async () => {
    const out = join(tmp(), 'maps.png');
    const r = await ptp(
      'attention',
      '--model',
      model(),
      '--prompt',
      'a cat riding a bicycle',
      '--steps',
      '2',
      '--seed',
      '7',
      '--height',
      '256',
      '--width',
      '256',
      '--self-components',
      '2',
      '--out',
      out,
    );
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain(`wrote ${out} (920×148: 7 tokens, 8×8 maps from up, down)`);
    expect(r.stdout).to.contain('2 self-attention components');
  });

  it('invert, then edit --inversion (the SD-XL fingerprint, [steps, 77, 20] embeddings)', async () => {
    const [inv, out] = [join(tmp(), 'inv.safetensors'), join(tmp(), 'inv-edit.png')];
    const r = await ptp(
      'invert',
      '--model',
      model(),
      '--image',
      join(repoRoot, 'examples', 'shapes-scene.png'),
      '--prompt',
      'a cat',
      '--steps',
      '2',
      '--inner-steps',
      '2',
      '--out',
      inv,
    );
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain(`wrote ${inv} (128×128, 2 steps)`);
    const e = await ptp('edit', '--model', model(), '--inversion', inv, '--target', 'a dog', '--out', out);
    expect(e.code, e.stderr).to.equal(0);
    expect(e.stdout).to.equal(`wrote ${out} (400×128: photo | "a cat" | "a dog", replace)\n`);
    const sd2 = await ptp(
      'edit',
      '--model',
      join(referenceDir, 'tiny-sd'),
      '--inversion',
      inv,
      '--target',
      'a dog',
      '--out',
      out,
    );
    expect(sd2.code).to.equal(2);
    expect(lines(sd2.stderr).at(-1)).to.match(/was inverted with another model/);
  });
});
