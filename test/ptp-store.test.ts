import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import type { AttentionContext, AttentionController, Place } from '../src/nn/attention-control.js';
import { LocalBlend } from '../src/ptp/local-blend.js';
import { AttentionReplace } from '../src/ptp/replace.js';
import { AttentionStore } from '../src/ptp/store.js';
import { clipTokenizer } from './helpers/ptp.js';
import { describeRef } from './helpers/reference.js';
import { UNet2DConditionModel } from '../src/models/unet/unet.js';
import { initWeights } from '../src/train/init.js';
import { blendMapSize } from '../src/ptp/resolution.js';
import { TINY_RECIPE } from './helpers/tiny-recipe.js';

const P = ['a cat riding a bicycle', 'a dog riding a bicycle'];

/** The 32 attention layers of an SD 1.x UNet for a latent of side `s` (forward order). */
function sd1Layers(s: number, heads: number, batch: number): AttentionContext[] {
  const spec: [Place, number, number, number][] = [
    ['down', 0, s, 2],
    ['down', 1, s / 2, 2],
    ['down', 2, s / 4, 2],
    ['mid', 0, s / 8, 1],
    ['up', 1, s / 4, 3],
    ['up', 2, s / 2, 3],
    ['up', 3, s, 3],
  ];
  const out: AttentionContext[] = [];
  for (const [place, blockIndex, side, blocks] of spec) {
    for (let a = 0; a < blocks; a++) {
      for (const isCross of [false, true]) {
        out.push({
          isCross,
          place,
          blockIndex,
          layerIndex: out.length,
          numLayers: 32,
          step: 0,
          name: `${place}_blocks.${blockIndex}.attentions.${a}.attn${isCross ? 2 : 1}`,
          height: side,
          width: side,
          latent: { height: s, width: s },
          queries: side * side,
          keys: isCross ? 77 : side * side,
          heads,
          batch,
        });
      }
    }
  }
  return out;
}

/** Deterministic softmaxed maps [rows, q, k]. */
function fakeProbs(rows: number, q: number, k: number, seed: number): tf.Tensor3D {
  return tf.tidy(
    () =>
      tf.softmax(
        tf.reshape(tf.mul(tf.sin(tf.add(tf.mul(tf.range(0, rows * q * k), 0.37 + seed * 0.011), seed)), 3), [
          rows,
          q,
          k,
        ]),
      ) as tf.Tensor3D,
  );
}

/** Runs a controller over `steps` UNet calls; returns what each wanted layer received and gave back. */
function simulate(
  c: AttentionController,
  steps: number,
  side: number,
  heads: number,
  batch: number,
  latents?: tf.Tensor4D,
  stepEnd = true,
) {
  const seen: { ctx: AttentionContext; input: tf.Tensor3D; output: tf.Tensor3D }[] = [];
  let x = latents;
  for (let step = 0; step < steps; step++) {
    for (const base of sd1Layers(side, heads, batch)) {
      const ctx = { ...base, step };
      if (c.wantsProbs && !c.wantsProbs(ctx)) continue;
      const input = fakeProbs(batch * heads, ctx.queries, ctx.keys, step * 100 + ctx.layerIndex);
      const output = c.onAttention(input, ctx);
      seen.push({ ctx, input, output });
    }
    if (stepEnd && c.onStepEnd && x) {
      const next = c.onStepEnd(x, step);
      if (next !== x && x !== latents) x.dispose();
      x = next;
    }
  }
  return { seen, latents: x };
}

describeRef('ptp AttentionStore and edit bookkeeping', () => {
  let before = 0;
  beforeEach(() => (before = tf.memory().numTensors));

  it('wantsProbs at 512×512 (64×64 latents): which layers each controller asks for', () => {
    const layers = sd1Layers(64, 8, 2);
    const store = new AttentionStore({ numPrompts: 1 });
    // Stored: everything with ≤ 32² queries, i.e. all but the 64×64 layers.
    expect(layers.filter((l) => store.wantsProbs(l)).map((l) => l.height)).to.deep.equal(
      layers.filter((l) => l.height <= 32).map((l) => l.height),
    );
    const tokenizer = clipTokenizer();
    const opts = { tokenizer, prompts: P, numSteps: 5, crossReplaceSteps: 0.8, selfReplaceSteps: 0.4 };
    const lean = new AttentionReplace({ ...opts, storeMaps: false });
    const want = (c: AttentionController, step: number) =>
      layers.filter((l) => c.wantsProbs!({ ...l, batch: 4, step })).map((l) => `${l.isCross ? 'x' : 's'}${l.height}`);
    // Step 0: cross everywhere, self at 16² and 8² (self window [0, 2)).
    expect(want(lean, 0)).to.deep.equal(
      layers.filter((l) => l.isCross || l.height <= 16).map((l) => `${l.isCross ? 'x' : 's'}${l.height}`),
    );
    // Step 3: cross still on (rows 0-3), self window over.
    expect(want(lean, 3)).to.deep.equal(layers.filter((l) => l.isCross).map((l) => `x${l.height}`));
    // Step 4: nothing to do.
    expect(want(lean, 4)).to.deep.equal([]);
    // With LocalBlend: its 16×16 down/up cross maps are always needed.
    const withBlend = new AttentionReplace({
      ...opts,
      storeMaps: false,
      localBlend: new LocalBlend(tokenizer, P, ['cat', 'dog']),
    });
    expect(want(withBlend, 4)).to.deep.equal(['x16', 'x16', 'x16', 'x16', 'x16']);
    // Default (official): stores ≤ 32² too, never asks for 64×64 self-attention.
    const full = new AttentionReplace(opts);
    expect(want(full, 4)).to.deep.equal(
      layers.filter((l) => l.height <= 32).map((l) => `${l.isCross ? 'x' : 's'}${l.height}`),
    );
    expect(want(full, 0).filter((n) => n === 's64')).to.deep.equal([]);
  });

  it("the latent size comes from the UNet, also when its first block has no attention (the demo model's layout)", () => {
    const unet = UNet2DConditionModel.fromConfig(TINY_RECIPE.unet);
    initWeights(unet, { seed: 1 });
    const store = new AttentionStore({ numPrompts: 1 });
    const seen = new Set<string>();
    const spy: AttentionController = {
      wantsProbs: (ctx) => store.wantsProbs(ctx),
      onAttention: (p, ctx) => {
        seen.add(`${ctx.height}`);
        return store.onAttention(p, ctx);
      },
    };
    tf.tidy(() =>
      unet.forward(tf.zeros([2, 16, 16, 4]) as tf.Tensor4D, 10, tf.zeros([2, 77, 8]) as tf.Tensor3D, {
        controller: spy,
        step: 0,
      }),
    );
    store.onStepEnd(tf.zeros([1, 16, 16, 4]) as tf.Tensor4D, 0).dispose();
    expect([...seen].sort()).to.deep.equal(['2', '4', '8']); // no attention at 16×16
    expect(store.latentSize).to.deep.equal({ height: 16, width: 16 });
    expect(blendMapSize(store.latentSize)).to.deep.equal({ height: 4, width: 4 });
    const agg = store.aggregateAttention({ height: 4, width: 4 }, ['up', 'down'], true, 0);
    expect(agg.shape).to.deep.equal([4, 4, 77]);
    agg.dispose();
    store.dispose();
    unet.dispose();
  });

  it('latent/2 and latent/4 limits follow the image size (the context gives the latent)', () => {
    const tokenizer = clipTokenizer();
    const c = new AttentionReplace({
      tokenizer,
      prompts: P,
      numSteps: 5,
      crossReplaceSteps: 0.8,
      selfReplaceSteps: 0.4,
      storeMaps: false,
    });
    const layers = sd1Layers(96, 8, 4); // 768×768: 96, 48, 24, 12
    const wanted = layers.filter((l) => !l.isCross && c.wantsProbs({ ...l, step: 0 })).map((l) => l.height);
    expect(wanted).to.deep.equal([24, 24, 12, 24, 24, 24]);
    expect(c.latentSize).to.deep.equal({ height: 96, width: 96 });
    c.reset();
    expect(c.latentSize).to.deep.equal({ height: 64, width: 64 });
  });

  it('running sum over steps, average divides by the step count, aggregate_attention', async () => {
    const store = new AttentionStore({ numPrompts: 1 });
    const side = 16; // latent 16: stored ≤ 8², levels 16/8/4/2
    const { seen, latents } = simulate(store, 3, side, 2, 2, tf.zeros([1, side, side, 4]) as tf.Tensor4D);
    latents!.dispose();
    expect(store.steps).to.equal(3);
    const shapes = store.storedShapes();
    expect(shapes.down_cross).to.deep.equal([
      [2, 64, 77],
      [2, 64, 77],
      [2, 16, 77],
      [2, 16, 77],
    ]);
    expect(shapes.mid_self).to.deep.equal([[2, 4, 4]]);
    expect(shapes.up_self.map((s) => s[1])).to.deep.equal([16, 16, 16, 64, 64, 64]);
    // Outputs are the inputs (the store does not edit).
    for (const s of seen) expect(s.output).to.equal(s.input);
    // aggregate(res 4, up+down, cross, prompt 0) by hand: mean over layers and heads of the conditional rows.
    const agg = store.aggregateAttention(4, ['up', 'down'], true, 0);
    expect(agg.shape).to.deep.equal([4, 4, 77]);
    const manual = new Float64Array(16 * 77);
    const used = seen.filter((s) => s.ctx.isCross && s.ctx.height === 4 && s.ctx.place !== 'mid');
    expect(used.length).to.equal(3 * 5);
    for (const s of used) {
      const d = await s.input.data();
      for (let h = 0; h < 2; h++) for (let i = 0; i < 16 * 77; i++) manual[i] += d[(2 + h) * 16 * 77 + i]; // rows 2,3 = cond
    }
    const got = await agg.data();
    for (let i = 0; i < manual.length; i++) expect(got[i]).to.be.closeTo(manual[i] / (3 * 5 * 2), 1e-6);
    const avg = store.averageAttention();
    const sum0 = store.summedMaps('mid_cross')[0].probs;
    const avg0 = avg.get('mid_cross')![0].probs;
    const [s, a] = [await sum0.data(), await avg0.data()];
    for (let i = 0; i < s.length; i++) expect(a[i]).to.equal(Math.fround(s[i] / 3));
    tf.dispose([agg, ...[...avg.values()].flat().map((m) => m.probs), ...seen.map((x) => x.input)]);
    store.reset();
    expect(tf.memory().numTensors, 'tensors leaked').to.equal(before);
  });

  it('a new step without onStepEnd ends the previous one; reads end a pending step', () => {
    const store = new AttentionStore({ numPrompts: 1 });
    const { seen } = simulate(store, 2, 16, 1, 2, undefined, false);
    expect(store.steps).to.equal(1);
    expect(store.storedShapes().mid_cross).to.deep.equal([[1, 4, 77]]);
    expect(store.steps).to.equal(2);
    tf.dispose(seen.map((s) => s.input));
    store.dispose();
    expect(tf.memory().numTensors, 'tensors leaked').to.equal(before);
  });

  it('edit controllers store the post-edit maps and leave the unconditional half alone; no leaks', async () => {
    const tokenizer = clipTokenizer();
    const lb = new LocalBlend(tokenizer, P, ['cat', 'dog']);
    const c = new AttentionReplace({
      tokenizer,
      prompts: ['a cat riding a bicycle', 'a dog riding a bicycle'],
      numSteps: 3,
      crossReplaceSteps: 0.8,
      selfReplaceSteps: 0.4,
      localBlend: lb,
    });
    const x0 = tf.randomNormal([2, 16, 16, 4], 0, 1, 'float32', 7) as tf.Tensor4D;
    const { seen, latents } = simulate(c, 3, 16, 2, 4, x0);
    const stored = c.summedMaps('mid_cross')[0].probs;
    // The mid cross map's running sum is the sum of the conditional halves of the outputs.
    const mid = seen.filter((s) => s.ctx.place === 'mid' && s.ctx.isCross);
    expect(mid.length).to.equal(3);
    const expected = tf.tidy(() => tf.addN(mid.map((s) => tf.slice(s.output, [4, 0, 0], [4, 4, 77]))));
    expect(Array.from(await stored.data())).to.deep.equal(Array.from(await expected.data()));
    for (const s of seen) {
      const n = 2 * 2 * s.ctx.queries * s.ctx.keys;
      expect(Array.from((await s.output.data()).subarray(0, n)), `${s.ctx.name} uncond`).to.deep.equal(
        Array.from((await s.input.data()).subarray(0, n)),
      );
    }
    // The source image's latents are never changed by LocalBlend.
    const n0 = 16 * 16 * 4;
    expect(Array.from((await latents!.data()).subarray(0, n0))).to.deep.equal(
      Array.from((await x0.data()).subarray(0, n0)),
    );
    tf.dispose([expected, x0, latents!, ...seen.flatMap((s) => [s.input, s.output])]);
    c.reset();
    expect(tf.memory().numTensors, 'tensors leaked').to.equal(before);
  });

  it('maps that change shape between steps without reset() are an error', () => {
    const store = new AttentionStore({ numPrompts: 1 });
    const x = tf.zeros([1, 16, 16, 4]) as tf.Tensor4D;
    const a = simulate(store, 1, 16, 1, 2, x);
    expect(() => simulate(store, 1, 32, 1, 2, x)).to.throw(/maps changed between steps.*reset\(\)/);
    tf.dispose([x, ...a.seen.map((s) => s.input)]);
    store.reset();
  });
});
