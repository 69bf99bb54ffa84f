import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { join } from 'node:path';
import { Transformer2DModel } from '../src/nn/transformer.js';
import { BasicTransformerBlock } from '../src/nn/transformer-block.js';
import { FeedForward } from '../src/nn/feed-forward.js';
import type { AttentionContext, AttentionController } from '../src/nn/attention-control.js';
import { PrefixedWeightSource, type WeightSource } from '../src/io/weights.js';
import { loadWeights } from '../src/nn/load-weights.js';
import { openWeightFiles } from '../src/node/weights.js';
import { caseTolerance, describeRef, fixtureNhwc, fixtureTf, tinySdDir } from './helpers/reference.js';
import { expectClose } from './helpers/close.js';
import { expectNoLeak } from './helpers/leaks.js';

const FILE = 'cases/attention.safetensors';
const PREFIX = 'down_blocks.2.attentions.0.';

/** Records the context of every attention call without changing anything. */
class Probe implements AttentionController {
  seen: AttentionContext[] = [];
  wantsProbs(ctx: AttentionContext) {
    this.seen.push(ctx);
    return false;
  }
  onAttention(probs: tf.Tensor3D) {
    return probs;
  }
}

describeRef(
  'Transformer2DModel / BasicTransformerBlock (tiny-sd down_blocks.2.attentions.0, 16×16) vs reference',
  () => {
    let src: WeightSource & { close(): Promise<void> };
    let context: tf.Tensor3D;
    before(async () => {
      src = await openWeightFiles(join(tinySdDir, 'unet', 'diffusion_pytorch_model.safetensors'));
      context = (await fixtureTf(FILE, 'attn2.encoder_hidden_states')) as tf.Tensor3D;
    });
    after(async () => {
      context.dispose();
      await src.close();
    });

    it('BasicTransformerBlock: basic_block.in → basic_block.out', async () => {
      const block = new BasicTransformerBlock({ dim: 64, heads: 8, dimHead: 8, crossAttentionDim: 32 });
      await loadWeights(block, new PrefixedWeightSource(src, `${PREFIX}transformer_blocks.0.`));
      const x = (await fixtureTf(FILE, 'basic_block.in')) as tf.Tensor3D;
      const out = block.forward(x, context, {}, { height: 16, width: 16 });
      const exp = await fixtureTf(FILE, 'basic_block.out');
      expectClose(out, exp, caseTolerance('attention', 'basic_block.out'), 'basic_block.out');
      tf.dispose([x, out, exp]);
      block.dispose();
    });

    it('Transformer2DModel (GroupNorm eps 1e-6, 1×1 conv projections, residual): transformer2d.in → out, controller sees attn1/attn2 at 16×16', async () => {
      const model = new Transformer2DModel({
        heads: 8,
        dimHead: 8,
        inChannels: 64,
        crossAttentionDim: 32,
        normNumGroups: 8,
      });
      await loadWeights(model, new PrefixedWeightSource(src, PREFIX));
      const x = await fixtureNhwc(FILE, 'transformer2d.in');
      const probe = new Probe();
      const out = model.forward(x, context, { controller: probe, step: 7 });
      // A warmed-up call allocates nothing beyond its output (the first one caches derived weights).
      await expectNoLeak('Transformer2DModel.forward', () => model.forward(x, context), { warmups: 0 });
      const exp = await fixtureNhwc(FILE, 'transformer2d.out');
      expectClose(out, exp, caseTolerance('attention', 'transformer2d.out'), 'transformer2d.out');
      expect(probe.seen.map((c) => [c.isCross, c.height, c.width, c.queries, c.keys, c.heads, c.step])).to.deep.equal([
        [false, 16, 16, 256, 256, 8, 7],
        [true, 16, 16, 256, 77, 8, 7],
      ]);
      tf.dispose([x, out, exp]);
      model.dispose();
    });

    it('linear projection variant (SD-2) computes the same as the conv variant with the same weights', async () => {
      const conv = new Transformer2DModel({
        heads: 8,
        dimHead: 8,
        inChannels: 64,
        crossAttentionDim: 32,
        normNumGroups: 8,
      });
      const lin = new Transformer2DModel({
        heads: 8,
        dimHead: 8,
        inChannels: 64,
        crossAttentionDim: 32,
        normNumGroups: 8,
        useLinearProjection: true,
      });
      await loadWeights(conv, new PrefixedWeightSource(src, PREFIX));
      const keys = [...lin.namedParams()].map(([k]) => k);
      expect(keys).to.include.members(['proj_in.weight', 'proj_out.weight']);
      for (const [k, p] of lin.namedParams()) {
        if (k === 'proj_in.weight' || k === 'proj_out.weight') expect(p.torchShape).to.deep.equal([64, 64]);
        p.setTorchValues((await src.read(PREFIX + k, true)) as Float32Array); // [64,64,1,1] → same values as [64,64]
      }
      const x = await fixtureNhwc(FILE, 'transformer2d.in');
      const a = conv.forward(x, context);
      const b = lin.forward(x, context);
      expectClose(b, a, { atol: 1e-5 }, 'linear vs conv projection');
      tf.dispose([x, a, b]);
      conv.dispose();
      lin.dispose();
    });

    it('FeedForward keys and GEGLU (h · gelu(gate)) against a direct computation', () => {
      const ff = new FeedForward(4, { mult: 2 });
      expect([...ff.namedParams()].map(([k, p]) => `${k} [${p.torchShape}]`)).to.deep.equal([
        'net.0.proj.weight [16,4]',
        'net.0.proj.bias [16]',
        'net.2.weight [4,8]',
        'net.2.bias [4]',
      ]);
      const rnd = (n: number, seed: number) =>
        Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 0.7);
      const [w1, b1, w2, b2] = [rnd(64, 1), rnd(16, 2), rnd(32, 3), rnd(4, 4)];
      const params = [...ff.namedParams()].map(([, p]) => p);
      [w1, b1, w2, b2].forEach((v, i) => params[i].setTorchValues(v));
      const xs = rnd(12, 5);
      const x = tf.tensor3d(xs, [1, 3, 4]);
      const y = ff.forward(x);
      // Reference in plain JS: torch layouts, Linear y = x·Wᵀ + b; gelu exact via erf from tf on scalars.
      const erf = (v: number) => tf.tidy(() => tf.erf(tf.scalar(v)).dataSync()[0]);
      const expected: number[] = [];
      for (let r = 0; r < 3; r++) {
        const proj = Array.from(
          { length: 16 },
          (_, o) => b1[o] + [0, 1, 2, 3].reduce((s, i) => s + xs[r * 4 + i] * w1[o * 4 + i], 0),
        );
        const g = Array.from(
          { length: 8 },
          (_, j) => proj[j] * (proj[8 + j] * 0.5 * (1 + erf(proj[8 + j] / Math.SQRT2))),
        );
        for (let o = 0; o < 4; o++) expected.push(b2[o] + g.reduce((s, v, j) => s + v * w2[o * 8 + j], 0));
      }
      expectClose(y, expected, { atol: 1e-5 }, 'feed-forward');
      tf.dispose([x, y]);
      ff.dispose();
    });
  },
);
