/**
 * Full-pipeline Prompt-to-Prompt parity with the official code (p2p fixtures: tiny-sd, 512×512,
 * 5 DDIM steps, CFG 7.5, seed 8888): every case runs once, in one `it` with all its checks, and
 * the achieved error levels and times are printed at the end.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { loadPipelineFromDirectory } from '../src/node/pipeline.js';
import type { StableDiffusionPipeline } from '../src/pipeline/pipeline.js';
import { imageToUint8 } from '../src/util/image.js';
import type { ClipPromptEncoder } from '../src/models/clip/prompt-encoder.js';
import type { AttentionController } from '../src/nn/attention-control.js';
import { attentionStrategy, setAttentionStrategy } from '../src/nn/attention-core.js';
import { STORE_KEYS, type AttentionStore, type StoreKey } from '../src/ptp/store.js';
import type { Place } from '../src/nn/attention-control.js';
import { describeRef, fixture, fixtureTensor, tinySdDir } from './helpers/reference.js';
import { compare, expectClose } from './helpers/close.js';
import { memoryNow } from './helpers/leaks.js';
import {
  buildController,
  checkControllerTables,
  cpuLatentsRel,
  imagesToNchw,
  maxDiff,
  perStepRel,
  pipelineCases,
  pipelineTolerance,
} from './helpers/p2p-cases.js';

interface Row {
  name: string;
  seconds: number;
  latentsRel?: number;
  finalRel?: number;
  imageMaxAbs?: number;
  u8?: string;
  agg?: number;
}

const fmt = (x: number | undefined, digits = 1) => (x === undefined ? '-' : x.toExponential(digits));

describeRef('ptp pipeline: Prompt-to-Prompt edits vs the official code (p2p fixtures, 512×512, 5 DDIM steps)', () => {
  let pipe: StableDiffusionPipeline;
  const rows: Row[] = [];

  before(async () => {
    pipe = await loadPipelineFromDirectory(tinySdDir);
    // Warm-up (derived weights are cached on first use), so each case's leak check holds when it runs alone.
    await pipe.edit({ prompts: ['a cat', 'a dog'], steps: 1, seed: 1, height: 64, width: 64, scheduler: 'ddim' });
  });
  after(() => {
    pipe?.dispose();
    if (rows.length) {
      console.log(
        '\n    case                            time    step/max     final/max  image|Δ|  image_u8 (max, differing)  agg|Δ|',
      );
      for (const r of rows) {
        console.log(
          `    ${r.name.padEnd(30)} ${r.seconds.toFixed(1).padStart(6)} s  ${fmt(r.latentsRel).padStart(9)}  ${fmt(r.finalRel).padStart(9)}  ${fmt(r.imageMaxAbs).padStart(8)}  ${(r.u8 ?? '-').padEnd(25)}  ${fmt(r.agg)}`,
        );
      }
    }
  });

  /** Final latents of an edit at 128×128 (3 steps, two prompts sharing one latent) with and without a pass-through controller. */
  async function passThroughRun() {
    const opts = {
      prompts: ['a cat riding a bicycle', 'a dog riding a bicycle'],
      steps: 3,
      seed: 3,
      height: 128,
      width: 128,
      scheduler: 'ddim',
      decode: false,
    };
    const seen = new Set<string>();
    const passThrough: AttentionController = {
      wantsProbs: () => true,
      onAttention: (probs, ctx) => {
        seen.add(ctx.name);
        return probs;
      },
    };
    const plain = (await pipe.edit(opts)).latents.data;
    const controlled = (await pipe.edit({ ...opts, controller: passThrough })).latents.data;
    expect(seen.size, 'attention layers seen by the controller').to.equal(32);
    let differing = 0;
    for (let i = 0; i < plain.length; i++) if (!Object.is(plain[i], controlled[i])) differing++;
    return { differing, total: plain.length, maxAbs: maxDiff(controlled, plain).maxAbs };
  }

  it(`a pass-through controller that reads every attention map leaves the final latents bit-identical (default strategy)`, async () => {
    const r = await passThroughRun();
    expect(
      r.differing,
      `attention strategy '${attentionStrategy()}': final latents differ in ${r.differing}/${r.total} values (max |Δ| ${r.maxAbs})`,
    ).to.equal(0);
  });

  it('the same with the per-head attention strategy', async () => {
    setAttentionStrategy('per-head');
    try {
      const r = await passThroughRun();
      expect(r.differing, `final latents differ in ${r.differing}/${r.total} values (max |Δ| ${r.maxAbs})`).to.equal(0);
    } finally {
      setAttentionStrategy(undefined);
    }
  });

  for (const c of pipelineCases()) {
    it(`${c.name}: ${c.prompts.map((p) => JSON.stringify(p)).join(' → ')} (${c.controller.type})`, async () => {
      const tol = pipelineTolerance(c.name);
      const file = `p2p/${c.file}`;
      const f = await fixture(file);
      const ints = async (name: string) => Array.from(await f.readInt32(name));
      const floats = async (name: string) => Array.from(await f.readFloat32(name));

      // Tokens and the controller's tables are exact.
      const ids = (pipe.components.text as ClipPromptEncoder).tokenizer.call(c.prompts).inputIds.flat();
      expect(ids, 'input_ids').to.deep.equal(await ints('input_ids'));
      const ctrl = buildController(pipe.tokenizer, c.controller, c.prompts, c.steps);
      await checkControllerTables(ctrl, c.tensors, floats, ints);

      const before = memoryNow();
      const t0 = Date.now();
      const r = await pipe.edit({
        prompts: c.prompts,
        steps: c.steps,
        guidance: c.guidance_scale,
        seed: c.seed,
        scheduler: 'ddim',
        controller: ctrl,
        keepLatentsPerStep: true,
      });
      const row: Row = { name: c.name, seconds: (Date.now() - t0) / 1000 };
      rows.push(row);

      // DDIM from the model's PNDM config (steps_offset 1): 801, 601, 401, 201, 1.
      expect(r.timesteps, 'timesteps').to.deep.equal(await ints('timesteps'));
      // torch.randn((1,4,64,64), Generator().manual_seed(seed)), shared by every prompt: bit-exact.
      const init = (await fixtureTensor(file, 'init_latent')).data;
      expect(r.initialLatents.shape).to.deep.equal([c.prompts.length, 4, 64, 64]);
      for (let p = 0; p < c.prompts.length; p++) {
        const row0 = r.initialLatents.data.subarray(p * init.length, (p + 1) * init.length);
        expect(compare(row0, init, { atol: 0 }).bad, `init latent of prompt ${p}`).to.equal(0);
      }

      // The latents after every step, each step normalised by its own max|ref| (not the whole
      // trajectory's): max|Δ_s| ≤ latentsRel·max|ref_s|; the final latents likewise.
      const perStep = await fixtureTensor(file, 'latents_per_step');
      expect(r.latentsPerStep!.shape).to.deep.equal(perStep.shape);
      const latentsRel = cpuLatentsRel(tol.latentsRel);
      const steps = perStepRel(r.latentsPerStep!.data, perStep.data, c.steps);
      row.latentsRel = Math.max(...steps.map((x) => x.rel));
      const fin = maxDiff(r.latents.data, (await fixtureTensor(file, 'final_latents')).data);
      row.finalRel = fin.maxAbs / fin.maxRef;
      steps.forEach((x, i) =>
        expect(x.rel, `latents after step ${i + 1}: max|Δ| ${x.maxAbs} vs max|ref| ${x.maxRef}`).to.be.at.most(
          latentsRel,
        ),
      );
      expect(row.finalRel, `final_latents: max|Δ| ${fin.maxAbs} vs max|ref| ${fin.maxRef}`).to.be.at.most(latentsRel);

      // Images: float (case b) atol 2e-3; uint8 by floor (ptp_utils.latent2image) within ±2.
      expect(r.images).to.have.length(c.prompts.length);
      if (c.tensors.image) {
        const img = imagesToNchw(r.images);
        row.imageMaxAbs = maxDiff(img, (await fixtureTensor(file, 'image')).data).maxAbs;
        expectClose(img, (await fixtureTensor(file, 'image')).data, { atol: tol.imageAtol }, 'image');
      }
      const u8 = new Uint8Array(r.images.flatMap((im) => Array.from(imageToUint8(im, 'floor'))));
      const refU8 = await f.readBytes('image_u8');
      expect(u8.length).to.equal(refU8.length);
      let u8Max = 0;
      let u8Diff = 0;
      for (let i = 0; i < u8.length; i++) {
        const d = Math.abs(u8[i] - refU8[i]);
        u8Max = Math.max(u8Max, d);
        if (d) u8Diff++;
      }
      row.u8 = `${u8Max}, ${((100 * u8Diff) / u8.length).toFixed(3)} %`;
      expect(u8Max, 'image_u8 max |Δ|').to.be.at.most(tol.u8MaxAbs);

      if (c.name === 'a_attention_store') row.agg = await checkAttentionStore(ctrl, c, file, tol.agg);
      ctrl.dispose();
      expect(memoryNow(), 'tensors leaked').to.deep.equal(before);
    });
  }
});

/** Case a: stored layer shapes, step count, aggregate_attention results and per-layer averages; returns the max |Δ|. */
async function checkAttentionStore(
  store: AttentionStore,
  c: { extra?: Record<string, unknown>; tensors: Record<string, unknown> },
  file: string,
  tol: { atol: number; rtol: number },
): Promise<number> {
  expect(store.steps, 'cur_step').to.equal(c.extra!.attention_store_cur_step);
  const shapes = store.storedShapes();
  const want = c.extra!.attention_store_layers as Record<StoreKey, number[][]>;
  for (const key of STORE_KEYS) expect(shapes[key], `stored ${key} shapes`).to.deep.equal(want[key]);
  let worst = 0;
  const check = async (actual: tf.Tensor, name: string) => {
    const ref = await fixtureTensor(file, name);
    expect(actual.shape, name).to.deep.equal(ref.shape);
    const data = actual.dataSync();
    worst = Math.max(worst, maxDiff(data, ref.data).maxAbs);
    expectClose(data, ref.data, tol, name);
  };
  const aggregates: [string, number, Place[], boolean][] = [
    ['agg_cross_16_up_down', 16, ['up', 'down'], true],
    ['agg_self_16_up_down', 16, ['up', 'down'], false],
    ['agg_cross_32_up_down', 32, ['up', 'down'], true],
    ['agg_cross_8_mid', 8, ['mid'], true],
  ];
  for (const [name, res, from, isCross] of aggregates) {
    const agg = store.aggregateAttention(res, from, isCross, 0);
    await check(agg, name);
    agg.dispose();
  }
  const avg = store.averageAttention();
  try {
    for (const name of Object.keys(c.tensors).filter((n) => n.startsWith('avg_'))) {
      const m = /^avg_(\w+_(?:cross|self))_(\d+)$/.exec(name)!;
      await check(avg.get(m[1] as StoreKey)![Number(m[2])].probs, name);
    }
  } finally {
    for (const list of avg.values()) tf.dispose(list.map((e) => e.probs));
  }
  return worst;
}
