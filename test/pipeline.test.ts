import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { loadPipelineFromDirectory } from '../src/node/pipeline.js';
import type { StableDiffusionPipeline } from '../src/models/pipeline/pipeline.js';
import { caseTolerance, describeRef, fixtureTensor, readJson, tinySdDir } from './helpers/reference.js';
import { expectClose } from './helpers/close.js';

describeRef('StableDiffusionPipeline vs diffusers on tiny-sd (256×256, CFG 7.5)', () => {
  let pipe: StableDiffusionPipeline;
  before(async () => {
    pipe = await loadPipelineFromDirectory(tinySdDir);
  });
  after(() => pipe?.dispose());

  it('leaks no tensors across a 5-step sampling loop (after a warm-up call)', async () => {
    const opts = { prompts: ['a cat', 'a dog'], steps: 5, seed: 1, height: 128, width: 128, scheduler: 'ddim' };
    await pipe.generate(opts);
    const before = tf.memory().numTensors;
    const r = await pipe.generate(opts);
    expect(tf.memory().numTensors, 'tensors leaked by generate').to.equal(before);
    expect(r.images).to.have.length(2);
    expect([r.images[0].width, r.images[0].height]).to.deep.equal([128, 128]);
  });

  for (const [name, scheduler, steps] of [['pipeline_ddim50', 'ddim', 50], ['pipeline_pndm20', 'pndm', 20]] as const) {
    it(`${name}: embeddings, every step's latents, final latents and image`, async () => {
      const meta = readJson('cases/index.json').cases[name];
      const file = `cases/${name}.safetensors`;
      const init = await fixtureTensor(file, 'init_latents');
      const embeds = pipe.encodePrompts(meta.prompts);
      expectClose(embeds, (await fixtureTensor(file, 'prompt_embeds')).data, caseTolerance(name, 'prompt_embeds'), 'prompt_embeds');
      embeds.dispose();
      const stepsSeen: number[] = [];
      const r = await pipe.generate({
        prompts: meta.prompts,
        negativePrompts: meta.negative_prompts,
        steps,
        guidance: 7.5,
        latents: init,
        scheduler,
        keepLatentsPerStep: true,
        onStep: (s) => stepsSeen.push(s.step),
      });
      expect(stepsSeen).to.have.length((await fixtureTensor(file, 'latents_per_step')).shape[0]);
      expect(r.timesteps).to.deep.equal(Array.from((await fixtureTensor(file, 'timesteps')).data));
      expectClose(r.latentsPerStep!.data, (await fixtureTensor(file, 'latents_per_step')).data, caseTolerance(name, 'latents_per_step'), 'latents_per_step');
      expectClose(r.latents.data, (await fixtureTensor(file, 'final_latents')).data, caseTolerance(name, 'final_latents'), 'final_latents');
      const image = new Float32Array(r.images.flatMap((im) => Array.from(im.data)));
      expectClose(image, (await fixtureTensor(file, 'image')).data, caseTolerance(name, 'image'), 'image');
    });
  }
});
