/**
 * Prompt-to-Prompt on the tiny SD-2 model (per-block head counts, linear projections, upcast
 * attention, v-prediction): the controllers see SD-2's head layout, an edit that replaces the
 * attention by itself changes no bit, and DDIM inversion follows the model's prediction type.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { join } from 'node:path';
import { loadPipelineFromDirectory } from '../src/node/pipeline.js';
import type { StableDiffusionPipeline } from '../src/pipeline/pipeline.js';
import type { AttentionController } from '../src/nn/attention-control.js';
import { AttentionReplace } from '../src/ptp/replace.js';
import { AttentionStore } from '../src/ptp/store.js';
import { createScheduler, DDIMScheduler } from '../src/models/schedulers/index.js';
import { nchwToNhwc } from '../src/pipeline/host-tensor.js';
import { describeRef, readJson, referenceDir } from './helpers/reference.js';
import { expectClose } from './helpers/close.js';

const PROMPT = 'a cat riding a bicycle!';
const differing = (a: Float32Array, b: Float32Array) => a.reduce((n, v, i) => n + (Object.is(v, b[i]) ? 0 : 1), 0);

describeRef('Prompt-to-Prompt on tiny-sd2 (SD-2 layout, v-prediction)', () => {
  let pipe: StableDiffusionPipeline;
  const unetConfig = () => readJson('tiny-sd2/unet/config.json');
  before(async () => {
    pipe = await loadPipelineFromDirectory(join(referenceDir, 'tiny-sd2'), { vaeEncoder: true });
  });
  after(() => pipe?.dispose());

  const small = { steps: 3, seed: 5, height: 128, width: 128, scheduler: 'ddim', decode: false } as const;

  it('the controller sees per-block head counts (attention_head_dim [2, 4, 4, 4] = heads, reversed for the up blocks) of size 8', async () => {
    const heads: number[] = unetConfig().attention_head_dim;
    const vaeLevels: number = readJson('tiny-sd2/vae/config.json').block_out_channels.length;
    const latentSide = small.height / 2 ** (vaeLevels - 1);
    const channels: number[] = unetConfig().block_out_channels;
    const seen = new Map<
      string,
      { heads: number; rows: number; batch: number; queries: number; keys: number; isCross: boolean }
    >();
    const recorder: AttentionController = {
      onAttention: (probs, ctx) => {
        seen.set(ctx.name, {
          heads: ctx.heads,
          rows: probs.shape[0],
          batch: ctx.batch,
          queries: probs.shape[1],
          keys: probs.shape[2],
          isCross: ctx.isCross,
        });
        return probs;
      },
    };
    await pipe.generate({ ...small, prompts: [PROMPT], steps: 1, controller: recorder });
    expect(seen.size).to.equal(2 * (3 * 2 + 1 + 3 * 3));
    const up = [...heads].reverse();
    for (const [name, s] of seen) {
      const m = /^(down|up)_blocks\.(\d)\./.exec(name);
      const block = m ? Number(m[2]) : -1;
      const want = !m ? heads.at(-1)! : m[1] === 'down' ? heads[block] : up[block];
      const width = !m ? channels.at(-1)! : m[1] === 'down' ? channels[block] : [...channels].reverse()[block];
      expect(s.heads, name).to.equal(want);
      expect(width / s.heads, `${name}: head size`).to.equal(8);
      expect(s.rows, name).to.equal(s.batch * s.heads);
      // The block's latent resolution: halved per down block, the mid block at the lowest.
      const level = !m ? channels.length - 1 : m[1] === 'down' ? block : channels.length - 1 - block;
      const side = latentSide >> level;
      expect(s.queries, `${name}: queries = the block's ${side}×${side} pixels`).to.equal(side * side);
      expect(s.keys, `${name}: keys`).to.equal(s.isCross ? 77 : side * side);
    }
  });

  it("AttentionStore keeps each layer's SD-2 head count; aggregate_attention averages over every (layer, head)", async () => {
    const store = new AttentionStore({ numPrompts: 1 });
    await pipe.generate({ ...small, prompts: [PROMPT], steps: 2, controller: store });
    const maps = store.aggregateAttention(8, ['up', 'down'], true, 0);
    expect(maps.shape).to.deep.equal([8, 8, 77]);
    // Manual: every (layer, head) map of 8×8 of the (only, conditional) prompt, averaged over steps, layers and heads.
    const parts = ['up_cross', 'down_cross'].flatMap((k) =>
      store.summedMaps(k as 'up_cross').filter((m) => m.height === 8),
    );
    // 128×128: 8×8 maps come from down_blocks.1 (2 layers) and up_blocks.2 (3 layers), 4 heads each.
    expect(parts.map((p) => `${p.name.split('.').slice(0, 2).join('.')}:${p.heads}`)).to.deep.equal([
      ...Array(3).fill('up_blocks.2:4'),
      ...Array(2).fill('down_blocks.1:4'),
    ]);
    const want = tf.tidy(() => {
      expect(parts.every((p) => p.probs.shape[0] === p.heads)).to.equal(true);
      const all = tf.concat(
        parts.map((p) => tf.div(tf.reshape(p.probs, [p.heads, 8, 8, 77]), store.steps)),
        0,
      );
      return tf.mean(all, 0);
    });
    expectClose(maps, want, { atol: 1e-7, rtol: 1e-6 }, 'aggregated maps');
    const rows = tf.sum(maps, 2).dataSync();
    for (const v of rows) expect(v).to.be.closeTo(1, 1e-5);
    tf.dispose([maps, want]);
    store.dispose();
  });

  it('a Replace edit of a prompt by itself (identity mapper, all steps) is bit-identical to plain sampling', async () => {
    const prompts = [PROMPT, PROMPT];
    const plain = (await pipe.edit({ ...small, prompts })).latents.data;
    const controller = new AttentionReplace({
      tokenizer: pipe.tokenizer,
      prompts,
      crossReplaceSteps: 1,
      selfReplaceSteps: 1,
    });
    const edited = (await pipe.edit({ ...small, prompts, controller })).latents.data;
    controller.dispose();
    expect(differing(edited, plain), 'final latents differing from plain sampling').to.equal(0);
    const half = plain.length / 2;
    expect(differing(plain.subarray(0, half), plain.subarray(half)), 'source vs edit').to.equal(0);
    const single = (await pipe.generate({ ...small, prompts: [PROMPT] })).latents.data;
    expect(differing(single, plain.subarray(0, half)), 'edit vs a one-prompt generate').to.equal(0);
  });

  it("DDIM inversion uses the model's v-prediction (each step is invertStep of the UNet's v; differs from an epsilon reading)", async () => {
    const image = {
      width: 64,
      height: 64,
      data: new Float32Array(64 * 64 * 3).map((_, i) => 0.5 + 0.4 * Math.sin(i / 97)),
    };
    const r = await pipe.invert({ image, prompt: PROMPT, steps: 4 });
    expect((pipe.scheduler('ddim') as DDIMScheduler).predictionType).to.equal('v_prediction');
    expect(r.trajectory.shape).to.deep.equal([5, 1, 4, 8, 8]);
    expect(r.latents.data.every(Number.isFinite)).to.equal(true);
    // Each inversion step is DDIMScheduler.invertStep (diffusers' DDIMInverseScheduler for v) of the UNet's v at the previous latents.
    const s = pipe.scheduler('ddim') as DDIMScheduler;
    s.setTimesteps(4);
    const cond = pipe.encodePrompts([PROMPT]);
    const per = r.latents.data.length;
    [...r.timesteps].reverse().forEach((t, i) => {
      const prev = nchwToNhwc({ shape: [1, 4, 8, 8], data: r.trajectory.data.slice(i * per, (i + 1) * per) });
      const next = nchwToNhwc({ shape: [1, 4, 8, 8], data: r.trajectory.data.slice((i + 1) * per, (i + 2) * per) });
      const v = pipe.components.unet.forward(prev as tf.Tensor4D, t, cond);
      const up = s.invertStep(v, t, prev);
      expectClose(up, next, { atol: 0 }, `inversion step ${i} (t=${t})`);
      tf.dispose([prev, next, v, up]);
    });
    const eps = createScheduler({ ...pipe.components.schedulerConfig, prediction_type: 'epsilon' }, { type: 'ddim' });
    const r2 = await pipe.invert({ image, prompt: PROMPT, steps: 4, scheduler: eps });
    expect(differing(r2.latents.data, r.latents.data)).to.be.greaterThan(per / 2);
    cond.dispose();
  });
});
