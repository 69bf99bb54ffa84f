/**
 * Prompt-to-Prompt on SD-XL vs the official controllers on an SD-XL loop (p2p fixtures sdxl_p2p_*:
 * tiny-sdxl, 512×512, 10 Euler steps, CFG 7.5, seed 8888, force-zeros unconditional branch):
 * Replace with LocalBlend (its word maps and masks at every step), Refine, Reweight; the stored
 * attention of multi-layer transformers (each layer an entry of its place) and aggregate_attention.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { join } from 'node:path';
import { loadPipelineFromDirectory } from '../src/node/pipeline.js';
import type { StableDiffusionPipeline } from '../src/pipeline/pipeline.js';
import type { DualClipPromptEncoder } from '../src/models/clip/dual-prompt-encoder.js';
import type { UNetForwardOptions } from '../src/models/unet/unet.js';
import type { SigmaScheduler } from '../src/models/schedulers/sigma-scheduler.js';
import type { StoredMap } from '../src/ptp/store.js';
import { AttentionEdit } from '../src/ptp/edit.js';
import { AttentionReplace } from '../src/ptp/replace.js';
import { LocalBlend } from '../src/ptp/local-blend.js';
import { STORE_KEYS, type AttentionStore, type StoreKey } from '../src/ptp/store.js';
import type { Place } from '../src/nn/attention-control.js';
import { imageToUint8 } from '../src/util/image.js';
import { describeRef, fixture, fixtureTensor, referenceDir } from './helpers/reference.js';
import { expectClose } from './helpers/close.js';
import { smoothPhoto } from './helpers/images.js';
import { memoryNow } from './helpers/leaks.js';
import {
  buildController,
  checkControllerTables,
  cpuLatentsRel,
  imagesToNchw,
  maxDiff,
  perStepRel,
  pipelineCases,
  sdxlTolerance,
} from './helpers/p2p-cases.js';

const rows = (data: ArrayLike<number>, n: number) =>
  Array.from({ length: data.length / n }, (_, i) => Array.from(data).slice(i * n, (i + 1) * n));

describeRef('Prompt-to-Prompt on tiny-sdxl vs the official controllers (sdxl_p2p_*, 512×512, 10 Euler steps)', () => {
  let pipe: StableDiffusionPipeline;
  before(async () => {
    pipe = await loadPipelineFromDirectory(join(referenceDir, 'tiny-sdxl'));
    // Warm-up, so each case's leak check holds when it runs alone.
    await pipe.edit({ prompts: ['a cat', 'a dog'], steps: 1, seed: 1, height: 64, width: 64, decode: false });
  });
  after(() => pipe?.dispose());

  for (const c of pipelineCases('sdxl')) {
    it(`${c.name}: ${c.prompts.map((p) => JSON.stringify(p)).join(' → ')} (${c.controller.type}${c.controller.local_blend ? ' + LocalBlend' : ''})`, async () => {
      const tol = sdxlTolerance(c.name);
      const file = `p2p/${c.file}`;
      const f = await fixture(file);
      const ints = async (name: string) => Array.from(await f.readInt32(name));
      const floats = async (name: string) => Array.from(await f.readFloat32(name));

      // Tokens of both tokenizers, and the controller's tables (built with the first tokenizer): exact.
      const text = pipe.components.text as DualClipPromptEncoder;
      expect(text.tokenizer.call(c.prompts).inputIds.flat(), 'input_ids').to.deep.equal(await ints('input_ids'));
      expect(text.tokenizer2.call(c.prompts).inputIds.flat(), 'input_ids_2').to.deep.equal(await ints('input_ids_2'));
      const ctrl = buildController(pipe.tokenizer, c.controller, c.prompts, c.steps);
      await checkControllerTables(ctrl, c.tensors, floats, ints);

      // Conditioning: both encoders' embeddings and pooled embeddings; zeros (force_zeros_for_empty_prompt) for the unconditional half.
      const cond = pipe.encodeConditioning(c.prompts);
      const uncond = pipe.negativeConditioning(cond);
      expectClose(cond.embeds, await floats('prompt_embeds'), { atol: tol.conditioningAtol }, 'prompt_embeds');
      expectClose(
        cond.pooled!,
        await floats('pooled_prompt_embeds'),
        { atol: tol.conditioningAtol },
        'pooled_prompt_embeds',
      );
      expect(Array.from(uncond.embeds.dataSync())).to.deep.equal(await floats('negative_prompt_embeds'));
      expect(Array.from(uncond.pooled!.dataSync())).to.deep.equal(await floats('negative_pooled_prompt_embeds'));
      tf.dispose([cond.embeds, cond.pooled!, uncond.embeds, uncond.pooled!]);
      const s = pipe.scheduler() as unknown as SigmaScheduler & { setTimesteps(n: number): void };
      s.setTimesteps(c.steps);
      expectClose(s.sigmas, await floats('sigmas'), { atol: 0, rtol: 1e-6 }, 'sigmas');

      // LocalBlend: the word maps and the mask after every step (the official step_callback).
      const blendMaps: number[] = [];
      const masks: number[] = [];
      const lb = ctrl instanceof AttentionEdit ? ctrl.localBlend : undefined;
      if (lb) {
        const apply = lb.apply.bind(lb);
        lb.apply = (latents: tf.Tensor4D, maps: readonly StoredMap[]) => {
          const latent = { height: latents.shape[1], width: latents.shape[2] };
          const [w, m] = [lb.wordMaps(maps, latent), lb.mask(maps, latent)];
          blendMaps.push(...w.dataSync());
          masks.push(...m.dataSync());
          tf.dispose([w, m]);
          return apply(latents, maps);
        };
      }

      // The UNet's added conditioning of the first call.
      const unet = pipe.components.unet;
      const forward = unet.forward.bind(unet);
      let added: { textEmbeds: number[]; timeIds: number[][] } | undefined;
      unet.forward = ((x: tf.Tensor4D, t: number, e: tf.Tensor3D, call: unknown, o?: UNetForwardOptions) => {
        added ??= o?.added && {
          textEmbeds: Array.from(o.added.textEmbeds.dataSync()),
          timeIds: o.added.timeIds.map((r) => [...r]),
        };
        return forward(x, t, e, call as never, o as never);
      }) as typeof unet.forward;
      const before = memoryNow();
      let r;
      try {
        r = await pipe.edit({
          prompts: c.prompts,
          steps: c.steps,
          guidance: c.guidance_scale,
          seed: c.seed,
          height: 512,
          width: 512,
          controller: ctrl,
          keepLatentsPerStep: true,
        });
      } finally {
        unet.forward = forward;
      }
      expect(added!.timeIds, 'add_time_ids').to.deep.equal(rows(await floats('add_time_ids'), 6));
      expectClose(
        added!.textEmbeds,
        await floats('add_text_embeds'),
        { atol: tol.conditioningAtol },
        'add_text_embeds',
      );

      // Euler (leading, steps_offset 1): 901, 801, …, 1 as float32.
      expect(r.timesteps, 'timesteps').to.deep.equal(await floats('timesteps'));
      const init = (await fixtureTensor(file, 'init_latent')).data;
      for (let p = 0; p < c.prompts.length; p++) {
        expect(
          Array.from(r.initialLatents.data.subarray(p * init.length, (p + 1) * init.length)),
          `init latent of prompt ${p}`,
        ).to.deep.equal(Array.from(init));
      }
      const latentsRel = cpuLatentsRel(tol.latentsRel);
      const steps = perStepRel(r.latentsPerStep!.data, (await fixtureTensor(file, 'latents_per_step')).data, c.steps);
      steps.forEach((x, i) =>
        expect(x.rel, `latents after step ${i + 1}: max|Δ| ${x.maxAbs} vs max|ref| ${x.maxRef}`).to.be.at.most(
          latentsRel,
        ),
      );
      const fin = maxDiff(r.latents.data, (await fixtureTensor(file, 'final_latents')).data);
      expect(fin.maxAbs / fin.maxRef, `final_latents: max|Δ| ${fin.maxAbs} vs max|ref| ${fin.maxRef}`).to.be.at.most(
        latentsRel,
      );

      if (lb) {
        // Normalised word maps within atol; the masks exact (every reference value is ≥ 1.5e-3 from the threshold).
        const refMaps = await floats('local_blend_maps16');
        expectClose(blendMaps, refMaps, { atol: tol.blendMapsAtol! }, 'local_blend_maps16');
        const near = refMaps.filter((v) => Math.abs(v - lb.threshold) <= tol.blendMapsAtol!).length;
        expect(near, 'reference word-map values within atol of the threshold').to.equal(0);
        expect(masks, 'local_blend_mask').to.deep.equal(await floats('local_blend_mask'));
        const fractions = rows(masks, 64 * 64).map((m) => m.reduce((a, b) => a + b, 0) / m.length);
        fractions.forEach((x, i) =>
          expect(x, `mask fraction after step ${i + 1}`).to.be.closeTo(
            (c.extra!.blend_mask_fraction_per_step as number[])[i],
            1e-4,
          ),
        );
      }

      // Images: float (replace case) atol 2e-3; uint8 by floor within ±2.
      if (c.tensors.image)
        expectClose(
          imagesToNchw(r.images),
          (await fixtureTensor(file, 'image')).data,
          { atol: tol.imageAtol! },
          'image',
        );
      const u8 = r.images.flatMap((im) => Array.from(imageToUint8(im, 'floor')));
      const refU8 = await f.readBytes('image_u8');
      expect(u8.length).to.equal(refU8.length);
      const u8Max = u8.reduce((m, v, i) => Math.max(m, Math.abs(v - refU8[i])), 0);
      expect(u8Max, 'image_u8 max |Δ|').to.be.at.most(tol.u8MaxAbs);

      if (Object.keys(c.tensors).some((n) => n.startsWith('agg_'))) await checkAggregates(ctrl, c, file, tol.agg!);
      ctrl.dispose();
      expect(memoryNow(), 'tensors leaked').to.deep.equal(before);
    });
  }
});

/**
 * The store of the replace case: every layer of a multi-layer transformer is its own entry of its
 * place (the stored shapes of the fixture), 10 steps, and aggregate_attention of both prompts.
 */
async function checkAggregates(
  store: AttentionStore,
  c: { extra?: Record<string, unknown>; tensors: Record<string, unknown> },
  file: string,
  tol: { atol: number; rtol: number },
): Promise<void> {
  expect(store.steps, 'cur_step').to.equal(c.extra!.attention_store_cur_step);
  const shapes = store.storedShapes();
  const want = c.extra!.attention_store_layers as Record<StoreKey, number[][]>;
  for (const key of STORE_KEYS) expect(shapes[key], `stored ${key} shapes`).to.deep.equal(want[key]);
  expect(store.summedMaps('down_cross').map((m) => m.name.replace(/\.attn2$/, ''))).to.deep.equal([
    'down_blocks.1.attentions.0.transformer_blocks.0',
    'down_blocks.1.attentions.1.transformer_blocks.0',
    'down_blocks.2.attentions.0.transformer_blocks.0',
    'down_blocks.2.attentions.0.transformer_blocks.1',
    'down_blocks.2.attentions.1.transformer_blocks.0',
    'down_blocks.2.attentions.1.transformer_blocks.1',
  ]);
  for (const name of Object.keys(c.tensors).filter((n) => n.startsWith('agg_'))) {
    const m = /^agg_(cross|self)_(\d+)_(up_down|mid)_p(\d)$/.exec(name)!;
    const from: Place[] = m[3] === 'mid' ? ['mid'] : ['up', 'down'];
    const agg = store.aggregateAttention(Number(m[2]), from, m[1] === 'cross', Number(m[4]));
    const ref = await fixtureTensor(file, name);
    expect(agg.shape, name).to.deep.equal(ref.shape);
    expectClose(agg, ref.data, tol, name);
    agg.dispose();
  }
}

describeRef(
  'Prompt-to-Prompt on tiny-sdxl at 1024×1024 (the SD-XL base size: latent 128, attention at 64 and 32)',
  () => {
    let pipe: StableDiffusionPipeline;
    before(async () => {
      pipe = await loadPipelineFromDirectory(join(referenceDir, 'tiny-sdxl'));
    });
    after(() => pipe?.dispose());

    it('levels from the latent size: maps stored at 64 and 32, self-attention replaced at 32, LocalBlend reads 32×32 layers; "cross" keeps no self maps', async () => {
      const prompts = ['a cat riding a bicycle', 'a dog riding a bicycle'];
      const tokenizer = pipe.tokenizer;
      const lb = new LocalBlend(tokenizer, prompts, ['cat', 'dog'], { threshold: 0.8 });
      const ctrl = new AttentionReplace({
        tokenizer,
        prompts,
        crossReplaceSteps: 0.8,
        selfReplaceSteps: 1,
        localBlend: lb,
        storeMaps: 'cross',
      });
      const asked: string[] = [];
      const wants = ctrl.wantsProbs.bind(ctrl);
      ctrl.wantsProbs = (c) => {
        const w = wants(c);
        if (w && !c.isCross) asked.push(`${c.height}`);
        return w;
      };
      const r = await pipe.edit({
        prompts,
        steps: 2,
        seed: 3,
        height: 1024,
        width: 1024,
        controller: ctrl,
        decode: false,
      });
      expect(r.latents.shape).to.deep.equal([2, 4, 128, 128]);
      const shapes = ctrl.storedShapes();
      // Two prompts × heads (1 at 64×64, 2 at 32×32): down_blocks.1 (2 modules × 1 layer) at 64², down_blocks.2 (2 × 2 layers) at 32².
      expect(shapes.down_cross).to.deep.equal([[2, 4096, 77], [2, 4096, 77], ...Array(4).fill([4, 1024, 77])]);
      expect(shapes.up_cross).to.deep.equal([...Array(6).fill([4, 1024, 77]), ...Array(3).fill([2, 4096, 77])]);
      expect([shapes.down_self, shapes.mid_self, shapes.up_self]).to.deep.equal([[], [], []]);
      // Self-attention replaced where keys ≤ (128/4)² only: the 32×32 layers (down_blocks.2, mid, up_blocks.0), 2 steps × 12 layers.
      expect(asked).to.deep.equal(Array(24).fill('32'));
      const used = lb
        .selectMaps([...ctrl.summedMaps('down_cross'), ...ctrl.summedMaps('up_cross')], { height: 128, width: 128 })
        .map((m) => m.name.replace(/\.attn2$/, ''));
      expect(used).to.deep.equal([
        'down_blocks.2.attentions.0.transformer_blocks.0',
        'down_blocks.2.attentions.0.transformer_blocks.1',
        'up_blocks.0.attentions.0.transformer_blocks.0',
        'up_blocks.0.attentions.0.transformer_blocks.1',
        'up_blocks.0.attentions.1.transformer_blocks.0',
      ]);
      const maps = ctrl.aggregateAttention(32, ['up', 'down'], true, 0);
      expect(maps.shape).to.deep.equal([32, 32, 77]);
      maps.dispose();
      ctrl.dispose();
    });
  },
);

describeRef(
  'null-text inversion on tiny-sdxl (128×128): runs, lowers the reconstruction error, edits the inverted image',
  () => {
    let pipe: StableDiffusionPipeline;
    const prompt = 'a cat riding a bicycle';
    const size = 128;
    const steps = 3;
    const image = () => smoothPhoto(size);
    before(async () => {
      pipe = await loadPipelineFromDirectory(join(referenceDir, 'tiny-sdxl'), { vaeEncoder: true });
    });
    after(() => pipe?.dispose());

    it('guided DDIM sampling from x_T retraces the inversion closer with the optimised null embeddings', async () => {
      // Guidance 3 (not 7.5): with random weights CFG 7.5 drives the latents to |x| ≈ 50 (see the
      // fixtures), far beyond what 10-20 Adam steps of lr 1e-2 on the null embedding can pull back.
      const guidance = 3;
      const inv = await pipe.invertNullText({ image: image(), prompt, steps, innerSteps: 20, guidance });
      expect(inv.guidance).to.equal(guidance);
      expect(inv.uncondEmbeddings.shape).to.deep.equal([steps, 77, 20]);
      expect(inv.losses).to.have.length(steps);
      const common = {
        prompts: [prompt],
        latents: inv.latents,
        steps,
        scheduler: 'ddim',
        guidance,
        decode: false,
      } as const;
      const plain = await pipe.generate(common);
      const nullText = await pipe.generate({ ...common, uncondEmbeddings: inv.uncondEmbeddings });
      const mse = (x: Float32Array) => x.reduce((a, v, i) => a + (v - inv.imageLatents.data[i]) ** 2, 0) / x.length;
      const [e0, e1] = [mse(plain.latents.data), mse(nullText.latents.data)];
      const steps0 = inv.losses.map((l) => `${l[0].toFixed(3)}→${l.at(-1)!.toFixed(3)}`).join(', ');
      console.log(
        `      [tiny-sdxl reconstruction mse(x₀): DDIM inversion ${e0.toFixed(4)}, null-text ${e1.toFixed(4)}; per-step loss first→last: ${steps0}]`,
      );
      expect(e1, "null-text reconstruction error vs the DDIM inversion's").to.be.below(e0);
      // The first step's loss (its reconstruction error) falls under Adam.
      expect(inv.losses[0].at(-1)!).to.be.below(inv.losses[0][0]);

      // An edit from the inverted image: the source row is the reconstruction, the edited row changes.
      const prompts = [prompt, 'a dog riding a bicycle'];
      const tokenizer = pipe.tokenizer;
      const ctrl = buildController(
        tokenizer,
        { type: 'AttentionReplace', cross_replace_steps: 0.8, self_replace_steps: 0.4 },
        prompts,
        steps,
      );
      const r = await pipe.edit({ ...common, prompts, uncondEmbeddings: inv.uncondEmbeddings, controller: ctrl });
      ctrl.dispose();
      const half = r.latents.data.length / 2;
      const src = r.latents.data.subarray(0, half);
      const d = maxDiff(src, nullText.latents.data);
      expect(d.maxAbs / d.maxRef, 'source row vs the reconstruction').to.be.at.most(1e-5);
      expect(maxDiff(r.latents.data.subarray(half), src).maxAbs, 'the edited row changes').to.be.greaterThan(1e-3);
    });
  },
);
