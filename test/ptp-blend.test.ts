import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { LocalBlend } from '../src/ptp/local-blend.js';
import { AttentionReplace } from '../src/ptp/replace.js';
import type { StoredMap } from '../src/ptp/store.js';
import type { Place } from '../src/nn/attention-control.js';
import { describeRef } from './helpers/reference.js';
import { expectClose } from './helpers/close.js';
import { clipTokenizer, ctxOf, unitFloat, unitMeta, unitTf, unitTol } from './helpers/ptp.js';

const LAYERS: [Place, string, number][] = [
  ['down', 'localblend.store.down_cross.2', 16],
  ['down', 'localblend.store.down_cross.3', 16],
  ['mid', 'localblend.store.mid_cross.0', 8],
  ['up', 'localblend.store.up_cross.0', 16],
  ['up', 'localblend.store.up_cross.1', 16],
  ['up', 'localblend.store.up_cross.2', 16],
];

async function nhwc(name: string): Promise<tf.Tensor4D> {
  const t = await unitTf<tf.Rank.R4>(name);
  const out = tf.transpose(t, [0, 2, 3, 1]);
  t.dispose();
  return out;
}

describeRef('ptp LocalBlend (g_unit synthetic store)', () => {
  const meta = unitMeta().local_blend;
  const tol = unitTol();
  let before = 0;
  beforeEach(() => (before = tf.memory().numTensors));
  afterEach(() => expect(tf.memory().numTensors, 'tensors leaked').to.equal(before));

  async function storeMaps(): Promise<StoredMap[]> {
    const out: StoredMap[] = [];
    for (const [place, name, side] of LAYERS) {
      out.push({
        probs: await unitTf<tf.Rank.R3>(name),
        place,
        isCross: true,
        height: side,
        width: side,
        heads: meta.heads,
        name,
      });
    }
    return out;
  }

  it("alpha_layers: the words' token positions per prompt (exact)", async () => {
    const lb = new LocalBlend(clipTokenizer(), meta.prompts, meta.words, { threshold: meta.threshold });
    const ref = await unitFloat('localblend.alpha_layers');
    expect(ref.shape).to.deep.equal([2, 1, 1, 1, 1, 77]);
    expect(Array.from(lb.alphaLayers.flatMap((a) => Array.from(a)))).to.deep.equal(Array.from(ref.data));
  });

  it('mask (exact, partial) and blended latents', async () => {
    const lb = new LocalBlend(clipTokenizer(), meta.prompts, meta.words, { threshold: meta.threshold });
    const maps = await storeMaps();
    const mask = lb.mask(maps, { height: 64, width: 64 });
    const refMask = await unitFloat('localblend.out.mask');
    expect(mask.shape).to.deep.equal([1, 64, 64, 1]);
    expect(Array.from(await mask.data())).to.deep.equal(Array.from(refMask.data));
    const frac = refMask.data.reduce((a, b) => a + b, 0) / refMask.data.length;
    expect(frac, 'the fixture mask is partial').to.be.within(0.05, 0.95);
    const x = await nhwc('localblend.in.x_t');
    const out = lb.apply(x, maps);
    const exp = await nhwc('localblend.out.x_t');
    expectClose(out, exp, tol, 'x_t');
    // Source latents pass through bit for bit.
    const n = 64 * 64 * 4;
    expect(Array.from((await out.data()).subarray(0, n))).to.deep.equal(Array.from((await x.data()).subarray(0, n)));
    tf.dispose([mask, x, out, exp, ...maps.map((m) => m.probs)]);
  });

  it('Replace + LocalBlend: onStepEnd blends with the running-sum store including the current step', async () => {
    const tokenizer = clipTokenizer();
    const lb = new LocalBlend(tokenizer, meta.prompts, meta.words, { threshold: meta.threshold });
    // No cross/self replacement, so the stored maps are the fed maps unchanged.
    const c = new AttentionReplace({
      tokenizer,
      prompts: meta.prompts,
      numSteps: 10,
      crossReplaceSteps: 0,
      selfReplaceSteps: 0,
      localBlend: lb,
      latentSize: { height: 64, width: 64 },
    });
    const maps = await storeMaps();
    const halves: tf.Tensor3D[] = [];
    // The same step's maps split in two halves fed at steps 0 and 1: the running sum is their total.
    for (const [step, f] of [
      [0, 0.25],
      [1, 0.75],
    ] as const) {
      maps.forEach((m, i) => {
        const part = tf.mul(m.probs, f) as tf.Tensor3D;
        const ctx = ctxOf({
          isCross: true,
          step,
          batch: 2,
          heads: m.heads,
          height: m.height,
          width: m.width,
          place: m.place,
          layerIndex: 1 + i,
        });
        expect(c.wantsProbs(ctx), `${m.name} wanted`).to.equal(true);
        halves.push(part, c.onAttention(part, ctx));
      });
      if (step === 0) {
        const x0 = await nhwc('localblend.in.x_t');
        tf.dispose([c.onStepEnd(x0, 0), x0]);
      }
    }
    const x = await nhwc('localblend.in.x_t');
    const out = c.onStepEnd(x, 1);
    expect(c.steps).to.equal(2);
    // 0.25·m + 0.75·m differs from m by rounding only; the mask is 3e-3 away from its threshold.
    const exp = await nhwc('localblend.out.x_t');
    expectClose(out, exp, tol, 'x_t');
    tf.dispose([x, out, exp, ...halves, ...maps.map((m) => m.probs)]);
    c.dispose();
  });

  it('clear errors: a word not in its prompt, words per prompt', () => {
    const tok = clipTokenizer();
    expect(() => new LocalBlend(tok, meta.prompts, ['cat', 'horse'])).to.throw(
      /LocalBlend: word "horse" is not in the prompt "a dog riding a bicycle"/,
    );
    expect(() => new LocalBlend(tok, meta.prompts, ['cat'])).to.throw(/words for each of the 2 prompts/);
    const lb = new LocalBlend(tok, meta.prompts, ['cat', 'dog']);
    expect(
      () =>
        new AttentionReplace({
          tokenizer: tok,
          prompts: ['a cat', 'a dog'],
          numSteps: 5,
          crossReplaceSteps: 0.8,
          selfReplaceSteps: 0.4,
          localBlend: lb,
        }),
    ).to.throw(/LocalBlend was built for prompts/);
  });
});
