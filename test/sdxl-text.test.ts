/**
 * SD-XL's text side vs diffusers/transformers on tiny-sdxl: both tokenizers (cases tokenizer_sdxl,
 * the second pads with "!"), CLIPTextModel and CLIPTextModelWithProjection (case text_encoder_sdxl:
 * every layer, the pooled and projected outputs) and the dual prompt encoder (penultimate layers
 * concatenated, clip skip, the pooled embedding of the second encoder).
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClipTextModel, ClipTextModelWithProjection } from '../src/models/clip/text-model.js';
import { DualClipPromptEncoder } from '../src/models/clip/dual-prompt-encoder.js';
import type { ClipTokenizer } from '../src/models/clip/tokenizer.js';
import { loadClipTokenizer } from '../src/node/clip-tokenizer.js';
import { openWeightFiles } from '../src/node/weights.js';
import { loadWeights } from '../src/nn/load-weights.js';
import { loadPipelineFromDirectory } from '../src/node/pipeline.js';
import { caseTolerance, describeRef, fixture, fixtureTf, readJson, referenceDir } from './helpers/reference.js';
import { expectClose } from './helpers/close.js';
import { expectNoLeak } from './helpers/leaks.js';
import { tempDirForSuite } from './helpers/tmp.js';

const DIR = join(referenceDir, 'tiny-sdxl');
const CASE = 'cases/text_encoder_sdxl.safetensors';

interface SdxlTokenizerCase {
  prompt: string;
  input_ids: number[];
  attention_mask: number[];
  input_ids_2: number[];
  attention_mask_2: number[];
  ids_no_padding_no_truncation: number[];
  ids_2_no_padding_no_truncation: number[];
  tokens: string[];
  tokens_2: string[];
  truncated: boolean;
  same_ids_before_padding: boolean;
}

async function idsOf(name: string): Promise<number[][]> {
  const f = await fixture(CASE);
  const flat = Array.from(await f.readInt32(name));
  const [b, t] = f.info(name).shape;
  return Array.from({ length: b }, (_, i) => flat.slice(i * t, (i + 1) * t));
}

async function loadText<T extends ClipTextModel>(
  make: (json: unknown, where: string) => T,
  component: string,
): Promise<T> {
  const model = make(readJson(`tiny-sdxl/${component}/config.json`), `tiny-sdxl/${component}/config.json`);
  const src = await openWeightFiles(join(DIR, component, 'model.safetensors'));
  await loadWeights(model, src);
  await src.close();
  return model;
}

describeRef('SD-XL tokenizers (tiny-sdxl tokenizer and tokenizer_2) vs transformers (tokenizer_sdxl)', () => {
  const ref = readJson('cases/index.json').tokenizer_sdxl;
  const cases: SdxlTokenizerCase[] = ref.cases;
  let tok: ClipTokenizer;
  let tok2: ClipTokenizer;
  before(async () => {
    tok = await loadClipTokenizer(join(DIR, 'tokenizer'), { onTruncate: () => {} });
    tok2 = await loadClipTokenizer(join(DIR, 'tokenizer_2'), { onTruncate: () => {} });
  });

  it('tokenizer pads with <|endoftext|> (49407), tokenizer_2 with "!" (0); both take 77 tokens', () => {
    expect([tok.padToken, tok.padTokenId, tok.modelMaxLength]).to.deep.equal([
      ref.tokenizer.pad_token,
      ref.tokenizer.pad_token_id,
      77,
    ]);
    expect([tok2.padToken, tok2.padTokenId, tok2.modelMaxLength]).to.deep.equal([
      ref.tokenizer_2.pad_token,
      ref.tokenizer_2.pad_token_id,
      77,
    ]);
  });

  for (const [i, c] of cases.entries()) {
    it(`#${i} ${JSON.stringify(c.prompt).slice(0, 60)}: ids, tokens and masks of both tokenizers`, () => {
      expect(tok.encode(c.prompt), 'encode').to.deep.equal(c.ids_no_padding_no_truncation);
      expect(tok2.encode(c.prompt), 'encode (tokenizer_2)').to.deep.equal(c.ids_2_no_padding_no_truncation);
      expect([tok.idToToken(tok.bosTokenId), ...tok.tokenize(c.prompt), tok.idToToken(tok.eosTokenId)]).to.deep.equal(
        c.tokens,
      );
      expect([
        tok2.idToToken(tok2.bosTokenId),
        ...tok2.tokenize(c.prompt),
        tok2.idToToken(tok2.eosTokenId),
      ]).to.deep.equal(c.tokens_2);
      const a = tok.call([c.prompt]);
      const b = tok2.call([c.prompt]);
      expect(a.inputIds[0], 'input_ids').to.deep.equal(c.input_ids);
      expect(a.attentionMask[0], 'attention_mask').to.deep.equal(c.attention_mask);
      expect(b.inputIds[0], 'input_ids_2').to.deep.equal(c.input_ids_2);
      expect(b.attentionMask[0], 'attention_mask_2').to.deep.equal(c.attention_mask_2);
      expect(a.truncated[0]).to.equal(c.truncated);
      expect(tok.encode(c.prompt).join() === tok2.encode(c.prompt).join(), 'same ids before padding').to.equal(
        c.same_ids_before_padding,
      );
    });
  }
});

describeRef('SD-XL text encoders (tiny-sdxl) vs transformers (text_encoder_sdxl)', () => {
  const tol = (name: string) => caseTolerance('text_encoder_sdxl', name);
  let te1: ClipTextModel;
  let te2: ClipTextModelWithProjection;
  let ids: number[][];
  let ids2: number[][];
  before(async () => {
    te1 = await loadText(ClipTextModel.fromConfig, 'text_encoder');
    te2 = await loadText(ClipTextModelWithProjection.fromConfig, 'text_encoder_2');
    ids = await idsOf('input_ids');
    ids2 = await idsOf('input_ids_2');
  });
  after(() => {
    te1?.dispose();
    te2?.dispose();
  });

  it('text_encoder_2 is a CLIPTextModelWithProjection: text_model.* plus text_projection.weight [10, 12]', () => {
    const keys = [...te2.namedParams()].map(([k]) => k);
    expect(keys.at(-1)).to.equal('text_projection.weight');
    expect([...te2.textProjection.weight.torchShape]).to.deep.equal([10, 12]);
    expect(te2.textProjection.bias).to.equal(undefined);
    expect(keys.slice(0, -1)).to.deep.equal([...te1.namedParams()].map(([k]) => k));
  });

  for (const [name, which] of [
    ['text_encoder', 1],
    ['text_encoder_2', 2],
  ] as const) {
    it(`${name}: embeddings, every layer, last_hidden_state and the pooled output`, async () => {
      const model = which === 1 ? te1 : te2;
      const out = model.forward(which === 1 ? ids : ids2, { outputHiddenStates: true });
      const layers = ['embeddings_out', 'hidden_states.1', 'hidden_states.2', 'hidden_states.3'];
      expect(out.hiddenStates).to.have.length(4);
      // index.json has no tolerance for embeddings_out: it is held to that of hidden_states.1.
      for (const [k, layer] of layers.entries()) {
        expectClose(
          out.hiddenStates![k],
          await fixtureTf(CASE, `${name}.${layer}`),
          tol(`${name}.${k === 0 ? 'hidden_states.1' : layer}`),
          `${name}.${layer}`,
        );
      }
      expectClose(
        out.lastHiddenState,
        await fixtureTf(CASE, `${name}.last_hidden_state`),
        tol(`${name}.last_hidden_state`),
        'last_hidden_state',
      );
      // The pooled output (taken at the first end-of-text token: argmax of the ids for both pad conventions).
      const pooledTol = which === 1 ? tol('text_encoder.pooler_output') : tol('text_encoder_2.text_embeds');
      expectClose(out.poolerOutput, await fixtureTf(CASE, `${name}.pooler_output`), pooledTol, 'pooler_output');
      tf.dispose([out.lastHiddenState, out.poolerOutput, ...out.hiddenStates!]);
      if ('textEmbeds' in out) (out.textEmbeds as tf.Tensor).dispose();
    });
  }

  it('text_encoder_2.text_embeds = text_projection(pooler_output)', async () => {
    const out = te2.forward(ids2);
    expectClose(
      out.textEmbeds,
      await fixtureTf(CASE, 'text_encoder_2.text_embeds'),
      tol('text_encoder_2.text_embeds'),
      'text_embeds',
    );
    tf.dispose([out.lastHiddenState, out.poolerOutput, out.textEmbeds]);
  });

  describe('DualClipPromptEncoder (StableDiffusionXLPipeline.encode_prompt)', () => {
    let enc: DualClipPromptEncoder;
    const prompts = (): string[] => readJson('cases/index.json').cases.text_encoder_sdxl.prompts;
    before(async () => {
      const tok = await loadClipTokenizer(join(DIR, 'tokenizer'));
      const tok2 = await loadClipTokenizer(join(DIR, 'tokenizer_2'));
      expect(tok.call(prompts()).inputIds).to.deep.equal(ids);
      expect(tok2.call(prompts()).inputIds).to.deep.equal(ids2);
      enc = new DualClipPromptEncoder(tok, te1, tok2, te2);
    });

    it('prompt_embeds = cat(penultimate layers without final LayerNorm) [3, 77, 8 + 12]; pooled = text_embeds of encoder 2', async () => {
      const { embeds, pooled } = enc.encodePooled(prompts());
      expect(embeds.shape).to.deep.equal([3, 77, 20]);
      expectClose(embeds, await fixtureTf(CASE, 'prompt_embeds'), tol('prompt_embeds'), 'prompt_embeds');
      expectClose(
        pooled,
        await fixtureTf(CASE, 'pooled_prompt_embeds'),
        tol('text_encoder_2.text_embeds'),
        'pooled_prompt_embeds',
      );
      tf.dispose([embeds, pooled]);
    });

    it('clip skip 1 takes hidden_states[-3] of both encoders; the pooled embedding stays that of the whole encoder', async () => {
      const { embeds, pooled } = enc.encodePooled(prompts(), { clipSkip: 1 });
      expectClose(
        embeds,
        await fixtureTf(CASE, 'prompt_embeds_clip_skip1'),
        tol('prompt_embeds'),
        'prompt_embeds_clip_skip1',
      );
      expectClose(pooled, await fixtureTf(CASE, 'pooled_prompt_embeds'), tol('text_encoder_2.text_embeds'), 'pooled');
      tf.dispose([embeds, pooled]);
      expect(() => enc.encode(['a'], { clipSkip: 3 })).to.throw(/clip skip must be an integer in 0\.\.2/);
    });

    it('"" is encoded like any prompt (negative_prompt_embeds_empty_string)', async () => {
      const { embeds, pooled } = enc.encodePooled(['', '', '']);
      expectClose(
        embeds,
        await fixtureTf(CASE, 'negative_prompt_embeds_empty_string'),
        tol('prompt_embeds'),
        'negative_prompt_embeds',
      );
      expectClose(
        pooled,
        await fixtureTf(CASE, 'negative_pooled_prompt_embeds_empty_string'),
        tol('text_encoder_2.text_embeds'),
        'negative pooled',
      );
      tf.dispose([embeds, pooled]);
    });

    it('does not leak tensors', async () => {
      await expectNoLeak('dual prompt encoder', () => {
        const r = enc.encodePooled(['a cat', 'a dog!']);
        return [r.embeds, r.pooled, enc.encode(['x'])];
      });
    });

    it('context lengths: each tokenizer must match its text encoder, and both tokenizers each other (one-line errors)', async () => {
      const tok = await loadClipTokenizer(join(DIR, 'tokenizer'));
      const tok2Short = await loadClipTokenizer(join(DIR, 'tokenizer_2'), { modelMaxLength: 16 });
      expect(() => new DualClipPromptEncoder(tok, te1, tok2Short, te2)).to.throw(
        /^the second tokenizer: model_max_length 16 does not match max_position_embeddings 77 of the second text encoder/,
      );
      const te2Short = ClipTextModelWithProjection.fromConfig({
        ...JSON.parse(readFileSync(join(DIR, 'text_encoder_2', 'config.json'), 'utf8')),
        max_position_embeddings: 16,
      });
      try {
        expect(() => new DualClipPromptEncoder(tok, te1, tok2Short, te2Short)).to.throw(
          /^the second tokenizer: model_max_length 16 differs from 77 of the tokenizer \(the two encoders' states are concatenated per token\)$/,
        );
      } finally {
        te2Short.dispose();
      }
      expect(enc.contextLength).to.equal(77);
    });
  });
});

describeRef('SD-XL model directory: tokenizer_2 checked against text_encoder_2 before any weight loads', function () {
  this.timeout(60000);
  const tmp = tempDirForSuite('sdxl-ctx');

  it('a tokenizer_2 of another length than text_encoder_2: one line naming both files', async () => {
    const dir = join(tmp(), 'tiny-sdxl');
    cpSync(DIR, dir, { recursive: true });
    const file = join(dir, 'tokenizer_2', 'tokenizer_config.json');
    writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), model_max_length: 16 }));
    let err: Error | undefined;
    await loadPipelineFromDirectory(dir).catch((e: Error) => (err = e));
    expect(err?.message).to.equal(
      `${dir}/tokenizer_2/tokenizer_config.json: model_max_length 16 does not match max_position_embeddings 77 of ${dir}/text_encoder_2/config.json (a tokenizer_config.json without model_max_length means 77)`,
    );
  });
});
