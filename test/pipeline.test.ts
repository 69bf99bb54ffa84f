import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { loadPipelineFromDirectory } from '../src/node/pipeline.js';
import type { StableDiffusionPipeline } from '../src/pipeline/pipeline.js';
import { caseTolerance, describeRef, fixtureTensor, readJson, tinySdDir } from './helpers/reference.js';
import { expectClose } from './helpers/close.js';
import { nchwToNhwc } from '../src/pipeline/host-tensor.js';
import { attentionStats, resetAttentionStats, setAttentionStrategy } from '../src/nn/attention-core.js';
import { expectNoLeak } from './helpers/leaks.js';

describeRef('StableDiffusionPipeline vs diffusers on tiny-sd (256×256, CFG 7.5)', () => {
  let pipe: StableDiffusionPipeline;
  before(async () => {
    pipe = await loadPipelineFromDirectory(tinySdDir);
  });
  after(() => pipe?.dispose());

  it('leaks no tensors across a 5-step sampling loop (after a warm-up call)', async () => {
    const opts = { prompts: ['a cat', 'a dog'], steps: 5, seed: 1, height: 128, width: 128, scheduler: 'ddim' };
    const r = await expectNoLeak('generate', () => pipe.generate(opts));
    expect(r.images).to.have.length(2);
    expect([r.images[0].width, r.images[0].height]).to.deep.equal([128, 128]);
  });

  it('setAttentionSlice slices the UNet, VAE and text encoder attention (batched path) with unchanged results', async () => {
    const opts = { prompts: ['a cat'], steps: 2, seed: 3, height: 64, width: 64, scheduler: 'ddim' };
    setAttentionStrategy('batched');
    try {
      const run = async (slice: number | undefined) => {
        pipe.setAttentionSlice(slice);
        resetAttentionStats();
        const r = await pipe.generate(opts);
        return { r, stats: attentionStats() };
      };
      const whole = await run(undefined);
      const sliced = await run(16);
      // Unsliced: one chunk per call. Sliced: the 8×8 latent layers (64 queries), the VAE mid-block
      // (64) and the text encoder (77) run in chunks of 16.
      expect(whole.stats.queryChunks).to.equal(whole.stats.calls.batched);
      expect(sliced.stats.calls).to.deep.equal(whole.stats.calls);
      expect(sliced.stats.queryChunks).to.be.above(whole.stats.queryChunks + 3 * 6);
      expectClose(sliced.r.latents.data, whole.r.latents.data, { atol: 1e-5, rtol: 1e-5 }, 'sliced vs whole latents');
      expectClose(sliced.r.images[0].data, whole.r.images[0].data, { atol: 1e-5 }, 'sliced vs whole image');
    } finally {
      pipe.setAttentionSlice(undefined);
      setAttentionStrategy(undefined);
    }
  });

  it('bad input is a clear error: latents shape, image size, prompt counts, steps', async () => {
    const fails = async (p: Promise<unknown>, msg: RegExp) => {
      let err: Error | undefined;
      try {
        await p;
      } catch (e) {
        err = e as Error;
      }
      expect(err?.message, 'expected an error').to.match(msg);
    };
    const latents = { shape: [1, 4, 16, 8], data: new Float32Array(512) };
    await fails(
      pipe.generate({ prompts: ['a cat'], latents, height: 128, width: 128 }),
      /latents have shape \[1, 4, 16, 8\], expected NCHW \[1, 4, 16, 16\]/,
    );
    await fails(
      pipe.generate({ prompts: ['a cat'], height: 100, width: 128 }),
      /height 100 must be a positive multiple of 64/,
    );
    await fails(
      pipe.generate({ prompts: ['a cat', 'a dog'], negativePrompts: ['x'], height: 64, width: 64 }),
      /1 negative prompts for 2 prompts/,
    );
    await fails(
      pipe.generate({ prompts: ['a cat'], steps: 0, height: 64, width: 64 }),
      /steps must be a positive integer, got 0/,
    );
    await fails(pipe.generate({ prompts: [] }), /at least one prompt/);
  });

  it('a prompt over 77 tokens is truncated with a warning naming it, as CLIP does', async () => {
    const long = Array.from({ length: 90 }, (_, i) => `word${i}`).join(' ');
    const warned: string[] = [];
    const warn = console.warn;
    console.warn = (...a: unknown[]) => void warned.push(a.join(' '));
    try {
      const r = await pipe.generate({ prompts: [long], steps: 1, height: 64, width: 64, decode: false });
      expect(r.latents.shape).to.deep.equal([1, 4, 8, 8]);
    } finally {
      console.warn = warn;
    }
    expect(warned.join('\n'))
      .to.match(/needs 262 tokens but CLIP takes 77: 185 tokens were dropped/)
      .and.to.include('word0');
  });

  for (const [name, scheduler, steps] of [
    ['pipeline_ddim50', 'ddim', 50],
    ['pipeline_pndm20', 'pndm', 20],
  ] as const) {
    it(`${name}: embeddings, every step's latents, final latents and image`, async () => {
      const meta = readJson('cases/index.json').cases[name];
      const file = `cases/${name}.safetensors`;
      const init = await fixtureTensor(file, 'init_latents');
      const embeds = pipe.encodePrompts(meta.prompts);
      expectClose(
        embeds,
        (await fixtureTensor(file, 'prompt_embeds')).data,
        caseTolerance(name, 'prompt_embeds'),
        'prompt_embeds',
      );
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
      expectClose(
        r.latentsPerStep!.data,
        (await fixtureTensor(file, 'latents_per_step')).data,
        caseTolerance(name, 'latents_per_step'),
        'latents_per_step',
      );
      expectClose(
        r.latents.data,
        (await fixtureTensor(file, 'final_latents')).data,
        caseTolerance(name, 'final_latents'),
        'final_latents',
      );
      const image = new Float32Array(r.images.flatMap((im) => Array.from(im.data)));
      expectClose(image, (await fixtureTensor(file, 'image')).data, caseTolerance(name, 'image'), 'image');
      // The decoder output before [0, 1] clamping (values outside it are compared too): NCHW.
      const { vae } = pipe.components;
      const raw = tf.tidy(() =>
        tf.transpose(vae.decode(tf.div(nchwToNhwc(r.latents), vae.scalingFactor) as tf.Tensor4D), [0, 3, 1, 2]),
      );
      const refRaw = await fixtureTensor(file, 'image_raw');
      expect(raw.shape).to.deep.equal(refRaw.shape);
      expectClose(raw, refRaw.data, caseTolerance(name, 'image_raw'), 'image_raw');
      raw.dispose();
    });
  }
});
