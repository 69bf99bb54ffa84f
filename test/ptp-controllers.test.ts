import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import type { AttentionEdit } from '../src/ptp/edit.js';
import { getEqualizer } from '../src/ptp/equalizer.js';
import { AttentionRefine } from '../src/ptp/refine.js';
import { AttentionReplace } from '../src/ptp/replace.js';
import { AttentionReweight } from '../src/ptp/reweight.js';
import { describeRef } from './helpers/reference.js';
import { expectClose } from './helpers/close.js';
import { clipTokenizer, ctxOf, unitFloat, unitMeta, unitTf, unitTol } from './helpers/ptp.js';

const P = ['a cat riding a bicycle', 'a dog riding a bicycle'];
const R = ['a cat riding a bicycle', 'a fluffy cat riding a red bicycle'];
const LATENT = { height: 64, width: 64 };

/**
 * The unit controllers of g_unit. index.json records their prompts, steps and num_self_replace; the
 * remaining settings are those of the pipeline cases (b, f, d, e1, e3), and each is confirmed by the
 * stored `cross_replace_alpha` (test below) and by the outputs.
 */
function unitControllers(): Record<string, () => AttentionEdit> {
  const tokenizer = clipTokenizer();
  const common = { tokenizer, numSteps: 50, selfReplaceSteps: 0.4, latentSize: LATENT };
  return {
    replace: () => new AttentionReplace({ ...common, prompts: P, crossReplaceSteps: 0.8 }),
    replace_wordsched: () =>
      new AttentionReplace({ ...common, prompts: P, crossReplaceSteps: { default_: 1.0, dog: 0.2 } }),
    refine: () => new AttentionRefine({ ...common, prompts: R, crossReplaceSteps: 0.8 }),
    reweight: () =>
      new AttentionReweight({
        ...common,
        prompts: [P[0], P[0]],
        crossReplaceSteps: 0.8,
        equalizer: getEqualizer(tokenizer, P[0], ['bicycle'], [2.0]),
      }),
    reweight_on_refine: () =>
      new AttentionReweight({
        ...common,
        prompts: R,
        crossReplaceSteps: 0.8,
        equalizer: getEqualizer(tokenizer, R[1], ['fluffy'], [3.0]),
        prev: new AttentionRefine({ ...common, prompts: R, crossReplaceSteps: 0.8 }),
      }),
  };
}

describeRef('ptp controllers: official controller calls (g_unit)', () => {
  const tol = unitTol();
  const meta = unitMeta();
  const make = unitControllers();
  let before = 0;
  beforeEach(() => (before = tf.memory().numTensors));
  afterEach(() => expect(tf.memory().numTensors, 'tensors leaked').to.equal(before));

  for (const [key, info] of Object.entries(meta.controllers) as [
    string,
    { prompts: string[]; num_self_replace: number[]; type: string },
  ][]) {
    describe(`${key} (${info.type})`, () => {
      it('prompts, cross_replace_alpha and num_self_replace match', async () => {
        const c = make[key]();
        expect(c.prompts).to.deep.equal(info.prompts);
        expect(c.selfWindow).to.deep.equal(info.num_self_replace);
        const ref = await unitFloat(`ctrl_${key}.cross_replace_alpha`);
        expect(ref.shape).to.deep.equal([c.numSteps + 1, c.edits, 1, 1, 77]);
        expect(Array.from(c.crossAlpha.data)).to.deep.equal(Array.from(ref.data));
        c.dispose();
      });

      it('replace_cross_attention(attn_base, att_replace)', async () => {
        const c = make[key]();
        const base = await unitTf<tf.Rank.R3>(`ctrl_${key}.replace_cross_attention.in.attn_base`);
        const rep = await unitTf<tf.Rank.R4>(`ctrl_${key}.replace_cross_attention.in.att_replace`);
        const exp = await unitFloat(`ctrl_${key}.replace_cross_attention.out`);
        const out = c.replaceCross(base, rep);
        expect(out.shape).to.deep.equal(rep.shape);
        expectClose(out, exp.data, tol, `${key}.replace_cross_attention`);
        tf.dispose([base, rep, out]);
        c.dispose();
      });

      for (const step of [5, 30, 45]) {
        it(`forward(attn, is_cross=True, 'up') at cur_step ${step}`, async () => {
          const c = make[key]();
          const call = meta.controller_calls.find(
            (x: { name: string }) => x.name === `ctrl_${key}.forward_cross_s${step}`,
          );
          expect(call.cur_step).to.equal(step);
          const attn = await unitTf<tf.Rank.R3>(call.inputs.attn);
          const exp = await unitFloat(call.output);
          // [B·heads, q, 77] with B = 2 prompts, 2 heads, 16 queries (the conditional half, no CFG).
          const ctx = ctxOf({
            isCross: true,
            step,
            batch: 2,
            heads: attn.shape[0] / 2,
            height: 4,
            width: 4,
            place: 'up',
          });
          expect(c.wantsProbs(ctx)).to.equal(true);
          const out = c.onAttention(attn, ctx);
          expectClose(out, exp.data, tol, call.name);
          tf.dispose([attn, out]);
          c.dispose();
        });
      }
    });
  }

  describe('self-attention (replace controller, 64×64 latents)', () => {
    for (const [name, side, step] of [
      ['forward_self16_s5', 16, 5],
      ['forward_self16_s30', 16, 30],
      ['forward_self17_s5', 17, 5],
    ] as const) {
      it(`${name}: ${side}×${side} keys at step ${step}`, async () => {
        const c = make.replace();
        const attn = await unitTf<tf.Rank.R3>(`ctrl_replace.${name}.in.attn`);
        const exp = await unitFloat(`ctrl_replace.${name}.out`);
        const ctx = ctxOf({ isCross: false, step, batch: 2, heads: 1, height: side, width: side, place: 'down' });
        const out = c.onAttention(attn, ctx);
        expectClose(out, exp.data, tol, name);
        const replaced = side <= 16 && step < 20;
        // The store still wants the maps it keeps (≤ 32²); with storeMaps off only edits count.
        const lean = new AttentionReplace({
          tokenizer: clipTokenizer(),
          prompts: P,
          numSteps: 50,
          crossReplaceSteps: 0.8,
          selfReplaceSteps: 0.4,
          latentSize: LATENT,
          storeMaps: false,
        });
        expect(lean.wantsProbs(ctx), 'wantsProbs without storing').to.equal(replaced);
        tf.dispose([attn, out]);
        c.dispose();
        lean.dispose();
      });
    }
  });

  it('clear errors: equalizer rows and lengths, prev prompts, batch, steps', () => {
    const tokenizer = clipTokenizer();
    const common = { tokenizer, numSteps: 50, crossReplaceSteps: 0.8, selfReplaceSteps: 0.4 };
    const eq = getEqualizer(tokenizer, P[0], 'bicycle', 2);
    const three = ['a cat riding a bicycle', 'a cat riding a bicycle', 'a cat riding a bicycle'];
    expect(() => new AttentionReweight({ ...common, prompts: three, equalizer: [eq, eq, eq] })).to.throw(
      /equalizer has 3 rows; give 1 or one per edited prompt \(2\)/,
    );
    expect(() => new AttentionReweight({ ...common, prompts: [P[0], P[0]], equalizer: new Float32Array(10) })).to.throw(
      /equalizer row 0 has 10 values, expected 77/,
    );
    expect(
      () =>
        new AttentionReweight({
          ...common,
          prompts: R,
          equalizer: eq,
          prev: new AttentionRefine({ ...common, prompts: [R[0], 'a cat riding a red bicycle'] }),
        }),
    ).to.throw(/prev controller was built for prompts/);
    expect(() => new AttentionReplace({ ...common, prompts: R })).to.throw(/same number of words.*Refine/);
    expect(() => new AttentionReplace({ ...common, prompts: P, selfReplaceSteps: [0, 1.5] })).to.throw(
      /selfReplaceSteps.*\[0, 1\]/,
    );
    expect(() => new AttentionReplace({ ...common, prompts: [P[0]] })).to.throw(/at least one edited prompt/);
    const c = new AttentionReplace({ ...common, prompts: P });
    const probs = tf.zeros([6, 4, 77]) as tf.Tensor3D;
    expect(() =>
      c.onAttention(probs, ctxOf({ isCross: true, step: 0, batch: 3, heads: 2, height: 2, width: 2 })),
    ).to.throw(/batch of 3 fits neither 2 prompts nor their CFG batch of 4/);
    expect(() => c.wantsProbs(ctxOf({ isCross: true, step: 51, batch: 4, heads: 2, height: 64, width: 64 }))).to.throw(
      /step 51 is outside the cross-attention schedule/,
    );
    probs.dispose();
    c.dispose();
  });

  it('__call__ on a CFG batch: conditional half edited, unconditional half untouched', async () => {
    const call = meta.controller_calls.find((x: { name: string }) => x.name === 'call_replace');
    expect(call.after_first).to.deep.equal({ cur_step: 3, cur_att_layer: 1 });
    const c = make.replace();
    const attn = await unitTf<tf.Rank.R3>('call_replace.in.attn'); // [2·B·heads, 64, 77], B = 2, heads = 2
    const heads = attn.shape[0] / 4;
    const outs: tf.Tensor3D[] = [];
    for (const layer of [0, 1]) {
      // Two layers of a 2-layer model, both at denoising step 3 (the pipeline passes ctx.step).
      const ctx = ctxOf({
        isCross: true,
        step: 3,
        batch: 4,
        heads,
        height: 8,
        width: 8,
        place: 'down',
        layerIndex: layer,
        numLayers: 2,
      });
      const out = c.onAttention(attn, ctx);
      expectClose(out, (await unitFloat(`call_replace.out.layer${layer}`)).data, tol, `call_replace layer ${layer}`);
      const n = 2 * heads * 64 * 77;
      expect(Array.from((await out.data()).subarray(0, n)), 'uncond half bit-identical').to.deep.equal(
        Array.from((await attn.data()).subarray(0, n)),
      );
      outs.push(out);
    }
    const latents = tf.zeros([2, 8, 8, 4]) as tf.Tensor4D;
    expect(c.onStepEnd(latents, 3)).to.equal(latents);
    expect(c.steps).to.equal(1);
    tf.dispose([attn, latents, ...outs]);
    c.reset();
  });
});
