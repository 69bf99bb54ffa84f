import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFile, rm } from 'node:fs/promises';
import type { Place } from '../src/nn/attention-control.js';
import { AttentionStore } from '../src/ptp/store.js';
import { crossAttentionGrid, tokenLabels } from '../src/ptp/render.js';
import { decodePng, writePng } from '../src/node/png.js';
import { describeRef, fixtureTf, readJson } from './helpers/reference.js';
import { expectClose } from './helpers/close.js';
import { clipTokenizer, ctxOf } from './helpers/ptp.js';

const CASE = 'p2p/p2p_a_attention_store.safetensors';

describeRef('ptp aggregate_attention on the case-a averaged maps', () => {
  const meta = readJson('p2p/index.json').cases.a_attention_store;
  const tol = meta.tolerance['agg_*/avg_*'];

  /** A store holding the official averaged cross maps as one step (so its average is them). */
  async function storeOfAverages(): Promise<AttentionStore> {
    const store = new AttentionStore({ numPrompts: 1 });
    const layers: [Place, number, number][] = [
      ['down', 2, 16],
      ['down', 3, 16],
      ['mid', 0, 8],
      ['up', 0, 16],
      ['up', 1, 16],
      ['up', 2, 16],
    ];
    let layer = 1;
    for (const [place, i, side] of layers) {
      const probs = (await fixtureTf(CASE, `avg_${place}_cross_${i}`)) as tf.Tensor3D;
      store.onAttention(
        probs,
        ctxOf({ isCross: true, step: 0, batch: 1, heads: 8, height: side, width: side, place, layerIndex: layer++ }),
      );
      probs.dispose();
    }
    return store;
  }

  it('aggregateAttention(16, [up, down], cross, 0) and (8, [mid], cross, 0)', async () => {
    const before = tf.memory().numTensors;
    const store = await storeOfAverages();
    for (const [res, from, name] of [
      [16, ['up', 'down'], 'agg_cross_16_up_down'],
      [8, ['mid'], 'agg_cross_8_mid'],
    ] as const) {
      const agg = store.aggregateAttention(res, from, true, 0);
      const exp = await fixtureTf(CASE, name);
      expect(agg.shape).to.deep.equal(exp.shape);
      expectClose(agg, exp, tol, name);
      tf.dispose([agg, exp]);
    }
    expect(() => store.aggregateAttention(32, ['up'], false, 0)).to.throw(
      /no stored self-attention maps of 32×32 in up/,
    );
    store.dispose();
    expect(tf.memory().numTensors).to.equal(before);
  });

  it('renders the per-token maps of the prompt as a labelled PNG', async () => {
    const store = await storeOfAverages();
    const agg = store.aggregateAttention(16, ['up', 'down'], true, 0);
    const prompt = meta.prompts[0];
    const labels = tokenLabels(clipTokenizer(), prompt);
    const img = crossAttentionGrid({ data: await agg.data(), height: 16, width: 16, channels: 77 }, labels);
    const file = join(tmpdir(), `ptp-agg-${process.pid}.png`);
    await writePng(file, img);
    const back = decodePng(await readFile(file));
    await rm(file);
    expect([back.width, back.height]).to.deep.equal([img.width, img.height]);
    expect(back.width).to.equal(labels.length * 128 + (labels.length - 1) * 4);
    expect(Array.from(back.data)).to.deep.equal(Array.from(img.data));
    agg.dispose();
    store.dispose();
  });
});
