/**
 * No synchronous tensor reads on the library's browser path: a whole Prompt-to-Prompt edit of the
 * shipped model (text encoder, sampling with a Replace controller and LocalBlend, the attention
 * store, VAE decode, image conversion, the source's attention maps) and a real-image inversion
 * (VAE encode, DDIM and null-text inversion, then the edit from it) read tensors only with
 * awaited reads. test/web.test.ts counts the same on WebGL and WebGPU in chromium.
 */
import { expect } from 'chai';
import { loadPipelineFromDirectory } from '../src/node/pipeline.js';
import { demoModelDir } from '../src/node/package-files.js';
import {
  blendMapSize,
  buildEdit,
  countReads,
  toRgbImage,
  type ReadCounter,
  type StableDiffusionPipeline,
} from '../src/index.js';

const SOURCE = 'a red circle on a white background';
const SPEC = {
  source: SOURCE,
  targets: ['a blue circle on a white background'],
  mode: 'replace' as const,
  cross: 0.8,
  self: 0.4,
  blend: ['circle'],
};

describe('synchronous reads (wasm): none in an edit or an inversion of the shipped model', function () {
  let pipe: StableDiffusionPipeline;
  let reads: ReadCounter;

  before(async () => {
    pipe = await loadPipelineFromDirectory(demoModelDir(), { vaeEncoder: true });
    reads = countReads();
  });
  after(() => {
    reads?.stop();
    pipe?.dispose();
  });

  it('counts a synchronous read when there is one (the census sees them)', async () => {
    reads.reset();
    const t = pipe.encodePrompts([SOURCE]);
    t.dataSync();
    await t.data();
    t.dispose();
    expect(reads.counts.sync).to.equal(1);
    expect(reads.counts.async).to.equal(1);
  });

  it('an edit with LocalBlend, its images and attention maps: 0 synchronous reads', async () => {
    reads.reset();
    const built = buildEdit(pipe.tokenizer, SPEC);
    try {
      const r = await pipe.edit({
        prompts: built.prompts,
        steps: 2,
        seed: 1,
        scheduler: 'ddim',
        controller: built.controller,
        keepLatentsPerStep: true,
      });
      r.images.map(toRgbImage);
      const maps = built.controller.aggregateAttention(
        blendMapSize(built.controller.latentSize),
        ['up', 'down'],
        true,
        0,
      );
      await maps.data();
      maps.dispose();
    } finally {
      built.controller.dispose();
    }
    expect(reads.counts.sync).to.equal(0);
    // The images, both latents, 2 per-step latents and the maps: awaited reads.
    expect(reads.counts.async).to.be.at.least(6);
  });

  it('DDIM and null-text inversion of an image, then its edit: 0 synchronous reads', async () => {
    const image = toRgbImage(
      (await pipe.generate({ prompts: [SOURCE], steps: 2, seed: 3, scheduler: 'ddim' })).images[0],
    );
    reads.reset();
    const inv = await pipe.invertNullText({
      image,
      prompt: SOURCE,
      steps: 2,
      innerSteps: 2,
      scheduler: pipe.scheduler('ddim'),
    });
    const built = buildEdit(pipe.tokenizer, SPEC);
    try {
      await pipe.edit({
        prompts: built.prompts,
        steps: 2,
        scheduler: 'ddim',
        controller: built.controller,
        latents: inv.latents,
        uncondEmbeddings: inv.uncondEmbeddings,
      });
    } finally {
      built.controller.dispose();
    }
    expect(reads.counts.sync).to.equal(0);
    expect(reads.counts.async).to.be.at.least(inv.losses.flat().length);
  });
});
