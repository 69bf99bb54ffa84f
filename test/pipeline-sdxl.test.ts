/**
 * The tiny SD-XL pipeline vs diffusers' StableDiffusionXLPipeline (cases pipeline_sdxl_euler20,
 * pipeline_sdxl_ddim20, pipeline_sdxl_euler20_force_zeros): both encoders' conditioning, the
 * pooled embeddings and time ids handed to the UNet, every step's latents, the image; the time ids
 * of custom and negative sizes with diffusers' CFG row order (add_time_ids_sdxl).
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { join } from 'node:path';
import { loadPipelineFromDirectory } from '../src/node/pipeline.js';
import { StableDiffusionPipeline } from '../src/pipeline/pipeline.js';
import type { UNet2DConditionModel, UNetForwardOptions } from '../src/models/unet/unet.js';
import type { SigmaScheduler } from '../src/models/schedulers/sigma-scheduler.js';
import { sizeTimeIds, unetTimeIds, type SizeConditioning } from '../src/pipeline/size-conditioning.js';
import { caseTolerance, describeRef, fixtureTensor, readJson, referenceDir } from './helpers/reference.js';
import { expectClose } from './helpers/close.js';

const rows = (data: Float32Array, n: number) =>
  Array.from({ length: data.length / n }, (_, i) => Array.from(data.subarray(i * n, (i + 1) * n)));

/** Records the added conditioning of the UNet's first call (host copies). */
function spyAdded(unet: UNet2DConditionModel): {
  calls: { textEmbeds: number[]; timeIds: number[][] }[];
  restore: () => void;
} {
  const calls: { textEmbeds: number[]; timeIds: number[][] }[] = [];
  const original = unet.forward.bind(unet);
  unet.forward = ((s: tf.Tensor4D, t: number, c: tf.Tensor3D, call: unknown, opts?: UNetForwardOptions) => {
    if (opts?.added)
      calls.push({
        textEmbeds: Array.from(opts.added.textEmbeds.dataSync()),
        timeIds: opts.added.timeIds.map((r) => [...r]),
      });
    return original(s, t, c, call as never, opts as never);
  }) as typeof unet.forward;
  return { calls, restore: () => void (unet.forward = original) };
}

describeRef('StableDiffusionPipeline on tiny-sdxl vs diffusers StableDiffusionXLPipeline', () => {
  let pipe: StableDiffusionPipeline;
  before(async () => {
    pipe = await loadPipelineFromDirectory(join(referenceDir, 'tiny-sdxl'));
  });
  after(() => pipe?.dispose());

  it('reads the SD-XL settings: added conditioning, force_zeros_for_empty_prompt, Euler leading, 128×128, VAE scaling 0.13025', () => {
    expect(pipe.usesAddedConditioning).to.equal(true);
    expect(pipe.components.forceZerosForEmptyPrompt).to.equal(true);
    expect(pipe.scheduler().name).to.equal('euler');
    expect(pipe.defaultSize).to.equal(128);
    expect(pipe.components.vae.scalingFactor).to.equal(0.13025);
    expect((pipe.tokenizer as unknown as { padTokenId: number }).padTokenId).to.equal(49407);
  });

  for (const [name, scheduler] of [
    ['pipeline_sdxl_euler20', 'euler'],
    ['pipeline_sdxl_ddim20', 'ddim'],
    ['pipeline_sdxl_euler20_force_zeros', 'euler'],
  ] as const) {
    it(`${name}: conditioning, UNet added conditioning, timesteps, every step's latents, final latents and image`, async () => {
      const meta = readJson('cases/index.json').cases[name];
      const file = `cases/${name}.safetensors`;
      const tol = (k: string) => caseTolerance(name, k);
      const ref = async (k: string) => (await fixtureTensor(file, k)).data;
      const negatives: string[] | undefined = name.endsWith('force_zeros') ? undefined : meta.negative_prompts;
      const cond = pipe.encodeConditioning(meta.prompts);
      const uncond = pipe.negativeConditioning(cond, negatives);
      expectClose(cond.embeds, await ref('prompt_embeds'), tol('prompt_embeds'), 'prompt_embeds');
      expectClose(cond.pooled!, await ref('pooled_prompt_embeds'), tol('pooled_prompt_embeds'), 'pooled_prompt_embeds');
      expectClose(
        uncond.embeds,
        await ref('negative_prompt_embeds'),
        tol('negative_prompt_embeds'),
        'negative_prompt_embeds',
      );
      expectClose(
        uncond.pooled!,
        await ref('negative_pooled_prompt_embeds'),
        tol('negative_pooled_prompt_embeds'),
        'negative_pooled_prompt_embeds',
      );
      if (!negatives)
        expect(
          [...uncond.embeds.dataSync(), ...uncond.pooled!.dataSync()].every((v) => Object.is(v, 0)),
          'force zeros: exact zeros',
        ).to.equal(true);
      tf.dispose([cond.embeds, cond.pooled!, uncond.embeds, uncond.pooled!]);

      const s = pipe.scheduler(scheduler);
      s.setTimesteps(20);
      expect(Math.fround(s.initNoiseSigma)).to.equal(Math.fround(meta.init_noise_sigma));
      if (scheduler === 'euler')
        expect(Array.from((s as unknown as SigmaScheduler).sigmas)).to.deep.equal(Array.from(await ref('sigmas')));
      const spy = spyAdded(pipe.components.unet);
      let r;
      try {
        r = await pipe.generate({
          prompts: meta.prompts,
          negativePrompts: negatives,
          steps: 20,
          guidance: meta.guidance_scale,
          latents: await fixtureTensor(file, 'init_latents'),
          scheduler,
          keepLatentsPerStep: true,
        });
      } finally {
        spy.restore();
      }
      expect(spy.calls).to.have.length(20);
      expect(spy.calls[0].timeIds, 'add_time_ids (exact)').to.deep.equal(rows(await ref('add_time_ids'), 6));
      // add_text_embeds = cat(negative pooled, pooled): within the pooled embeddings' tolerance.
      expectClose(
        spy.calls[0].textEmbeds,
        await ref('add_text_embeds'),
        tol('pooled_prompt_embeds'),
        'add_text_embeds',
      );
      expect(r.timesteps).to.deep.equal(Array.from(await ref('timesteps')));
      expectClose(r.latentsPerStep!.data, await ref('latents_per_step'), tol('latents_per_step'), 'latents_per_step');
      expectClose(r.latents.data, await ref('final_latents'), tol('final_latents'), 'final_latents');
      expect([r.images[0].width, r.images[0].height]).to.deep.equal([meta.width, meta.height]);
      const image = new Float32Array(r.images.flatMap((im) => Array.from(im.data)));
      expectClose(image, await ref('image'), tol('image'), 'image');
    });
  }

  it('image_raw: the VAE decodes latents / 0.13025 (SD-XL scaling factor)', async () => {
    const file = 'cases/pipeline_sdxl_euler20.safetensors';
    const fin = await fixtureTensor(file, 'final_latents');
    const raw = tf.tidy(() => {
      const z = tf.transpose(tf.tensor4d(fin.data, fin.shape as [number, number, number, number]), [0, 2, 3, 1]);
      return tf.transpose(pipe.components.vae.decode(tf.div(z, 0.13025)), [0, 3, 1, 2]);
    });
    expectClose(
      raw,
      (await fixtureTensor(file, 'image_raw')).data,
      caseTolerance('pipeline_sdxl_euler20', 'image_raw'),
      'image_raw',
    );
    raw.dispose();
  });

  describe("time ids (add_time_ids_sdxl): defaults, custom sizes, negative sizes and diffusers' CFG row order", () => {
    const T = 'cases/add_time_ids_sdxl.safetensors';
    const meta = () => readJson('cases/index.json').cases.add_time_ids_sdxl;
    const camel = (o: Record<string, number[]>): SizeConditioning => ({
      originalSize: o.original_size as [number, number],
      cropsCoordsTopLeft: o.crops_coords_top_left as [number, number],
      targetSize: o.target_size as [number, number],
      negativeOriginalSize: o.negative_original_size as [number, number],
      negativeCropsCoordsTopLeft: o.negative_crops_coords_top_left as [number, number],
      negativeTargetSize: o.negative_target_size as [number, number],
    });

    it('the single-row ids of the three configurations', async () => {
      for (const c of meta().configs as Record<string, unknown>[]) {
        const ids = sizeTimeIds(camel(c as Record<string, number[]>), { height: 128, width: 128 }).positive;
        expect(ids, c.name as string).to.deep.equal(
          Array.from((await fixtureTensor(T, `${c.name}.add_time_ids`)).data),
        );
      }
    });

    for (const run of ['pipeline_default', 'pipeline_custom', 'pipeline_custom_with_negative']) {
      it(`${run}: the [4, 6] ids of 2 prompts with guidance, as the pipeline hands them to the UNet`, async () => {
        const want = rows((await fixtureTensor(T, `${run}.add_time_ids_cfg`)).data, 6);
        const micro = camel(meta().pipeline_runs[run]);
        expect(unetTimeIds(sizeTimeIds(micro, { height: 128, width: 128 }), 2, true)).to.deep.equal(want);
        // And through generate (one step): the UNet receives exactly these rows.
        const spy = spyAdded(pipe.components.unet);
        try {
          await pipe.generate({
            prompts: meta().prompts_of_pipeline_runs,
            steps: 1,
            seed: 1,
            guidance: 5,
            decode: false,
            ...micro,
          });
        } finally {
          spy.restore();
        }
        expect(spy.calls[0].timeIds).to.deep.equal(want);
      });
    }

    it('without guidance each prompt gets the positive ids; only both negative sizes together change the negative ids', () => {
      const ids = sizeTimeIds(
        { originalSize: [1024, 768], negativeOriginalSize: [256, 256] },
        { height: 512, width: 640 },
      );
      expect(ids.negative).to.deep.equal(ids.positive).and.deep.equal([1024, 768, 0, 0, 512, 640]);
      expect(unetTimeIds(ids, 2, false)).to.deep.equal([ids.positive, ids.positive]);
    });

    it('micro-conditioning is refused for an SD-1 model and checked for shape', async () => {
      const sd1 = await loadPipelineFromDirectory(join(referenceDir, 'tiny-sd'));
      try {
        let err: Error | undefined;
        await sd1
          .generate({ prompts: ['a'], steps: 1, originalSize: [512, 512], decode: false, height: 64, width: 64 })
          .catch((e: Error) => (err = e));
        expect(err?.message).to.match(
          /^originalSize is SD-XL micro-conditioning; this model's UNet has no added conditioning/,
        );
      } finally {
        sd1.dispose();
      }
      let err: Error | undefined;
      await pipe
        .generate({ prompts: ['a'], steps: 1, targetSize: [512] as unknown as [number, number], decode: false })
        .catch((e: Error) => (err = e));
      expect(err?.message).to.equal('targetSize must be two non-negative numbers, got [512]');
    });
  });

  it('clip skip goes to both encoders for the prompts only; uncondEmbeddings keep the default negative pooled embedding', async () => {
    const prompts = ['a cat riding a bicycle'];
    const a = await pipe.generate({ prompts, steps: 2, seed: 4, decode: false, clipSkip: 1 });
    const b = await pipe.generate({ prompts, steps: 2, seed: 4, decode: false });
    expect(Array.from(a.latents.data)).to.not.deep.equal(Array.from(b.latents.data));
    // Per-step unconditional embeddings equal to the force-zeros ones reproduce the plain run bit for bit.
    const d = pipe.components.unet.config.crossAttentionDim[0];
    const zeros = { shape: [2, 77, d], data: new Float32Array(2 * 77 * d) };
    // (With uncondEmbeddings the default scheduler is DDIM, the inversion's: name the model's own.)
    const c = await pipe.generate({
      prompts,
      steps: 2,
      seed: 4,
      decode: false,
      uncondEmbeddings: zeros,
      scheduler: pipe.scheduler(),
    });
    expect(Array.from(c.latents.data)).to.deep.equal(Array.from(b.latents.data));
  });
});
