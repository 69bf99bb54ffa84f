/**
 * DDIM inversion of a real image (pipeline.invert) vs the null-text notebook's `ddim_inversion`
 * (case h_nulltext: 512×512 image = case a's image_u8[0], 5 steps, DDIM with steps_offset 0).
 */
import { expect } from 'chai';
import { loadPipelineFromDirectory } from '../src/node/pipeline.js';
import type { StableDiffusionPipeline } from '../src/pipeline/pipeline.js';
import { nchwToNhwc } from '../src/pipeline/host-tensor.js';
import { imageToUint8 } from '../src/util/image.js';
import { createScheduler, DDIMScheduler } from '../src/models/schedulers/index.js';
import { describeRef, fixture, fixtureTensor, readJson, tinySdDir } from './helpers/reference.js';
import { maxDiff } from './helpers/p2p-cases.js';
import { expectNoLeak } from './helpers/leaks.js';
import { expectReject } from './helpers/reject.js';

const FILE = 'p2p/p2p_h_nulltext.safetensors';

describeRef('ptp invert: DDIM inversion vs the null-text notebook (h_nulltext)', () => {
  const meta = readJson('p2p/index.json').cases.h_nulltext;
  let pipe: StableDiffusionPipeline;
  before(async () => {
    pipe = await loadPipelineFromDirectory(tinySdDir, { vaeEncoder: true });
  });
  after(() => pipe?.dispose());

  /** The notebook's DDIMScheduler(scaled_linear .00085–.012, clip_sample False, set_alpha_to_one False): steps_offset 0. */
  function notebookScheduler(): DDIMScheduler {
    const s = meta.scheduler;
    expect(s.steps_offset).to.equal(0);
    const config = {
      ...pipe.components.schedulerConfig,
      steps_offset: s.steps_offset,
      set_alpha_to_one: s.set_alpha_to_one,
      clip_sample: s.clip_sample,
    };
    return createScheduler(config, { type: 'ddim' }) as DDIMScheduler;
  }

  it("the input image is case a's image_u8[0]", async () => {
    const gt = await (await fixture(FILE)).readBytes('image_gt_u8');
    const a = await (await fixture('p2p/p2p_a_attention_store.safetensors')).readBytes('image_u8');
    expect(Buffer.from(gt).equals(Buffer.from(a.subarray(0, gt.length)))).to.equal(true);
  });

  it('invert({image, prompt, steps: 5}): timesteps, x₀ and every inversion step; x₀ decodes to image_rec_u8', async () => {
    const tol = meta.tolerance['inversion.latents'].max_abs_over_max_ref as number;
    const image = { width: 512, height: 512, data: await (await fixture(FILE)).readBytes('image_gt_u8') };
    const t0 = Date.now();
    const r = await pipe.invert({
      image,
      prompt: meta.meta.inversion.prompt,
      steps: meta.meta.inversion.num_ddim_steps,
      scheduler: notebookScheduler(),
    });
    const seconds = (Date.now() - t0) / 1000;
    expect(r.timesteps).to.deep.equal(Array.from(await (await fixture(FILE)).readInt32('inversion.timesteps')));
    const ref = await fixtureTensor(FILE, 'inversion.latents');
    expect(r.trajectory.shape).to.deep.equal([ref.shape[0], 1, ...ref.shape.slice(1)]);
    const all = maxDiff(r.trajectory.data, ref.data);
    const per = ref.data.length / ref.shape[0];
    const x0 = maxDiff(r.imageLatents.data, ref.data.subarray(0, per));
    const last = maxDiff(r.latents.data, ref.data.subarray(ref.data.length - per));
    console.log(
      `      inversion (VAE encode + 5 UNet calls) ${seconds.toFixed(1)} s; max|Δ|/max|ref|: x₀ ${(x0.maxAbs / x0.maxRef).toExponential(1)}, all steps ${(all.maxAbs / all.maxRef).toExponential(1)}`,
    );
    expect(x0.maxAbs / x0.maxRef, `x₀: max|Δ| ${x0.maxAbs}`).to.be.at.most(tol);
    expect(all.maxAbs / all.maxRef, `inversion.latents: max|Δ| ${all.maxAbs} vs max|ref| ${all.maxRef}`).to.be.at.most(
      tol,
    );
    expect(last.maxAbs / last.maxRef, 'x_T').to.be.at.most(tol);

    // image_rec = latent2image(x₀) (floor quantisation), within the pipeline image_u8 tolerance.
    const lat = nchwToNhwc(r.imageLatents);
    const [rec] = await pipe.decode(lat);
    lat.dispose();
    const u8 = imageToUint8(rec, 'floor');
    const refRec = await (await fixture(FILE)).readBytes('inversion.image_rec_u8');
    let worst = 0;
    for (let i = 0; i < u8.length; i++) worst = Math.max(worst, Math.abs(u8[i] - refRec[i]));
    expect(worst, 'image_rec_u8 max |Δ|').to.be.at.most(
      readJson('p2p/index.json').cases.b_replace.tolerance.image_u8.max_abs,
    );
  });

  it('leaks no tensors (64×64, 2 steps)', async () => {
    const image = { width: 64, height: 64, data: new Uint8Array(64 * 64 * 3).fill(90) };
    const r = await expectNoLeak('invert', () => pipe.invert({ image, prompt: 'a cat', steps: 2 }));
    expect(r.trajectory.shape).to.deep.equal([3, 1, 4, 8, 8]);
  });

  it('invert needs the VAE encoder and a DDIM scheduler; image sizes must fit the UNet', async () => {
    const noEnc = await loadPipelineFromDirectory(tinySdDir);
    const image = { width: 64, height: 64, data: new Uint8Array(64 * 64 * 3) };
    try {
      await expectReject(
        noEnc.invert({ image, prompt: 'a cat', steps: 2 }),
        'invert needs the VAE encoder: load the pipeline with { vaeEncoder: true }',
      );
    } finally {
      noEnc.dispose();
    }
    await expectReject(
      pipe.invert({ image, prompt: 'a cat', steps: 2, scheduler: pipe.scheduler('pndm') }),
      "DDIM inversion needs the DDIM scheduler, got 'pndm'",
    );
    await expectReject(
      pipe.invert({ image: { width: 60, height: 64, data: new Uint8Array(60 * 64 * 3) }, prompt: 'a cat', steps: 2 }),
      'width 60 must be a positive multiple of 64',
    );
  });
});
