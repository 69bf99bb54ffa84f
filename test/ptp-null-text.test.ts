/**
 * Null-text inversion (pipe.invertNullText) vs the null-text notebook's NullInversion, case
 * h_nulltext: the 512×512 image of case a, "a cat riding a bicycle", 3 DDIM steps (steps_offset
 * 0), 2 Adam iterations per step, guidance 7.5. Every tensor of the case is compared: here the text
 * context, the 3-step inversion latents and x_T, the timesteps, the optimised embeddings and the
 * guided reconstruction from them; in ptp-invert.test.ts the input image, the 5-step plain
 * inversion, its timesteps and the decoded x₀ (a test below checks that this list covers the
 * case). Then, on small images: editing an inverted image (target = source
 * reproduces it; Replace, Refine, Reweight and LocalBlend run with per-step embeddings), the
 * options' errors and leaks.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { loadPipelineFromDirectory } from '../src/node/pipeline.js';
import type { NullTextInversionResult, StableDiffusionPipeline } from '../src/pipeline/pipeline.js';
import type { HostTensor } from '../src/pipeline/host-tensor.js';
import { createScheduler, type DDIMScheduler } from '../src/models/schedulers/index.js';
import { AttentionReplace } from '../src/ptp/replace.js';
import { AttentionRefine } from '../src/ptp/refine.js';
import { AttentionReweight } from '../src/ptp/reweight.js';
import { LocalBlend } from '../src/ptp/local-blend.js';
import { getEqualizer } from '../src/ptp/equalizer.js';
import type { NullTextProgress } from '../src/pipeline/null-text.js';
import type { AttentionController } from '../src/nn/attention-control.js';
import { caseTolerance, describeRef, fixture, fixtureTensor, readJson, tinySdDir } from './helpers/reference.js';
import { maxDiff } from './helpers/p2p-cases.js';
import { expectClose } from './helpers/close.js';
import { smoothPhoto } from './helpers/images.js';
import { expectReject } from './helpers/reject.js';

const FILE = 'p2p/p2p_h_nulltext.safetensors';

describeRef('null-text inversion vs the null-text notebook (h_nulltext)', () => {
  const meta = readJson('p2p/index.json').cases.h_nulltext;
  const nt = meta.meta.nulltext;
  let pipe: StableDiffusionPipeline;
  let inv: NullTextInversionResult;
  const progress: NullTextProgress[] = [];
  const steps: number[] = [];
  let seconds = 0;

  /** The notebook's DDIMScheduler: steps_offset 0, set_alpha_to_one and clip_sample false. */
  const notebookScheduler = () => {
    const s = meta.scheduler;
    return createScheduler(
      {
        ...pipe.components.schedulerConfig,
        steps_offset: s.steps_offset,
        set_alpha_to_one: s.set_alpha_to_one,
        clip_sample: s.clip_sample,
      },
      { type: 'ddim' },
    ) as DDIMScheduler;
  };

  before(async () => {
    pipe = await loadPipelineFromDirectory(tinySdDir, { vaeEncoder: true });
    const image = { width: 512, height: 512, data: await (await fixture(FILE)).readBytes('image_gt_u8') };
    const t0 = Date.now();
    inv = await pipe.invertNullText({
      image,
      prompt: nt.prompt,
      steps: nt.num_ddim_steps,
      innerSteps: nt.num_inner_steps,
      earlyStop: nt.early_stop_epsilon,
      guidance: nt.guidance_scale,
      scheduler: notebookScheduler(),
      onIteration: (p) => progress.push(p),
      onNullTextStep: (s) => steps.push(s.step),
    });
    seconds = (Date.now() - t0) / 1000;
  });
  after(() => pipe?.dispose());

  it('every tensor of the case is compared (here or in ptp-invert.test.ts)', () => {
    const compared = {
      'ptp-null-text.test.ts': [
        'text_context',
        'nulltext.timesteps',
        'nulltext.ddim_latents',
        'nulltext.uncond_embeddings',
        'nulltext.reconstruction_latents',
      ],
      'ptp-invert.test.ts': ['image_gt_u8', 'inversion.timesteps', 'inversion.latents', 'inversion.image_rec_u8'],
    };
    expect(Object.keys(meta.tensors).sort(), 'tensors of h_nulltext in index.json').to.deep.equal(
      Object.values(compared).flat().sort(),
    );
  });

  it('text_context: the embeddings of "" and of the prompt', async () => {
    const got = pipe.encodePrompts(['', nt.prompt]);
    expectClose(
      got,
      await fixtureTensor(FILE, 'text_context').then((f) => f.data),
      caseTolerance('text_encoder', 'last_hidden_state'),
      'text_context',
    );
    got.dispose();
  });

  it('timesteps and the DDIM inversion latents (nulltext.ddim_latents)', async () => {
    expect(inv.timesteps).to.deep.equal(Array.from(await (await fixture(FILE)).readInt32('nulltext.timesteps')));
    const ref = await fixtureTensor(FILE, 'nulltext.ddim_latents');
    const d = maxDiff(inv.trajectory.data, ref.data);
    expect(inv.trajectory.shape).to.deep.equal([ref.shape[0], 1, ...ref.shape.slice(1)]);
    expect(d.maxAbs / d.maxRef, `ddim_latents max|Δ| ${d.maxAbs} vs max|ref| ${d.maxRef}`).to.be.at.most(
      meta.tolerance['inversion.latents'].max_abs_over_max_ref,
    );
    // x_T, where sampling starts: the last row.
    const per = ref.data.length / ref.shape[0];
    const xT = maxDiff(inv.latents.data, ref.data.subarray(ref.data.length - per));
    expect(inv.latents.shape).to.deep.equal([1, ...ref.shape.slice(1)]);
    expect(xT.maxAbs / xT.maxRef, 'x_T').to.be.at.most(meta.tolerance['inversion.latents'].max_abs_over_max_ref);
    console.log(`      ddim_latents max|Δ|/max|ref| ${(d.maxAbs / d.maxRef).toExponential(2)}`);
  });

  it('progress: every inner iteration and every step reported; losses recorded', () => {
    expect(steps).to.deep.equal([0, 1, 2]);
    expect(progress.map((p) => [p.step, p.iteration])).to.deep.equal(
      inv.losses.flatMap((l, i) => l.map((_, j) => [i, j])),
    );
    for (const [i, l] of inv.losses.entries()) {
      expect(l.length, `iterations of step ${i}`).to.be.within(1, nt.num_inner_steps);
      const stopped = l[l.length - 1] < nt.early_stop_epsilon + i * 2e-5;
      expect(
        l.length === nt.num_inner_steps || stopped,
        `step ${i} ended early without reaching the threshold`,
      ).to.equal(true);
    }
    expect(
      progress.every((p) => Number.isFinite(p.loss) && p.iterations === nt.num_inner_steps && p.steps === 3),
    ).to.equal(true);
  });

  it("uncond_embeddings: every element within the fixture's atol (1e-3)", async () => {
    // Adam's first updates are nearly sign(g)·lr (lr = 1e-2), so an element whose gradient were
    // within float32 noise of 0 could move the other way. None is: the smallest reference update
    // of a step is 2.6e-3 (step 0) and 2.8e-3 (step 1) in size (step 2 is t = 0, where DDIM's
    // step does not depend on the prediction: its update is exactly 0), and our embeddings are
    // within 1e-5 of the reference (max |Δ| 6.7e-6 on wasm, 8.2e-6 native, 4.6e-6 cpu) — so every
    // element is held to the atol.
    const ref = await fixtureTensor(FILE, 'nulltext.uncond_embeddings');
    const ctx = (await fixtureTensor(FILE, 'text_context')).data;
    expect(inv.uncondEmbeddings.shape).to.deep.equal(ref.shape);
    const atol = meta.tolerance['nulltext.uncond_embeddings'].atol as number;
    const per = ref.data.length / ref.shape[0];
    const lines: string[] = [];
    let outside = 0;
    for (let s = 0; s < ref.shape[0]; s++) {
      let out = 0;
      let flipped = 0;
      let worst = 0;
      let worstAt = 0;
      // The update of this step: from the previous step's embedding (the "" embedding for step 0).
      const start = (a: Float32Array, i: number) => (s === 0 ? ctx[i % per] : a[i - per]);
      for (let i = s * per; i < (s + 1) * per; i++) {
        const d = Math.abs(inv.uncondEmbeddings.data[i] - ref.data[i]);
        if (d > worst) [worst, worstAt] = [d, i - s * per];
        if (d > atol) out++;
        const u = inv.uncondEmbeddings.data[i] - start(inv.uncondEmbeddings.data, i);
        const r = ref.data[i] - start(ref.data, i);
        if (r !== 0 && Math.sign(u) !== Math.sign(r)) flipped++;
      }
      outside += out;
      lines.push(
        `step ${s}: ${out}/${per} outside ${atol} (max |Δ| ${worst.toExponential(2)} at token ${Math.floor(worstAt / ref.shape[2])} channel ${worstAt % ref.shape[2]}), ${flipped} update signs flipped`,
      );
    }
    console.log(
      `      null-text inversion (VAE encode, 3-step inversion, 3×${nt.num_inner_steps} Adam iterations) ${seconds.toFixed(1)} s\n      ${lines.join('\n      ')}`,
    );
    expect(outside, lines.join('; ')).to.equal(0);
  });

  it('reconstruction_latents: guided sampling from x_T with the optimised embeddings (1e-2 relative)', async () => {
    const ref = await fixtureTensor(FILE, 'nulltext.reconstruction_latents');
    const r = await pipe.generate({
      prompts: [nt.prompt],
      latents: inv.latents,
      uncondEmbeddings: inv.uncondEmbeddings,
      steps: nt.num_ddim_steps,
      guidance: nt.guidance_scale,
      scheduler: notebookScheduler(),
      decode: false,
    });
    const d = maxDiff(r.latents.data, ref.data);
    console.log(`      reconstruction max|Δ|/max|ref| ${(d.maxAbs / d.maxRef).toExponential(2)}`);
    expect(d.maxAbs / d.maxRef).to.be.at.most(meta.tolerance['nulltext.reconstruction_latents'].max_abs_over_max_ref);
  });

  it('with the reference embeddings and x_T, sampling reproduces reconstruction_latents to pipeline precision', async () => {
    const ref = await fixtureTensor(FILE, 'nulltext.reconstruction_latents');
    const emb = await fixtureTensor(FILE, 'nulltext.uncond_embeddings');
    const xT = await fixtureTensor(FILE, 'nulltext.ddim_latents');
    const per = xT.data.length / xT.shape[0];
    const r = await pipe.generate({
      prompts: [nt.prompt],
      latents: { shape: [1, ...xT.shape.slice(1)], data: xT.data.slice(xT.data.length - per) },
      uncondEmbeddings: { shape: emb.shape, data: emb.data },
      steps: nt.num_ddim_steps,
      guidance: nt.guidance_scale,
      scheduler: notebookScheduler(),
      decode: false,
    });
    const d = maxDiff(r.latents.data, ref.data);
    expect(d.maxAbs / d.maxRef).to.be.at.most(meta.tolerance['inversion.latents'].max_abs_over_max_ref);
  });
});

describeRef('null-text inversion: editing the inverted image (tiny-sd, 128×128)', () => {
  let pipe: StableDiffusionPipeline;
  let inv: NullTextInversionResult;
  const prompt = 'a cat riding a bicycle';
  const size = 128;
  const steps = 3;
  const image = () => smoothPhoto(size);
  const rows = (h: HostTensor) => {
    const per = h.data.length / h.shape[0];
    return Array.from({ length: h.shape[0] }, (_, i) => h.data.subarray(i * per, (i + 1) * per));
  };

  before(async () => {
    pipe = await loadPipelineFromDirectory(tinySdDir, { vaeEncoder: true });
    inv = await pipe.invertNullText({ image: image(), prompt, steps, innerSteps: 2 });
  });
  after(() => pipe?.dispose());

  const editRun = (prompts: string[], controller: AttentionController) =>
    pipe.edit({
      prompts,
      latents: inv.latents,
      uncondEmbeddings: inv.uncondEmbeddings,
      steps,
      scheduler: 'ddim',
      controller,
      decode: false,
    });

  it('edit with target = source gives the reconstruction twice; with another word the edit differs', async () => {
    const recon = await pipe.generate({
      prompts: [prompt],
      latents: inv.latents,
      uncondEmbeddings: inv.uncondEmbeddings,
      steps,
      scheduler: 'ddim',
      decode: false,
    });
    const tokenizer = pipe.tokenizer;
    const same = [prompt, prompt];
    const c1 = new AttentionReplace({ tokenizer, prompts: same, crossReplaceSteps: 0.8, selfReplaceSteps: 0.4 });
    const r1 = await editRun(same, c1);
    c1.dispose();
    const [src, tgt] = rows(r1.latents);
    const d1 = maxDiff(src, recon.latents.data);
    const d2 = maxDiff(tgt, src);
    expect(d1.maxAbs / d1.maxRef, 'source row vs the reconstruction').to.be.at.most(1e-5);
    expect(d2.maxAbs, 'target = source: identical rows').to.equal(0);

    const dog = [prompt, 'a dog riding a bicycle'];
    const c2 = new AttentionReplace({
      tokenizer,
      prompts: dog,
      crossReplaceSteps: 0.8,
      selfReplaceSteps: 0.4,
      localBlend: new LocalBlend(tokenizer, dog, ['cat', 'dog']),
    });
    const r2 = await editRun(dog, c2);
    c2.dispose();
    const [src2, tgt2] = rows(r2.latents);
    expect(
      maxDiff(src2, recon.latents.data).maxAbs / d1.maxRef,
      'the source row stays the reconstruction',
    ).to.be.at.most(1e-5);
    expect(maxDiff(tgt2, src2).maxAbs, 'the edited row changes').to.be.greaterThan(1e-3);
  });

  it('Refine and Reweight over it run with per-step embeddings', async () => {
    const tokenizer = pipe.tokenizer;
    const prompts = [prompt, 'a fluffy cat riding a red bicycle'];
    const options = { tokenizer, prompts, crossReplaceSteps: 0.8, selfReplaceSteps: 0.4 };
    const c = new AttentionReweight({
      ...options,
      equalizer: getEqualizer(tokenizer, prompts[1], ['fluffy'], [3]),
      prev: new AttentionRefine(options),
    });
    const r = await editRun(prompts, c);
    c.dispose();
    expect(r.latents.shape).to.deep.equal([2, 4, size / 8, size / 8]);
    expect(r.latents.data.every(Number.isFinite)).to.equal(true);
  });

  it('rejects embeddings that do not fit the run, before sampling', async () => {
    const run = (o: object) =>
      pipe.generate({
        prompts: [prompt],
        latents: inv.latents,
        uncondEmbeddings: inv.uncondEmbeddings,
        steps,
        decode: false,
        ...o,
      });
    await expectReject(run({ steps: 4 }), 'uncondEmbeddings hold 3 steps, the run has 4');
    await expectReject(run({ guidance: 1 }), 'uncondEmbeddings need classifier-free guidance');
    await expectReject(run({ negativePrompts: [''] }), 'either negativePrompts or uncondEmbeddings');
    // PNDM takes steps + 1 timesteps: the embeddings (one per DDIM step) would not cover them.
    await expectReject(
      run({ scheduler: 'pndm' }),
      'uncondEmbeddings hold 3 steps, but this scheduler takes 4 timesteps for 3 steps',
    );
    await expectReject(
      run({ uncondEmbeddings: { shape: [3, 77, 8], data: new Float32Array(3 * 77 * 8) } }),
      'expected [steps, 77, 32] for this model',
    );
    await expectReject(
      pipe.invertNullText({ image: image(), prompt, steps, innerSteps: 0 }),
      'innerSteps must be a positive integer',
    );
    await expectReject(
      pipe.invertNullText({ image: image(), prompt, steps, guidance: 1 }),
      'guidance must be a number above 1',
    );
  });

  it('leaks no tensors (64×64, 2 steps, after the runs above; no scheduler given: DDIM, as the inversion)', async () => {
    const before = tf.memory().numTensors;
    const small = { width: 64, height: 64, data: new Uint8Array(64 * 64 * 3).fill(120) };
    const r = await pipe.invertNullText({ image: small, prompt, steps: 2, innerSteps: 2 });
    expect(r.uncondEmbeddings.shape).to.deep.equal([2, 77, 32]);
    await pipe.generate({
      prompts: [prompt],
      latents: r.latents,
      uncondEmbeddings: r.uncondEmbeddings,
      steps: 2,
      decode: false,
    });
    expect(tf.memory().numTensors).to.equal(before);
  });
});
