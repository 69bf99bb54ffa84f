import { loadWeights } from '../src/nn/load-weights.js';
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { join } from 'node:path';
import { ClipTextModel } from '../src/models/clip/text-model.js';
import { parseClipTextConfig } from '../src/models/clip/config.js';
import { loadClipTokenizer } from '../src/node/clip-tokenizer.js';
import { openWeightFiles } from '../src/node/weights.js';
import type { Residency } from '../src/nn/param.js';
import {
  caseTolerance,
  describeRef,
  fixture,
  fixtureTensor,
  fixtureTf,
  readJson,
  referenceDir,
  ruleTolerance,
  tinySdDir,
} from './helpers/reference.js';
import { expectClose } from './helpers/close.js';
import { expectNoLeak } from './helpers/leaks.js';

const CASE = 'cases/text_encoder.safetensors';

async function tinyModel(residency: Residency = 'resident'): Promise<ClipTextModel> {
  const model = ClipTextModel.fromConfig(
    readJson('tiny-sd/text_encoder/config.json'),
    'tiny-sd/text_encoder/config.json',
  );
  const src = await openWeightFiles(join(tinySdDir, 'text_encoder', 'model.safetensors'));
  await loadWeights(model, src, { residency });
  await src.close();
  return model;
}

async function fixtureIds(file = CASE): Promise<number[][]> {
  const f = await fixture(file);
  const flat = Array.from(await f.readInt32('input_ids'));
  const [b, t] = f.info('input_ids').shape;
  return Array.from({ length: b }, (_, i) => flat.slice(i * t, (i + 1) * t));
}

describeRef('CLIPTextModel (tiny-sd) vs transformers', () => {
  let model: ClipTextModel;
  let ids: number[][];
  before(async () => {
    model = await tinyModel();
    ids = await fixtureIds();
  });
  after(() => model.dispose());

  it('the tokenizer gives the fixture’s input ids for the fixture’s prompts', async () => {
    const tok = await loadClipTokenizer(join(tinySdDir, 'tokenizer'));
    const prompts: string[] = readJson('cases/index.json').cases.text_encoder.prompts;
    expect(tok.call(prompts).inputIds).to.deep.equal(ids);
  });

  it('last_hidden_state, pooler_output, embeddings and every layer output match', async () => {
    const out = model.forward(ids, { outputHiddenStates: true });
    const lastTol = caseTolerance('text_encoder', 'last_hidden_state');
    expect(out.lastHiddenState.shape).to.deep.equal([3, 77, 32]);
    expect(out.poolerOutput.shape).to.deep.equal([3, 32]);
    expectClose(out.lastHiddenState, await fixtureTf(CASE, 'last_hidden_state'), lastTol, 'last_hidden_state');
    expectClose(
      out.poolerOutput,
      await fixtureTf(CASE, 'pooler_output'),
      caseTolerance('text_encoder', 'pooler_output'),
      'pooler_output',
    );
    // index.json gives tolerances for the two outputs only; each intermediate tensor gets the
    // README's rule applied to its own values (embeddings_out, |x| ≤ 0.095 — a gather and an add,
    // float32 error ≤ 1 ulp ≈ 7e-9 — gets the 1e-5 floor), and never more than the
    // last_hidden_state tolerance.
    const names = ['embeddings_out', 'hidden_states.1', 'hidden_states.2', 'hidden_states.3'];
    expect(out.hiddenStates).to.have.length(names.length);
    for (const [k, name] of names.entries()) {
      const exp = await fixtureTensor(CASE, name);
      const rule = ruleTolerance(exp.data);
      const tol = { atol: Math.min(rule.atol, lastTol.atol), rtol: Math.min(rule.rtol, lastTol.rtol) };
      if (name === 'embeddings_out') expect(tol.atol, 'embeddings_out atol').to.equal(1e-5);
      expectClose(out.hiddenStates![k], exp.data, tol, name);
    }
    tf.dispose([out.lastHiddenState, out.poolerOutput, ...out.hiddenStates!]);
  });

  it('accepts the ids as an int32 tensor, and without hidden states returns only the two outputs', async () => {
    const t = tf.tensor2d(ids, [3, 77], 'int32');
    const out = model.forward(t);
    t.dispose();
    expect(out.hiddenStates).to.equal(undefined);
    expectClose(
      out.lastHiddenState,
      await fixtureTf(CASE, 'last_hidden_state'),
      caseTolerance('text_encoder', 'last_hidden_state'),
      'last_hidden_state',
    );
    tf.dispose([out.lastHiddenState, out.poolerOutput]);
  });

  it('gives the same numbers with streamed weights', async () => {
    const streamed = await tinyModel('stream');
    const a = model.forward(ids);
    const b = streamed.forward(ids);
    expect(Array.from(b.lastHiddenState.dataSync())).to.deep.equal(Array.from(a.lastHiddenState.dataSync()));
    expect(Array.from(b.poolerOutput.dataSync())).to.deep.equal(Array.from(a.poolerOutput.dataSync()));
    tf.dispose([a.lastHiddenState, a.poolerOutput, b.lastHiddenState, b.poolerOutput]);
    streamed.dispose();
  });

  it('pools at the first eos_token_id when the config names one (non-legacy configs)', async () => {
    const cfg = { ...readJson('tiny-sd/text_encoder/config.json'), eos_token_id: 49407 };
    const m2 = ClipTextModel.fromConfig(cfg);
    const src = await openWeightFiles(join(tinySdDir, 'text_encoder', 'model.safetensors'));
    await loadWeights(m2, src);
    await src.close();
    const out = m2.forward(ids);
    expectClose(
      out.poolerOutput,
      await fixtureTf(CASE, 'pooler_output'),
      caseTolerance('text_encoder', 'pooler_output'),
      'pooler_output',
    );
    tf.dispose([out.lastHiddenState, out.poolerOutput]);
    m2.dispose();
  });

  it('does not leak tensors', async () => {
    await expectNoLeak('text model forward', () => {
      const out = model.forward(ids, { outputHiddenStates: true });
      return [out.lastHiddenState, out.poolerOutput, ...out.hiddenStates!];
    });
  });

  it('rejects ids outside the vocabulary or longer than the position table', () => {
    expect(() => model.forward([[49406, 49408]])).to.throw(/49408.*vocabulary/);
    expect(() => model.forward([Array.from({ length: 78 }, () => 1)])).to.throw(/78/);
    expect(() => model.forward([[1, 2], [1]])).to.throw(/row 1/);
  });
});

describeRef('CLIPTextModel from the SD-1.5 config', () => {
  it('has exactly the state-dict keys and shapes of sd15-manifest.json', () => {
    const model = ClipTextModel.fromConfig(readJson('sd15-config/text_encoder/config.json'));
    const manifest = readJson('sd15-manifest.json').text_encoder;
    const expected: Record<string, { shape: number[] }> = manifest.state_dict;
    const got = Object.fromEntries([...model.namedParams()].map(([k, p]) => [k, [...p.torchShape]]));
    expect(Object.keys(got).sort()).to.deep.equal(Object.keys(expected).sort());
    for (const [k, v] of Object.entries(expected)) expect(got[k], k).to.deep.equal(v.shape);
    expect(model.numParams()).to.equal(manifest.num_parameters);
    // Nothing is allocated before loading.
    expect([...model.namedParams()].every(([, p]) => !p.isLoaded)).to.equal(true);
    expect(model.config.hiddenAct).to.equal('quick_gelu');
    expect(model.config.eosTokenId).to.equal(undefined);
  });

  it('names a missing or invalid config field', () => {
    const cfg = readJson('sd15-config/text_encoder/config.json');
    const { hidden_size: _drop, ...missing } = cfg;
    expect(() => parseClipTextConfig(missing, 'sd15/text_encoder/config.json')).to.throw(
      /sd15\/text_encoder\/config\.json[\s\S]*missing required field "hidden_size"/,
    );
    expect(() => ClipTextModel.fromConfig({ ...cfg, num_attention_heads: 5 })).to.throw(/not divisible/);
    expect(() => ClipTextModel.fromConfig({ ...cfg, hidden_act: 'swish' })).to.throw(/hidden_act/);
    expect(parseClipTextConfig({ ...cfg, hidden_act: 'gelu', eos_token_id: 49407 })).to.include({
      hiddenAct: 'gelu',
      eosTokenId: 49407,
    });
  });
});

describeRef('CLIPTextModel (tiny-sd2: gelu, pad-"!" tokenizer) vs transformers (case text_encoder_sd2)', () => {
  const SD2 = 'cases/text_encoder_sd2.safetensors';
  const sd2Dir = join(referenceDir, 'tiny-sd2');
  const tol = (name: string) => caseTolerance('text_encoder_sd2', name);
  let model: ClipTextModel;
  let ids: number[][];
  before(async () => {
    model = ClipTextModel.fromConfig(readJson('tiny-sd2/text_encoder/config.json'));
    const src = await openWeightFiles(join(sd2Dir, 'text_encoder', 'model.safetensors'));
    await loadWeights(model, src);
    await src.close();
    ids = await fixtureIds(SD2);
  });
  after(() => model.dispose());

  it('the SD-2 tokenizer gives the fixture’s input ids (pad 0, the "!" inside prompt 0 too)', async () => {
    const tok = await loadClipTokenizer(join(sd2Dir, 'tokenizer'));
    const prompts: string[] = readJson('cases/index.json').cases.text_encoder_sd2.prompts;
    expect(tok.call(prompts).inputIds).to.deep.equal(ids);
    expect(model.config.hiddenAct).to.equal('gelu');
  });

  it('last_hidden_state, pooler_output, embeddings and every layer output match', async () => {
    const out = model.forward(ids, { outputHiddenStates: true });
    expectClose(
      out.lastHiddenState,
      await fixtureTf(SD2, 'last_hidden_state'),
      tol('last_hidden_state'),
      'last_hidden_state',
    );
    expectClose(out.poolerOutput, await fixtureTf(SD2, 'pooler_output'), tol('pooler_output'), 'pooler_output');
    // embeddings_out has no tolerance of its own: the README's rule on its own values.
    const emb = await fixtureTensor(SD2, 'embeddings_out');
    expectClose(out.hiddenStates![0], emb.data, ruleTolerance(emb.data), 'embeddings_out');
    for (const k of [1, 2, 3])
      expectClose(
        out.hiddenStates![k],
        await fixtureTf(SD2, `hidden_states.${k}`),
        tol(`hidden_states.${k}`),
        `hidden_states.${k}`,
      );
    tf.dispose([out.lastHiddenState, out.poolerOutput, ...out.hiddenStates!]);
  });

  it('clip skip 1 gives penultimate_normed (diffusers encode_prompt(clip_skip=1)) and runs one layer less', async () => {
    const out = model.forward(ids, { clipSkip: 1, outputHiddenStates: true });
    expectClose(
      out.lastHiddenState,
      await fixtureTf(SD2, 'penultimate_normed'),
      tol('penultimate_normed'),
      'penultimate_normed',
    );
    expect(out.hiddenStates).to.have.length(3);
    tf.dispose([out.lastHiddenState, out.poolerOutput, ...out.hiddenStates!]);
    const before = tf.memory().numTensors;
    tf.dispose(Object.values(model.forward(ids, { clipSkip: 2 })));
    expect(tf.memory().numTensors).to.equal(before);
    expect(() => model.forward(ids, { clipSkip: 3 })).to.throw(
      /clip skip must be an integer in 0\.\.2 \(the text encoder has 3 layers\), got 3/,
    );
    expect(() => model.forward(ids, { clipSkip: -1 })).to.throw(/clip skip/);
  });
});
