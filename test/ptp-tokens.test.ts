import { expect } from 'chai';
import { requireWordTokens, wordTokenIndices } from '../src/ptp/tokens.js';
import { describeRef } from './helpers/reference.js';
import { clipTokenizer, unitMeta } from './helpers/ptp.js';

describeRef('ptp tokens: get_word_inds parity (g_unit)', () => {
  it('the CLIP tokenizer gives the recorded input ids of every unit prompt', () => {
    const tok = clipTokenizer();
    const meta = unitMeta();
    const seen = new Map<string, number[]>();
    for (const e of meta.word_inds) seen.set(e.text, e.input_ids);
    for (const group of [meta.replacement_mapper, meta.refinement_mapper]) {
      for (const e of group) e.prompts.forEach((p: string, i: number) => seen.set(p, e.input_ids[i]));
    }
    for (const [text, ids] of seen) expect(tok.encode(text), text).to.deep.equal(ids);
  });

  for (const e of unitMeta().word_inds) {
    it(`"${e.text}", ${JSON.stringify(e.word_place)} → [${e.inds}]`, () => {
      expect(wordTokenIndices(clipTokenizer(), e.text, e.word_place)).to.deep.equal(e.inds);
    });
  }

  it('an absent word is an error naming the word and the prompt', () => {
    expect(() => requireWordTokens(clipTokenizer(), 'a cat riding a bicycle', 'horse', 'LocalBlend')).to.throw(
      /LocalBlend: word "horse" is not in the prompt "a cat riding a bicycle"/,
    );
    expect(() => requireWordTokens(clipTokenizer(), 'a cat', 5, 'equalizer')).to.throw(
      /word index 5 .*2 words.*"a cat"/,
    );
  });
});
