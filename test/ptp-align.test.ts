import { expect } from 'chai';
import { alignTargetToSource, refinementMappers, replacementMappers } from '../src/ptp/align.js';
import { describeRef } from './helpers/reference.js';
import { clipTokenizer, unitFloat, unitInt, unitMeta } from './helpers/ptp.js';

/** Exact equality with the index of the first difference in the message. */
function expectExact(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  expect(actual.length, `${what}: length`).to.equal(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i])
      expect.fail(
        `${what}: element ${i} (row ${Math.floor(i / 77)}, col ${i % 77}) is ${actual[i]}, expected ${expected[i]}`,
      );
  }
}

describeRef('ptp align: seq_aligner parity (g_unit)', () => {
  describe('replacement mapper (exact)', () => {
    for (const e of unitMeta().replacement_mapper) {
      it(`${e.tensor}: ${e.prompts.map((p: string) => JSON.stringify(p)).join(' → ')}`, async () => {
        const ours = replacementMappers(clipTokenizer(), e.prompts);
        const ref = await unitFloat(e.tensor);
        expect(ref.shape).to.deep.equal([ours.length, 77, 77]);
        const flat = new Float32Array(ours.length * 77 * 77);
        ours.forEach((m, i) => flat.set(m, i * 77 * 77));
        expectExact(flat, ref.data, e.tensor);
      });
    }
  });

  describe('refinement mapper and alphas (exact)', () => {
    for (const e of unitMeta().refinement_mapper) {
      it(`${e.mapper}: ${e.prompts.map((p: string) => JSON.stringify(p)).join(' → ')}`, async () => {
        const ours = refinementMappers(clipTokenizer(), e.prompts);
        const mapper = await unitInt(e.mapper);
        const alphas = await unitFloat(e.alphas);
        expect(alphas.shape).to.deep.equal([ours.length, 77]);
        expectExact(Int32Array.from(ours.flatMap((m) => Array.from(m.mapper))), mapper, e.mapper);
        expectExact(Float32Array.from(ours.flatMap((m) => Array.from(m.alphas))), alphas.data, e.alphas);
      });
    }
  });

  it('global alignment breaks ties left > up > diagonal (values from the official seq_aligner code)', () => {
    expect(Array.from(alignTargetToSource([1, 2], [2, 1]))).to.deep.equal([1, -1]);
    expect(Array.from(alignTargetToSource([1, 2, 3], [3, 2, 1]))).to.deep.equal([2, -1, -1]);
    expect(Array.from(alignTargetToSource([5, 7, 9], [5, 8, 9]))).to.deep.equal([0, -1, 2]);
    expect(Array.from(alignTargetToSource([5, 9], [5, 7, 9]))).to.deep.equal([0, -1, 1]);
    expect(Array.from(alignTargetToSource([4, 4], [4]))).to.deep.equal([0]);
  });

  it('Replace with different word counts is an error suggesting Refine', () => {
    expect(() =>
      replacementMappers(clipTokenizer(), ['a cat riding a bicycle', 'a fluffy cat riding a bicycle']),
    ).to.throw(
      /same number of words: "a cat riding a bicycle" has 5 words, "a fluffy cat riding a bicycle" has 6.*Refine/,
    );
  });

  it('prompts longer than the text encoder are an error', () => {
    const long = Array.from({ length: 80 }, () => 'cat').join(' ');
    expect(() => refinementMappers(clipTokenizer(), ['a cat', long])).to.throw(/82 tokens.*at most 77/);
  });
});
