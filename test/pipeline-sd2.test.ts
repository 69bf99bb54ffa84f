/** The tiny SD-2 pipeline (v-prediction, pad-"!" tokenizer, gelu text encoder, linear projections) vs diffusers. */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { join } from 'node:path';
import { loadPipelineFromDirectory } from '../src/node/pipeline.js';
import type { PromptEncoder, StableDiffusionPipeline } from '../src/pipeline/pipeline.js';
import { caseTolerance, describeRef, fixtureTensor, readJson, referenceDir } from './helpers/reference.js';
import { expectClose } from './helpers/close.js';

describeRef('StableDiffusionPipeline vs diffusers on tiny-sd2 (v-prediction, default size, CFG 7.5)', () => {
  let pipe: StableDiffusionPipeline;
  before(async () => {
    pipe = await loadPipelineFromDirectory(join(referenceDir, 'tiny-sd2'));
  });
  after(() => pipe?.dispose());

  it('reads the SD-2 settings: v_prediction, pad "!", default size sample_size × 8 = 256', () => {
    expect(pipe.scheduler().name).to.equal('ddim');
    expect((pipe.scheduler() as unknown as { predictionType: string }).predictionType).to.equal('v_prediction');
    expect((pipe.tokenizer as unknown as { padTokenId: number }).padTokenId).to.equal(0);
    expect(pipe.defaultSize).to.equal(readJson('cases/index.json').cases.pipeline_sd2_ddim20_vpred.height);
  });

  for (const [name, scheduler] of [
    ['pipeline_sd2_ddim20_vpred', 'ddim'],
    ['pipeline_sd2_euler20_vpred', 'euler'],
  ] as const) {
    it(`${name}: embeddings, timesteps, every step's latents, final latents and image (no height/width given)`, async () => {
      const meta = readJson('cases/index.json').cases[name];
      const file = `cases/${name}.safetensors`;
      const tol = (k: string) => caseTolerance(name, k);
      const cond = pipe.encodePrompts(meta.prompts);
      expectClose(cond, (await fixtureTensor(file, 'prompt_embeds')).data, tol('prompt_embeds'), 'prompt_embeds');
      const uncond = pipe.encodePrompts(meta.negative_prompts);
      expectClose(
        uncond,
        (await fixtureTensor(file, 'negative_prompt_embeds')).data,
        tol('negative_prompt_embeds'),
        'negative_prompt_embeds',
      );
      tf.dispose([cond, uncond]);
      const s = pipe.scheduler(scheduler);
      s.setTimesteps(20);
      expect(Math.fround(s.initNoiseSigma)).to.equal(Math.fround(meta.init_noise_sigma));
      const r = await pipe.generate({
        prompts: meta.prompts,
        negativePrompts: meta.negative_prompts,
        steps: 20,
        guidance: 7.5,
        latents: await fixtureTensor(file, 'init_latents'),
        scheduler,
        keepLatentsPerStep: true,
      });
      expect(r.timesteps).to.deep.equal(Array.from((await fixtureTensor(file, 'timesteps')).data));
      expectClose(
        r.latentsPerStep!.data,
        (await fixtureTensor(file, 'latents_per_step')).data,
        tol('latents_per_step'),
        'latents_per_step',
      );
      expectClose(
        r.latents.data,
        (await fixtureTensor(file, 'final_latents')).data,
        tol('final_latents'),
        'final_latents',
      );
      expect([r.images[0].width, r.images[0].height]).to.deep.equal([meta.width, meta.height]);
      const image = new Float32Array(r.images.flatMap((im) => Array.from(im.data)));
      expectClose(image, (await fixtureTensor(file, 'image')).data, tol('image'), 'image');
    });
  }

  it('clip skip applies to the prompts only (diffusers 0.25), and is checked against the text encoder depth', async () => {
    const seen: (number | undefined)[] = [];
    const text = pipe.components.text;
    const spy: PromptEncoder = {
      tokenizer: text.tokenizer,
      encode: (prompts, opts) => {
        seen.push(opts?.clipSkip);
        return text.encode(prompts, opts);
      },
    };
    const p2 = new (pipe.constructor as typeof StableDiffusionPipeline)({ ...pipe.components, text: spy });
    const r = await p2.generate({
      prompts: ['a cat'],
      steps: 1,
      clipSkip: 1,
      height: 64,
      width: 64,
      seed: 1,
      decode: false,
    });
    expect(seen).to.deep.equal([1, undefined]);
    expect(r.latents.shape).to.deep.equal([1, 4, 8, 8]);
    let err: Error | undefined;
    await p2
      .generate({ prompts: ['a cat'], steps: 1, clipSkip: 3, height: 64, width: 64, decode: false })
      .catch((e: Error) => (err = e));
    expect(err?.message).to.match(/clip skip must be an integer in 0\.\.2/);
  });
});
