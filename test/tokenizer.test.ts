import { expect } from 'chai';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { ClipTokenizer, type ClipEncoding, type TruncationInfo } from '../src/models/clip/tokenizer.js';
import { loadClipTokenizer } from '../src/node/clip-tokenizer.js';
import { tokenizerOptionsFromFiles } from '../src/models/clip/tokenizer-config.js';
import { describeRef, readJson, referenceDir, tinySdDir } from './helpers/reference.js';

interface TokenizerCase {
  prompt: string;
  input_ids: number[];
  attention_mask: number[];
  ids_no_padding_no_truncation: number[];
  tokens: string[];
  input_ids_without_ftfy: number[];
  differs_without_ftfy: boolean;
}

/** encode, tokens, input_ids and attention_mask of one fixture prompt; returns the padded encoding. */
function expectCase(tok: ClipTokenizer, c: TokenizerCase): ClipEncoding {
  expect(tok.encode(c.prompt), 'encode').to.deep.equal(c.ids_no_padding_no_truncation);
  expect(
    [tok.idToToken(tok.bosTokenId), ...tok.tokenize(c.prompt), tok.idToToken(tok.eosTokenId)],
    'tokens',
  ).to.deep.equal(c.tokens);
  const one = tok.call([c.prompt]);
  expect(one.inputIds[0], 'input_ids').to.deep.equal(c.input_ids);
  expect(one.attentionMask[0], 'attention_mask').to.deep.equal(c.attention_mask);
  return one;
}

describeRef('CLIP tokenizer vs transformers CLIPTokenizer (slow, with ftfy)', () => {
  const ref = readJson('cases/index.json').tokenizer;
  const cases: TokenizerCase[] = ref.cases;
  let tok: ClipTokenizer;
  const noWarn = () => {};

  before(async () => {
    tok = await loadClipTokenizer(join(tinySdDir, 'tokenizer'), { onTruncate: noWarn });
  });

  it('has CLIP’s special ids, lengths and vocabulary size', () => {
    expect(tok.bosTokenId).to.equal(ref.bos_token_id);
    expect(tok.eosTokenId).to.equal(ref.eos_token_id);
    expect(tok.padTokenId).to.equal(ref.pad_token_id);
    expect(tok.modelMaxLength).to.equal(ref.model_max_length);
    expect(tok.vocabSize).to.equal(49408);
  });

  it('gives the same ids when built from the text of the sd15-config files', () => {
    const dir = join(referenceDir, 'sd15-config', 'tokenizer');
    const t2 = ClipTokenizer.fromFiles(
      readFileSync(join(dir, 'vocab.json'), 'utf8'),
      readFileSync(join(dir, 'merges.txt'), 'utf8'),
      { onTruncate: noWarn },
    );
    for (const c of cases) expect(t2.encode(c.prompt), c.prompt).to.deep.equal(c.ids_no_padding_no_truncation);
  });

  describe('the 20 fixture prompts', () => {
    for (const [i, c] of (readJson('cases/index.json').tokenizer.cases as TokenizerCase[]).entries()) {
      it(`#${i} ${JSON.stringify(c.prompt).slice(0, 70)}`, () => {
        const one = expectCase(tok, c);
        // The fixture's ids are those of the ftfy path; the CJK prompt is the one where transformers'
        // no-ftfy fallback differs, and we match the ftfy ids there too.
        if (c.differs_without_ftfy) expect(one.inputIds[0]).to.not.deep.equal(c.input_ids_without_ftfy);
      });
    }
  });

  it('encodes the whole batch in one call, truncating the over-long prompts with a report each', () => {
    const reports: TruncationInfo[] = [];
    const enc = tok.call(
      cases.map((c) => c.prompt),
      { onTruncate: (t) => reports.push(t) },
    );
    expect(enc.inputIds).to.deep.equal(cases.map((c) => c.input_ids));
    expect(enc.attentionMask).to.deep.equal(cases.map((c) => c.attention_mask));
    const long = cases.map((c, i) => [c, i] as const).filter(([c]) => c.ids_no_padding_no_truncation.length > 77);
    expect(long.length).to.equal(2);
    expect(enc.truncated).to.deep.equal(cases.map((c) => c.ids_no_padding_no_truncation.length > 77));
    expect(reports.map((r) => r.index)).to.deep.equal(long.map(([, i]) => i));
    for (const [r, [c]] of reports.map((r, k) => [r, long[k]] as const)) {
      expect(r.prompt).to.equal(c.prompt);
      expect(r.numTokens).to.equal(c.ids_no_padding_no_truncation.length);
      expect(r.maxLength).to.equal(77);
      expect(r.dropped).to.equal(c.ids_no_padding_no_truncation.length - 77);
      expect(r.droppedText).to.equal(tok.decode(c.ids_no_padding_no_truncation.slice(76, -1)));
    }
    // The EOS stays at the end of a truncated row.
    for (const [, i] of long) expect(enc.inputIds[i][76]).to.equal(tok.eosTokenId);
  });

  it('warns through the library log by default, naming the prompt and the dropped count', () => {
    const t = ClipTokenizer.fromFiles(
      readFileSync(join(tinySdDir, 'tokenizer', 'vocab.json'), 'utf8'),
      readFileSync(join(tinySdDir, 'tokenizer', 'merges.txt'), 'utf8'),
    );
    const prompt = cases.find((c) => c.prompt.startsWith('the quick brown fox'))!;
    const seen: string[] = [];
    const orig = console.warn;
    console.warn = (...a: unknown[]) => void seen.push(a.join(' '));
    try {
      t.call([prompt.prompt]);
      t.call(['a short prompt']);
    } finally {
      console.warn = orig;
    }
    expect(seen).to.have.length(1);
    expect(seen[0])
      .to.include('the quick brown fox')
      .and.include(`${prompt.ids_no_padding_no_truncation.length - 77} tokens were dropped`);
  });

  it('supports padding "none" and truncation off', () => {
    const longCase = cases.find((c) => c.ids_no_padding_no_truncation.length > 77)!;
    const short = cases[0];
    const enc = tok.call([short.prompt, longCase.prompt], { padding: 'none', truncation: false });
    expect(enc.inputIds).to.deep.equal([short.ids_no_padding_no_truncation, longCase.ids_no_padding_no_truncation]);
    expect(enc.attentionMask[0]).to.deep.equal(short.ids_no_padding_no_truncation.map(() => 1));
    expect(enc.truncated).to.deep.equal([false, false]);
    const cut = tok.call([longCase.prompt], { padding: 'none', maxLength: 10 });
    expect(cut.inputIds[0]).to.deep.equal([...longCase.ids_no_padding_no_truncation.slice(0, 9), tok.eosTokenId]);
  });

  describe('decode', () => {
    it('decodes a single id to that token’s text (as get_word_inds uses it)', () => {
      for (const c of cases) {
        c.ids_no_padding_no_truncation.forEach((id, k) => {
          const token = c.tokens[k];
          // ASCII tokens are their own text; others are UTF-8 bytes in the byte alphabet.
          if (/^[\x21-\x7e]+$/.test(token)) expect(tok.decode([id]), token).to.equal(token.replace(/<\/w>$/, ''));
        });
      }
      expect(tok.decode([320])).to.equal('a');
      expect(tok.decode([8853])).to.equal('photograph');
      expect(tok.decode([568])).to.equal("'s");
    });

    it('joins pieces, turns </w> into spaces and strips (HF semantics)', () => {
      const p0 = cases[0];
      expect(tok.decode(p0.ids_no_padding_no_truncation)).to.equal(`<|startoftext|>${p0.prompt} <|endoftext|>`);
      expect(tok.decode(p0.ids_no_padding_no_truncation, { skipSpecialTokens: true })).to.equal(p0.prompt);
      const cjk = cases.find((c) => c.differs_without_ftfy)!;
      expect(tok.decode(cjk.ids_no_padding_no_truncation.slice(1, -1))).to.equal(cjk.prompt);
      // A piece holding part of a character's UTF-8 bytes decodes to U+FFFD.
      const partial = cjk.tokens.indexOf('ŀ');
      expect(tok.decode([cjk.ids_no_padding_no_truncation[partial]])).to.equal('\ufffd');
      expect(() => tok.decode([49408])).to.throw(/49408/);
    });
  });

  describe('ftfy.fix_text parts (each equivalence checked against transformers + ftfy 6.3.1)', () => {
    const same = (a: string, b: string) => expect(tok.encode(a), JSON.stringify(a)).to.deep.equal(tok.encode(b));
    it('HTML character references (repeatedly, but not on a line with "<")', () => {
      same('Tom &amp; Jerry', 'Tom & Jerry');
      same('Tom &amp;amp; Jerry', 'Tom & Jerry');
      same('rock &#39;n&#x27; roll &quot;x&quot;', 'rock \'n\' roll "x"');
      same('P&EACUTE;REZ &ntilde;', 'PÉREZ ñ');
      same('<b> &amp; co', '<b> & amp ; co');
      same('a &amp; b\n<c> &amp; d', 'a & b\n<c> & amp ; d');
      same('this&not that &#59;', 'this & not that &# 5 9 ;');
    });
    it('curly quotes, ligatures, character width, C1 controls, controls, NFC', () => {
      same('“Hello” it’s ‘fine’', "\"hello\" it's 'fine'");
      same('ﬁsh ﬂower ﬃ', 'fish flower ffi');
      same('ＦＵＬＬ　ｗｉｄｔｈ！ １２', 'full width! 12');
      same('ﾃｽﾄ', 'テスト');
      same('\x93quoted\x94 \x85', '"quoted" …');
      same('ctrl\x00\x07\x1b[31mred\x1b[0m\ufeff', 'ctrlred');
      same('cafe\u0301 re\u0301sume\u0301', 'café résumé');
      same('crlf\r\nx\u2028y', 'crlf x y');
    });
    it('special-token literals: exact ones are split out first; other case forms are found after cleaning', () => {
      expect(tok.encode('a!<|endoftext|>b')).to.deep.equal([
        49406,
        ...tok.encode('a!').slice(1, -1),
        49407,
        ...tok.encode('b').slice(1, -1),
        49407,
      ]);
      expect(tok.encode('<|ENDOFTEXT|>x')).to.deep.equal([49406, 49407, ...tok.encode('x').slice(1, -1), 49407]);
    });
  });
});

interface Sd2TokenizerCase extends TokenizerCase {
  input_ids_sd15: number[];
  differs_from_sd15_before_padding: boolean;
}

describeRef('SD-2 CLIP tokenizer (pad "!") vs transformers (cases: tokenizer_sd2)', () => {
  const ref = readJson('cases/index.json').tokenizer_sd2;
  const cases: Sd2TokenizerCase[] = ref.cases;
  const dir = join(referenceDir, 'sd21-config', 'tokenizer');
  let tok: ClipTokenizer;
  let sd15: ClipTokenizer;
  const noWarn = () => {};

  before(async () => {
    tok = await loadClipTokenizer(dir, { onTruncate: noWarn });
    sd15 = await loadClipTokenizer(join(tinySdDir, 'tokenizer'), { onTruncate: noWarn });
  });

  it('pads with "!" (id 0): special_tokens_map.json overrides tokenizer_config.json', () => {
    expect(readJson('sd21-config/tokenizer/tokenizer_config.json').pad_token).to.equal('<|endoftext|>');
    expect(tok.padToken).to.equal(ref.pad_token);
    expect(tok.padTokenId).to.equal(ref.pad_token_id);
    expect(tok.bosTokenId).to.equal(ref.bos_token_id);
    expect(tok.eosTokenId).to.equal(ref.eos_token_id);
    expect(tok.modelMaxLength).to.equal(ref.model_max_length);
  });

  it('resolves the pad token from the two files as transformers does (the four combinations of the fixture)', () => {
    const cfg = readJson('sd21-config/tokenizer/tokenizer_config.json');
    const map = readJson('sd21-config/tokenizer/special_tokens_map.json');
    const id = (t: string | undefined) => (t === '!' ? 0 : 49407);
    const combos: [string, Record<string, unknown>, Record<string, unknown> | undefined][] = [
      ["sd21 files (config '<|endoftext|>', map '!')", cfg, map],
      ["swapped (config '!', map '<|endoftext|>')", { ...cfg, pad_token: '!' }, { ...map, pad_token: '<|endoftext|>' }],
      ["no special_tokens_map.json (config '<|endoftext|>')", cfg, undefined],
      ["no special_tokens_map.json (config '!')", { ...cfg, pad_token: '!' }, undefined],
    ];
    for (const [name, c, m] of combos) {
      const want = ref.pad_token_source[name];
      const got = tokenizerOptionsFromFiles(c, m).padToken;
      expect(got, name).to.equal(want['resolved pad_token']);
      expect(id(got), name).to.equal(want.pad_token_id);
    }
    expect(() => tokenizerOptionsFromFiles(cfg, { pad_token: 5 })).to.throw(
      /special_tokens_map\.json: "pad_token" must be a string/,
    );
  });

  describe(`the ${cases.length} fixture prompts (ids, tokens, mask; SD-1.5 ids differ where the fixture says)`, () => {
    for (const [i, c] of (readJson('cases/index.json').tokenizer_sd2.cases as Sd2TokenizerCase[]).entries()) {
      it(`#${i} ${JSON.stringify(c.prompt).slice(0, 70)}`, () => {
        expectCase(tok, c);
        const old = sd15.call([c.prompt]).inputIds[0];
        expect(old, 'input_ids_sd15').to.deep.equal(c.input_ids_sd15);
        expect(
          sd15.encode(c.prompt).join() !== c.ids_no_padding_no_truncation.join(),
          'differs before padding',
        ).to.equal(c.differs_from_sd15_before_padding);
      });
    }
  });

  it('decodes the pad token as "!" and drops it with skipSpecialTokens', () => {
    const ids = tok.encode('hello!world');
    expect(tok.decode([0])).to.equal('!');
    expect(tok.decode(ids, { skipSpecialTokens: true })).to.equal('hello world');
  });

  it('a pad token missing from the vocabulary is a clear error', () => {
    const vocab = readFileSync(join(dir, 'vocab.json'), 'utf8');
    const merges = readFileSync(join(dir, 'merges.txt'), 'utf8');
    expect(() => ClipTokenizer.fromFiles(vocab, merges, { padToken: '<pad>' })).to.throw(
      /vocab\.json has no "<pad>" token/,
    );
  });
});
