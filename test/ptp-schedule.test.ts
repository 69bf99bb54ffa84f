import { expect } from 'chai';
import { getEqualizer } from '../src/ptp/equalizer.js';
import { checkBounds, selfReplaceWindow, timeWordAlpha } from '../src/ptp/schedule.js';
import { describeRef } from './helpers/reference.js';
import { expectClose } from './helpers/close.js';
import { clipTokenizer, unitFloat, unitMeta, unitTol } from './helpers/ptp.js';

function expectExact(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  expect(actual.length, `${what}: length`).to.equal(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i])
      expect.fail(
        `${what}: element ${i} (step ${Math.floor(i / 77)}, token ${i % 77}) is ${actual[i]}, expected ${expected[i]}`,
      );
  }
}

describeRef('ptp schedule: get_time_words_attention_alpha parity (g_unit)', () => {
  for (const e of unitMeta().time_words_alpha) {
    it(`${e.tensor}: ${e.num_steps} steps, ${JSON.stringify(e.cross_replace_steps)}, ${e.prompts.length} prompts (exact)`, async () => {
      const ours = timeWordAlpha(clipTokenizer(), e.prompts, e.num_steps, e.cross_replace_steps);
      const ref = await unitFloat(e.tensor);
      expect(ref.shape).to.deep.equal([e.num_steps + 1, e.prompts.length - 1, 1, 1, 77]);
      expect([ours.rows, ours.edits, ours.tokens]).to.deep.equal([e.num_steps + 1, e.prompts.length - 1, 77]);
      expectExact(ours.data, ref.data, e.tensor);
    });
  }

  it('self-replace window: int(steps·s) bounds (num_self_replace)', () => {
    for (const c of Object.values(unitMeta().controllers) as { num_steps: number; num_self_replace: number[] }[]) {
      expect(selfReplaceWindow(c.num_steps, 0.4)).to.deep.equal(c.num_self_replace);
    }
    expect(selfReplaceWindow(5, 0.4)).to.deep.equal([0, 2]); // the pipeline cases (extra.num_self_replace)
    expect(selfReplaceWindow(50, [0.2, 0.5])).to.deep.equal([10, 25]);
  });

  it('the cross window uses steps + 1 rows: 0.8 of 5 steps covers steps 0-3', () => {
    const a = timeWordAlpha(clipTokenizer(), ['a cat riding a bicycle', 'a dog riding a bicycle'], 5, 0.8);
    expect([0, 1, 2, 3, 4, 5].map((s) => a.isActive(s))).to.deep.equal([true, true, true, true, false, false]);
    expect(() => a.step(6)).to.throw(/step 6 is outside the cross-attention schedule \(steps 0..5\)/);
  });

  it('steps outside [0, 1] and malformed bounds are errors', () => {
    expect(() => checkBounds(1.2, 'crossReplaceSteps')).to.throw(
      /crossReplaceSteps: steps are fractions of the sampling in \[0, 1\], got 1.2/,
    );
    expect(() => checkBounds([-0.1, 0.5], 'selfReplaceSteps')).to.throw(/selfReplaceSteps.*\[0, 1\]/);
    expect(() => checkBounds([0.6, 0.2], 'selfReplaceSteps')).to.throw(/start 0.6 is after end 0.2/);
    expect(() => selfReplaceWindow(50, 2)).to.throw(/selfReplaceSteps/);
    const tok = clipTokenizer();
    const P = ['a cat riding a bicycle', 'a dog riding a bicycle'];
    expect(() => timeWordAlpha(tok, P, 50, { default_: 1, dog: 1.5 })).to.throw(/crossReplaceSteps\["dog"\].*\[0, 1\]/);
    expect(() => timeWordAlpha(tok, P, 50, { cat: 0.5 })).to.throw(/word "cat" is in none of the edited prompts/);
  });
});

describeRef('ptp equalizer: get_equalizer parity (g_unit)', () => {
  const tol = unitTol();
  for (const e of unitMeta().get_equalizer) {
    it(`${e.tensor}: "${e.text}" ${JSON.stringify(e.word_select)} × ${JSON.stringify(e.values)} (stable notebook)`, async () => {
      const ref = await unitFloat(e.tensor);
      expect(ref.shape).to.deep.equal([1, 77]);
      expectClose(getEqualizer(clipTokenizer(), e.text, e.word_select, e.values), ref.data, tol, e.tensor);
    });
  }
  for (const e of unitMeta().get_equalizer_nulltext) {
    it(`${e.tensor}: "${e.text}" ${JSON.stringify(e.word_select)} × ${JSON.stringify(e.values)} (null-text notebook, zip)`, async () => {
      const ref = await unitFloat(e.tensor);
      const missing = e.word_select.filter((w: string) => !e.text.split(' ').includes(w));
      if (missing.length > 0) {
        // The official code skips words that are not in the text; we refuse unless asked to skip.
        expect(() => getEqualizer(clipTokenizer(), e.text, e.word_select, e.values)).to.throw(
          new RegExp(`word "${missing[0]}" is not in the prompt "${e.text}"`),
        );
      }
      expectClose(
        getEqualizer(clipTokenizer(), e.text, e.word_select, e.values, { ignoreMissing: true }),
        ref.data,
        tol,
        e.tensor,
      );
    });
  }

  it('values must be one for all words or one per word', () => {
    expect(() => getEqualizer(clipTokenizer(), 'a cat riding a bicycle', ['cat', 'bicycle'], [1, 2, 3])).to.throw(
      /3 values for 2 words/,
    );
  });
});
