import { loadWeights } from '../src/nn/load-weights.js';
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { join } from 'node:path';
import { ClipTextModel } from '../src/models/clip/text-model.js';
import { parseClipTextConfig } from '../src/models/clip/config.js';
import { loadClipTokenizer } from '../src/node/clip-tokenizer.js';
import { openWeightFiles } from '../src/node/weights.js';
import type { Residency } from '../src/nn/param.js';
import { caseTolerance, describeRef, fixture, fixtureTf, readJson, tinySdDir } from './helpers/reference.js';
import { expectClose } from './helpers/close.js';
import { expectNoLeak } from './helpers/leaks.js';

const CASE = 'cases/text_encoder.safetensors';

async function tinyModel(residency: Residency = 'resident'): Promise<ClipTextModel> {
  const model = ClipTextModel.fromConfig(readJson('tiny-sd/text_encoder/config.json'), 'tiny-sd/text_encoder/config.json');
  const src = await openWeightFiles(join(tinySdDir, 'text_encoder', 'model.safetensors'));
  await loadWeights(model, src, { residency });
  await src.close();
  return model;
}

async function fixtureIds(): Promise<number[][]> {
  const f = await fixture(CASE);
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
    expectClose(out.poolerOutput, await fixtureTf(CASE, 'pooler_output'), caseTolerance('text_encoder', 'pooler_output'), 'pooler_output');
    // index.json gives tolerances for the two outputs only; the intermediate tensors are held to
    // the last_hidden_state tolerance of the same case.
    const names = ['embeddings_out', 'hidden_states.1', 'hidden_states.2', 'hidden_states.3'];
    expect(out.hiddenStates).to.have.length(names.length);
    for (const [k, name] of names.entries()) {
      const exp = await fixtureTf(CASE, name);
      expectClose(out.hiddenStates![k], exp, lastTol, name);
      exp.dispose();
    }
    tf.dispose([out.lastHiddenState, out.poolerOutput, ...out.hiddenStates!]);
  });

  it('accepts the ids as an int32 tensor, and without hidden states returns only the two outputs', async () => {
    const t = tf.tensor2d(ids, [3, 77], 'int32');
    const out = model.forward(t);
    t.dispose();
    expect(out.hiddenStates).to.equal(undefined);
    expectClose(out.lastHiddenState, await fixtureTf(CASE, 'last_hidden_state'), caseTolerance('text_encoder', 'last_hidden_state'), 'last_hidden_state');
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
    expectClose(out.poolerOutput, await fixtureTf(CASE, 'pooler_output'), caseTolerance('text_encoder', 'pooler_output'), 'pooler_output');
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
    expect(() => parseClipTextConfig(missing, 'sd15/text_encoder/config.json')).to.throw(/sd15\/text_encoder\/config\.json[\s\S]*missing required field "hidden_size"/);
    expect(() => ClipTextModel.fromConfig({ ...cfg, num_attention_heads: 5 })).to.throw(/not divisible/);
    expect(() => ClipTextModel.fromConfig({ ...cfg, hidden_act: 'swish' })).to.throw(/hidden_act/);
    expect(parseClipTextConfig({ ...cfg, hidden_act: 'gelu', eos_token_id: 49407 })).to.include({ hiddenAct: 'gelu', eosTokenId: 49407 });
  });
});
