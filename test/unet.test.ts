import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { join } from 'node:path';
import { UNet2DConditionModel } from '../src/models/unet/unet.js';
import { parseUNetConfig } from '../src/models/unet/config.js';
import type { AttentionContext, AttentionController } from '../src/nn/attention-control.js';
import { attentionStats, resetAttentionStats } from '../src/nn/attention-core.js';
import { loadWeights } from '../src/nn/load-weights.js';
import { openWeightFiles } from '../src/node/weights.js';
import {
  caseTolerance,
  describeRef,
  fixtureNhwc,
  fixtureTensor,
  fixtureTf,
  readJson,
  tinySdDir,
} from './helpers/reference.js';
import { compare, expectClose } from './helpers/close.js';
import { expectNoLeak, memoryNow } from './helpers/leaks.js';

const UNET_DIR = join(tinySdDir, 'unet');
const tinyConfig = () => readJson('tiny-sd/unet/config.json');
/** place and block index from a module name. */
const whereOf = (name: string) => {
  const m = /^(down|up)_blocks\.(\d+)\./.exec(name);
  return m ? { place: m[1], block: Number(m[2]) } : { place: 'mid', block: 0 };
};
const bitEqual = (a: tf.Tensor, b: tf.Tensor) => {
  const x = a.dataSync();
  const y = b.dataSync();
  return x.length === y.length && x.every((v, i) => Object.is(v, y[i]));
};

async function loadTiny(file = 'diffusion_pytorch_model.safetensors'): Promise<UNet2DConditionModel> {
  const unet = UNet2DConditionModel.fromConfig(tinyConfig());
  const src = await openWeightFiles(join(UNET_DIR, file));
  await loadWeights(unet, src);
  await src.close();
  return unet;
}

describeRef('UNet2DConditionModel (tiny-sd) vs reference', () => {
  let unet: UNet2DConditionModel;
  before(async () => {
    unet = await loadTiny();
  });
  after(() => unet.dispose());

  describe('unet_blocks: every stage of one call (batch 1, t=981, 64×64), in forward order', () => {
    const F = 'cases/unet_blocks.safetensors';
    const stages = Object.keys(readJson('cases/index.json').cases.unet_blocks.outputs) as string[];
    let got: Record<string, tf.Tensor>;
    before(async () => {
      const sample = await fixtureNhwc(F, 'sample');
      const ctx = (await fixtureTf(F, 'encoder_hidden_states')) as tf.Tensor3D;
      const t = Array.from((await fixtureTensor(F, 'timestep')).data);
      got = unet.forward(sample, t, ctx, undefined, { returnIntermediates: true }).intermediates;
      tf.dispose([sample, ctx]);
    });
    after(() => tf.dispose(Object.values(got)));

    it('records exactly the reference stages, in order', () => {
      expect(Object.keys(got)).to.deep.equal(stages);
    });
    for (const stage of stages) {
      it(stage, async () => {
        const exp = got[stage].rank === 4 ? await fixtureNhwc(F, stage) : await fixtureTf(F, stage);
        expect(got[stage].shape).to.deep.equal(exp.shape);
        expectClose(got[stage], exp, caseTolerance('unet_blocks', stage), stage);
        exp.dispose();
      });
    }
  });

  describe('unet: three calls on batch 2 (CFG-like) at 64×64', () => {
    const F = 'cases/unet.safetensors';
    let sample: tf.Tensor4D;
    let ctx: tf.Tensor3D;
    const out: Record<string, tf.Tensor4D> = {};
    let tPer: tf.Tensor1D;
    before(async () => {
      sample = await fixtureNhwc(F, 'sample');
      ctx = (await fixtureTf(F, 'encoder_hidden_states')) as tf.Tensor3D;
      const perSample = Array.from((await fixtureTensor(F, 'timesteps_per_sample')).data);
      tPer = tf.tensor1d(perSample);
      out.noise_pred_t981 = unet.forward(sample, 981, ctx);
      out.noise_pred_t1 = unet.forward(sample, [1], ctx);
      out.noise_pred_t_per_sample = unet.forward(sample, tPer, ctx);
    });
    after(() => tf.dispose([sample, ctx, tPer, ...Object.values(out)]));

    for (const name of ['noise_pred_t981', 'noise_pred_t1', 'noise_pred_t_per_sample']) {
      it(name, async () => {
        const exp = await fixtureNhwc(F, name);
        expectClose(out[name], exp, caseTolerance('unet', name), name);
        exp.dispose();
      });
    }

    it('a forward leaves live tensors and backend bytes unchanged (besides its output)', async () => {
      // 16×16 latents: what a call caches does not depend on the size.
      const small = tf.randomNormal([2, 16, 16, 4], 0, 1, 'float32', 5) as tf.Tensor4D;
      await expectNoLeak('unet.forward', () => [unet.forward(small, 981, ctx), unet.forward(small, tPer, ctx)]);
      small.dispose();
    });

    it('streaming residency gives exactly the same numbers, holding no weights between calls', () => {
      const resident = tf.memory().numTensors;
      unet.setResidency('stream');
      try {
        const weights = [...unet.namedParams()].length;
        expect(tf.memory().numTensors).to.be.at.most(resident - weights);
        const before = tf.memory().numTensors;
        // During the call only the running block's weights are on the backend.
        const live: number[] = [];
        const probe: AttentionController = {
          wantsProbs: () => (live.push(tf.memory().numTensors - before), false),
          onAttention: (p) => p,
        };
        const streamed = unet.forward(sample, 981, ctx, { controller: probe });
        expect(tf.memory().numTensors).to.equal(before + 1);
        expect(Math.max(...live)).to.be.below(weights / 4);
        expect(bitEqual(streamed, out.noise_pred_t981), 'streamed output bit-identical to resident').to.equal(true);
        streamed.dispose();
      } finally {
        unet.setResidency('resident');
      }
    });

    it('fp16 variant weights give values close to the fp32 reference', async () => {
      const half = await loadTiny('diffusion_pytorch_model.fp16.safetensors');
      const pred = half.forward(sample, 981, ctx);
      const exp = await fixtureNhwc(F, 'noise_pred_t981');
      // fp16 weight rounding (relative 2^-11), not a reference tolerance: measured max |diff| 2.4e-3 on values up to 2.3.
      const r = compare(pred, exp, { atol: 1e-2 });
      expect(r.bad, `fp16 vs fp32 reference: max |diff| ${r.maxAbs}`).to.equal(0);
      expect(r.maxAbs).to.be.above(0);
      tf.dispose([pred, exp]);
      half.dispose();
    });
  });

  it('an up block upsamples to the given skip size (odd sizes), a down block halves rounding up', () => {
    tf.tidy(() => {
      const inp = { temb: tf.zeros([1, 128]) as tf.Tensor2D, context: tf.zeros([1, 77, 32]) as tf.Tensor3D, call: {} };
      const down = unet.downBlocks[1].forward(tf.ones([1, 5, 7, 32]) as tf.Tensor4D, inp);
      expect(down.map((t) => t.shape)).to.deep.equal([
        [1, 5, 7, 64],
        [1, 5, 7, 64],
        [1, 3, 4, 64],
      ]);
      const x = tf.ones([1, 3, 4, 64]) as tf.Tensor4D;
      const up = unet.upBlocks[1].forward(x, [x, x, x], inp, [5, 7]);
      expect(up.shape).to.deep.equal([1, 5, 7, 64]);
      expect(unet.upBlocks[1].forward(x, [x, x, x], inp).shape).to.deep.equal([1, 6, 8, 64]);
    });
  });

  describe('attention layers and the controller', () => {
    const expectedNames = [
      ...[0, 1, 2].flatMap((b) =>
        [0, 1].flatMap((a) => [1, 2].map((k) => `down_blocks.${b}.attentions.${a}.transformer_blocks.0.attn${k}`)),
      ),
      'mid_block.attentions.0.transformer_blocks.0.attn1',
      'mid_block.attentions.0.transformer_blocks.0.attn2',
      ...[1, 2, 3].flatMap((b) =>
        [0, 1, 2].flatMap((a) => [1, 2].map((k) => `up_blocks.${b}.attentions.${a}.transformer_blocks.0.attn${k}`)),
      ),
    ];

    it('attentionLayers() lists the 32 layers in forward order with their placement', () => {
      const layers = unet.attentionLayers();
      expect(layers.map((a) => a.placement.name)).to.deep.equal(expectedNames);
      layers.forEach((a, i) => {
        const { place, block } = whereOf(a.placement.name);
        expect(a.placement).to.deep.equal({
          layerIndex: i,
          numLayers: 32,
          place,
          blockIndex: block,
          name: expectedNames[i],
        });
        expect(a.heads).to.equal(8);
      });
    });

    it('a controller sees exactly the 32 layers in order with place, resolution, isCross, step (16×16 latents, batch 2)', () => {
      const seen: AttentionContext[] = [];
      const shapes: number[][] = [];
      const probe: AttentionController = {
        onAttention(probs, ctx) {
          seen.push(ctx);
          shapes.push(probs.shape);
          return probs;
        },
      };
      const [sample, ctx] = tf.tidy(() => [
        tf.randomNormal([2, 16, 16, 4], 0, 1, 'float32', 1) as tf.Tensor4D,
        tf.randomNormal([2, 77, 32], 0, 1, 'float32', 2) as tf.Tensor3D,
      ]);
      resetAttentionStats();
      const out = unet.forward(sample, 500, ctx, { controller: probe, step: 4 });
      expect(seen.map((c) => c.name)).to.deep.equal(expectedNames);
      // Every layer ran the backend's attention path: the fused kernel on wasm/cpu (head sizes 4 and 8), batched matmuls elsewhere.
      const path = ['wasm', 'cpu'].includes(tf.getBackend()) ? 'fused' : 'batched';
      expect(attentionStats().calls, 'attention calls per strategy').to.deep.equal({
        fused: 0,
        batched: 0,
        'per-head': 0,
        [path]: 32,
      });
      seen.forEach((c, i) => {
        const { place, block } = whereOf(c.name);
        // 16×16 latents: down_blocks.b at 16/2^b, mid at 2, up_blocks.b at 16/2^(3-b).
        const r = place === 'down' ? 16 >> block : place === 'mid' ? 2 : 16 >> (3 - block);
        const cross = c.name.endsWith('attn2');
        expect(c, c.name).to.deep.include({
          layerIndex: i,
          numLayers: 32,
          place,
          blockIndex: block,
          isCross: cross,
          height: r,
          width: r,
          queries: r * r,
          keys: cross ? 77 : r * r,
          heads: 8,
          batch: 2,
          step: 4,
        });
        expect(shapes[i]).to.deep.equal([16, r * r, cross ? 77 : r * r]);
      });
      // With a controller too, a call leaves nothing behind but its output (the call above warmed up).
      const before = memoryNow();
      tf.dispose(unet.forward(sample, 500, ctx, { controller: probe, step: 5 }));
      expect(memoryNow()).to.deep.equal(before);
      tf.dispose([sample, ctx, out]);
    });
  });
});

describeRef('UNet2DConditionModel structure from configs', () => {
  it('SD-1.5 config: exactly the keys, shapes and order of sd15-manifest.json (686 tensors, 859,520,964 params)', () => {
    const manifest = readJson('sd15-manifest.json').unet;
    const unet = UNet2DConditionModel.fromConfig(readJson('sd15-config/unet/config.json'));
    const ours = [...unet.namedParams()].map(([k, p]) => [k, p.torchShape]);
    const theirs = Object.entries(manifest.state_dict as Record<string, { shape: number[] }>).map(([k, v]) => [
      k,
      v.shape,
    ]);
    expect(ours).to.deep.equal(theirs);
    expect(ours.length).to.equal(686).and.equal(manifest.num_state_dict_tensors);
    expect(unet.numParams()).to.equal(859_520_964).and.equal(manifest.num_parameters);
    expect([...unet.namedParams()].every(([, p]) => !p.isLoaded)).to.equal(true);
    const layers = unet.attentionLayers();
    expect(layers).to.have.length(32);
    expect(layers.map((a) => [a.heads, a.opts.dimHead])).to.deep.include.members([
      [8, 40],
      [8, 80],
      [8, 160],
    ]);
  });

  it('SD-2.1-style config: per-block attention_head_dim = heads (head size 64), linear projections, 1024-d context', () => {
    const sd21 = {
      ...readJson('sd15-config/unet/config.json'),
      attention_head_dim: [5, 10, 20, 20],
      cross_attention_dim: 1024,
      use_linear_projection: true,
      upcast_attention: true,
      sample_size: 96,
    };
    const unet = UNet2DConditionModel.fromConfig(sd21);
    const shapes = new Map([...unet.namedParams()].map(([k, p]) => [k, p.torchShape]));
    expect(shapes.get('down_blocks.0.attentions.0.proj_in.weight')).to.deep.equal([320, 320]);
    expect(shapes.get('up_blocks.3.attentions.2.proj_out.weight')).to.deep.equal([320, 320]);
    expect(shapes.get('mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight')).to.deep.equal([1280, 1024]);
    expect(unet.numParams()).to.equal(865_910_724);
    const byName = new Map(unet.attentionLayers().map((a) => [a.placement.name, a]));
    const heads = (n: string) => [byName.get(n)!.heads, byName.get(n)!.opts.dimHead];
    expect(heads('down_blocks.0.attentions.0.transformer_blocks.0.attn1')).to.deep.equal([5, 64]);
    expect(heads('down_blocks.1.attentions.1.transformer_blocks.0.attn2')).to.deep.equal([10, 64]);
    expect(heads('mid_block.attentions.0.transformer_blocks.0.attn1')).to.deep.equal([20, 64]);
    expect(heads('up_blocks.1.attentions.0.transformer_blocks.0.attn1')).to.deep.equal([20, 64]);
    expect(heads('up_blocks.3.attentions.2.transformer_blocks.0.attn2')).to.deep.equal([5, 64]);
  });

  it('a missing or unsupported config field gives an error naming it', () => {
    for (const key of [
      'down_block_types',
      'block_out_channels',
      'layers_per_block',
      'cross_attention_dim',
      'attention_head_dim',
      'norm_num_groups',
      'in_channels',
    ]) {
      const c = { ...tinyConfig() };
      delete c[key];
      expect(() => parseUNetConfig(c), key).to.throw(`"${key}"`);
    }
    expect(() =>
      parseUNetConfig({
        ...tinyConfig(),
        down_block_types: ['CrossAttnDownBlock2D', 'AttnDownBlock2D', 'DownBlock2D', 'DownBlock2D'],
      }),
    ).to.throw(/down_block_types\[1\] "AttnDownBlock2D" is not supported/);
    expect(() => parseUNetConfig({ ...tinyConfig(), class_embed_type: 'timestep' })).to.throw(/"class_embed_type"/);
    expect(() => parseUNetConfig({ ...tinyConfig(), attention_head_dim: [8, 8] })).to.throw(
      /"attention_head_dim" has 2 entries for 4 down blocks/,
    );
    expect(() => parseUNetConfig({ ...tinyConfig(), up_block_types: ['UpBlock2D'] })).to.throw(
      /4 down_block_types but 1 up_block_types/,
    );
  });

  it('bad inputs give clear errors (before touching any weight)', () => {
    const unet = UNet2DConditionModel.fromConfig(tinyConfig());
    tf.tidy(() => {
      const ctx = tf.zeros([1, 77, 32]) as tf.Tensor3D;
      const ok = tf.zeros([1, 16, 16, 4]) as tf.Tensor4D;
      expect(() => unet.forward(tf.zeros([1, 16, 16, 3]) as tf.Tensor4D, 1, ctx)).to.throw(
        /sample must be NHWC \[batch, height, width, 4\], got \[1, 16, 16, 3\]/,
      );
      expect(() => unet.forward(tf.zeros([1, 12, 16, 4]) as tf.Tensor4D, 1, ctx)).to.throw(/multiples of 8, got 12×16/);
      expect(() => unet.forward(tf.zeros([2, 16, 16, 4]) as tf.Tensor4D, 1, ctx)).to.throw(
        /batch 1 differs from sample batch 2/,
      );
      expect(() => unet.forward(ok, 1, tf.zeros([1, 77, 768]) as tf.Tensor3D)).to.throw(
        /768 channels, the model expects cross_attention_dim 32/,
      );
      expect(() => unet.forward(ok, [1, 2, 3], ctx)).to.throw(/3 timesteps for a batch of 1/);
    });
  });
});
