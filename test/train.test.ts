import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { join } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { CompactVocab } from '../src/train/vocab.js';
import { lrAt } from '../src/train/lr.js';
import { Adam, gradNorm } from '../src/nn/adam.js';
import { Ema } from '../src/train/ema.js';
import { optimiseStep } from '../src/train/step.js';
import { minSnrWeights, sampleTimestep } from '../src/train/diffusion.js';
import { Rng } from '../src/shapes/world/rng.js';
import { Param } from '../src/nn/param.js';
import { installWasmGradKernels } from '../src/backend/wasm-grad-kernels.js';
import { trainShapesModel } from '../src/node/shapes/train.js';
import { trainVaeStage } from '../src/node/shapes/vae-stage.js';
import { loadCheckpoint } from '../src/node/train/checkpoint.js';
import { openModelDirectory } from '../src/node/model-dir.js';
import { loadPipeline } from '../src/pipeline/load.js';
import { TINY_RECIPE } from './helpers/tiny-recipe.js';
import { tempDirForSuite } from './helpers/tmp.js';
import { memoryNow } from './helpers/leaks.js';

describe('training: optimiser, schedules, averages', () => {
  it('Adam follows PyTorch’s update step for step (float64 reference), with decoupled weight decay', () => {
    const p0 = [0.5, -1.2, 2.0, 0.01];
    const grads = [
      [0.3, -0.1, 0.7, 1e-4],
      [-0.2, 0.05, 0.6, -2e-4],
      [0.1, 0.4, -0.3, 3e-4],
    ];
    for (const wd of [0, 0.1]) {
      const v = tf.variable(tf.tensor1d(p0));
      const opt = new Adam([v], { lr: 0.01, weightDecay: wd });
      const ref = { p: [...p0], m: [0, 0, 0, 0], v: [0, 0, 0, 0] };
      grads.forEach((g, t) => {
        const gt = tf.tensor1d(g);
        opt.update([gt]);
        gt.dispose();
        for (let i = 0; i < 4; i++) {
          ref.p[i] *= 1 - 0.01 * wd;
          ref.m[i] = 0.9 * ref.m[i] + 0.1 * g[i];
          ref.v[i] = 0.999 * ref.v[i] + 0.001 * g[i] * g[i];
          const denom = Math.sqrt(ref.v[i]) / Math.sqrt(1 - 0.999 ** (t + 1)) + 1e-8;
          ref.p[i] -= (0.01 / (1 - 0.9 ** (t + 1))) * (ref.m[i] / denom);
        }
      });
      const got = Array.from(v.dataSync());
      got.forEach((x, i) => expect(x).to.be.closeTo(ref.p[i], 1e-6 * Math.max(1, Math.abs(ref.p[i]))));
      expect(opt.step).to.equal(3);
      opt.dispose();
      v.dispose();
    }
  });

  it('gradNorm is the global L2 norm', () => {
    const a = tf.tensor1d([3, 4]);
    const b = tf.tensor2d([
      [1, 2],
      [2, 0],
    ]);
    expect(gradNorm([a, b])).to.be.closeTo(Math.sqrt(9 + 16 + 1 + 4 + 4), 1e-6);
    tf.dispose([a, b]);
  });

  it('Adam refuses bad settings and mismatched gradients', () => {
    const v = tf.variable(tf.zeros([2]));
    expect(() => new Adam([v], { lr: NaN })).to.throw(/lr must be a finite non-negative number/);
    const opt = new Adam([v], { lr: 0.1 });
    expect(() => opt.update([])).to.throw(/0 gradients for 1 parameters/);
    opt.dispose();
    v.dispose();
  });

  it('optimiseStep minimises a least-squares problem, clips the gradient norm and leaks nothing', () => {
    installWasmGradKernels();
    const w = tf.variable(tf.zeros([3, 1]));
    const x = tf.tensor2d([
      [1, 2, 0],
      [0, 1, 1],
      [2, 0, 1],
      [1, 1, 1],
    ]);
    const y = tf.tensor2d([[3], [1], [2], [2]]);
    const opt = new Adam([w], { lr: 0.1 });
    const loss = () => tf.mean(tf.square(tf.sub(tf.matMul(x, w), y))) as tf.Scalar;
    const first = optimiseStep(loss, opt, 0.5);
    expect(first.gradNorm).to.be.greaterThan(0.5);
    // The first step created the optimiser's moments: later steps leave memory flat.
    const before = memoryNow();
    let last = first.loss;
    for (let i = 0; i < 200; i++) last = optimiseStep(loss, opt).loss;
    expect(memoryNow()).to.deep.equal(before);
    expect(last).to.be.lessThan(first.loss / 50);
    tf.dispose([w, x, y]);
    opt.dispose();
  });

  it('the learning rate warms up linearly, then decays along a cosine to minRatio', () => {
    const s = { base: 1, warmup: 10, total: 110, minRatio: 0.1 };
    expect(lrAt(0, s)).to.be.closeTo(0.1, 1e-12);
    expect(lrAt(9, s)).to.be.closeTo(1, 1e-12);
    expect(lrAt(60, s)).to.be.closeTo(0.55, 1e-12);
    expect(lrAt(110, s)).to.be.closeTo(0.1, 1e-12);
    expect(lrAt(500, s)).to.be.closeTo(0.1, 1e-12);
  });

  it('the EMA follows min(decay, (1+t)/(10+t)) and swaps its weights in only inside withAveraged', () => {
    const v = tf.variable(tf.tensor1d([0]));
    const ema = new Ema([v], 0.9);
    let ref = 0;
    for (let t = 1; t <= 30; t++) {
      v.assign(tf.tensor1d([t]));
      ema.update();
      const d = Math.min(0.9, (1 + t) / (10 + t));
      ref = d * ref + (1 - d) * t;
    }
    expect(ema.values()[0][0]).to.be.closeTo(ref, 1e-3);
    const inside = ema.withAveraged(() => v.dataSync()[0]);
    expect(inside).to.be.closeTo(ref, 1e-3);
    expect(v.dataSync()[0]).to.equal(30);
    ema.dispose();
    v.dispose();
  });

  it('min-SNR weights: min(SNR, γ)/SNR for ε, min(SNR + 1, γ)/(SNR + 1) for v, min(SNR + 1, γ) for x₀', () => {
    const abar = Float32Array.from([0.99, 0.5, 0.01, 0]);
    const w = minSnrWeights(abar, [0, 1, 2], 5);
    expect(w[0]).to.be.closeTo(5 / (0.99 / 0.01), 1e-6);
    expect(w[1]).to.equal(1);
    expect(w[2]).to.equal(1);
    const v = minSnrWeights(abar, [0, 1, 2, 3], 5, 'v_prediction');
    expect(v[0]).to.be.closeTo(5 / 100, 1e-6); // SNR 99 → 5 / 100
    expect(v.slice(1)).to.deep.equal([1, 1, 1]); // SNR 1, 1/99 and 0 all keep weight 1
    const x0 = minSnrWeights(abar, [0, 1, 3], 5, 'sample');
    expect(x0[0]).to.equal(5);
    expect(x0[1]).to.be.closeTo(2, 1e-6);
    expect(x0[2]).to.equal(1);
    expect(() => minSnrWeights(abar, [3], 5)).to.throw(/ε-prediction is undefined at timestep 3/);
  });

  it('training timesteps: uniform with power 0 (as an integer draw), density ∝ (t + 1)^power otherwise', () => {
    const draw = (power: number) => {
      const rng = new Rng(7);
      return Array.from({ length: 20000 }, () => sampleTimestep(rng.uniform(), power));
    };
    const ints = new Rng(7);
    expect(draw(0).slice(0, 100)).to.deep.equal(Array.from({ length: 100 }, () => ints.int(0, 999)));
    const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
    const lin = draw(1);
    expect(Math.min(...lin)).to.be.at.least(0);
    expect(Math.max(...lin)).to.equal(999);
    // Density ∝ t: mean 2/3 of the range, a quarter of the draws below t = 500.
    expect(mean(lin)).to.be.closeTo(666, 8);
    expect(lin.filter((t) => t < 500).length / lin.length).to.be.closeTo(0.25, 0.01);
    expect(() => sampleTimestep(1, 0)).to.throw(/u must be in \[0, 1\)/);
    expect(() => sampleTimestep(0.5, -1)).to.throw(/power must be/);
  });

  it('a compact vocabulary maps ids, scatters trained rows into a full table and refuses unknown ids', () => {
    const v = new CompactVocab([49407, 320, 49406, 320, 1000]);
    expect(v.ids).to.deep.equal([320, 1000, 49406, 49407]);
    expect(v.map([[49406, 320, 49407]])).to.deep.equal([[2, 0, 3]]);
    expect(() => v.map([[5]])).to.throw(/token id 5 is not in the training vocabulary/);
    const full = new Float32Array(49408 * 2);
    v.scatter(Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]), full, 2);
    expect(Array.from(full.subarray(640, 642))).to.deep.equal([1, 2]);
    expect(Array.from(full.subarray(49407 * 2))).to.deep.equal([7, 8]);
    expect(Array.from(v.gather(full, 2))).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('a trainable Param is a variable; turning training off keeps the trained values; torchValues inverts the layout', () => {
    const conv = new Param([3, 2, 2, 2], 'conv2d');
    const torch = Float32Array.from({ length: 24 }, (_, i) => i);
    conv.setTorchValues(torch);
    conv.setTrainable(true);
    expect(conv.trainable).to.equal(true);
    expect(conv.tensor()).to.equal(conv.trainableVariable);
    expect(Array.from(conv.torchValues())).to.deep.equal(Array.from(torch));
    tf.tidy(() => conv.trainableVariable!.assign(tf.mul(conv.trainableVariable!, 2)));
    conv.setTrainable(false);
    expect(conv.trainable).to.equal(false);
    expect(Array.from(conv.torchValues())).to.deep.equal(Array.from(torch, (x) => 2 * x));
    const lin = new Param([2, 3], 'linear');
    lin.setTorchValues(Float32Array.from([1, 2, 3, 4, 5, 6]));
    expect(Array.from(lin.torchValues())).to.deep.equal([1, 2, 3, 4, 5, 6]);
    conv.dispose();
    lin.dispose();
  });
});

describe('training: the demo-model recipe end to end (tiny architecture)', function () {
  this.timeout(300000);
  const tmp = tempDirForSuite('train');
  const base = (dir: string) => ({
    dir,
    exportTo: join(dir, 'model'),
    seed: 3,
    vaeSteps: 3,
    vaeBatch: 2,
    vaeCrop: 16,
    vaeLr: 1e-3,
    unetSteps: 4,
    unetBatch: 2,
    unetLr: 1e-3,
    checkpointEvery: 2,
    recipe: TINY_RECIPE,
    sampleCaptions: ['a red circle on a white background'],
  });
  before(() => installWasmGradKernels());

  it('trains, checkpoints, exports a diffusers directory that loads and generates through the standard path', async () => {
    const dir = join(tmp(), 'full');
    const notes: string[] = [];
    const r = await trainShapesModel({ ...base(dir), onNote: (l) => notes.push(l) });
    expect(r.finished).to.equal(true);
    for (const f of [
      'vae.ckpt.safetensors',
      'unet.ckpt.safetensors',
      'vae-loss.png',
      'unet-loss.png',
      'vae-reconstructions.png',
      'unet-samples-000004.png',
    ]) {
      expect(existsSync(join(dir, f)), f).to.equal(true);
    }
    const model = join(dir, 'model');
    for (const f of [
      'model_index.json',
      'unet/config.json',
      'unet/diffusion_pytorch_model.safetensors',
      'vae/diffusion_pytorch_model.safetensors',
      'text_encoder/model.safetensors',
      'tokenizer/vocab.json',
      'scheduler/scheduler_config.json',
    ]) {
      expect(existsSync(join(model, f)), f).to.equal(true);
    }
    const vaeCfg = JSON.parse(readFileSync(join(model, 'vae/config.json'), 'utf8')) as { scaling_factor: number };
    expect(vaeCfg.scaling_factor).to.be.greaterThan(0);
    // The UNet stage trained on latents × the same factor that the exported configuration holds.
    const vaeStage = await trainVaeStage({
      dir,
      steps: 3,
      batch: 2,
      crop: 16,
      lr: 1e-3,
      seed: 3,
      klWeight: 1e-4,
      checkpointEvery: 2,
      recipe: TINY_RECIPE,
    });
    expect(vaeStage.vae.scalingFactor).to.equal(vaeStage.scalingFactor);
    expect(Math.fround(vaeStage.scalingFactor)).to.equal(Math.fround(vaeCfg.scaling_factor));
    vaeStage.vae.dispose();
    const md = await openModelDirectory(model);
    expect(md.weights('text_encoder').info('text_model.embeddings.token_embedding.weight')).to.deep.include({
      dtype: 'F16',
      shape: [49408, 8],
    });
    // The UNet and the text encoder are exported with the averaged (EMA) weights, both of them
    // (1-D tensors: the checkpoint keeps the average in the variables' layout, the weights in torch's).
    const ck = await loadCheckpoint(join(dir, 'unet.ckpt.safetensors'));
    for (const [component, key] of [
      ['unet', 'conv_in.bias'],
      ['text_encoder', 'text_model.final_layer_norm.weight'],
    ] as const) {
      const got = (await md.weights(component).read(key, true)) as Float32Array;
      const ema = ck.tensors.get(`ema/${component}/${key}`)!.data;
      const raw = ck.tensors.get(`param/${component}/${key}`)!.data;
      const maxDiff = (a: ArrayLike<number>) => got.reduce((m, v, i) => Math.max(m, Math.abs(v - a[i])), 0);
      expect(maxDiff(ema), `${component} ${key} vs EMA`).to.be.below(2e-3);
      expect(maxDiff(raw), `${component} ${key} differs from the raw weights`).to.be.above(maxDiff(ema));
    }
    const pipe = await loadPipeline(md);
    const g = await pipe.generate({ prompts: ['a blue square on a red background'], seed: 1, steps: 2 });
    expect(g.images[0].width).to.equal(32);
    expect(g.images[0].data.every(Number.isFinite)).to.equal(true);
    pipe.dispose();
    await md.close();
    expect(notes.join('\n')).to.match(/exported .*training took/);
  });

  it('a run stopped at its deadline and resumed reaches bit-identical weights', async () => {
    const whole = join(tmp(), 'whole');
    await trainShapesModel(base(whole));
    const parts = join(tmp(), 'parts');
    const first = await trainShapesModel({ ...base(parts), maxMinutes: 1e-6 });
    expect(first.finished).to.equal(false);
    let sittings = 1;
    let r = first;
    while (!r.finished && sittings < 20) {
      r = await trainShapesModel({ ...base(parts), maxMinutes: 1e-6 });
      sittings++;
    }
    expect(r.finished, 'finished within 20 sittings').to.equal(true);
    expect(sittings).to.be.greaterThan(3);
    for (const stage of ['vae', 'unet']) {
      const a = await loadCheckpoint(join(whole, `${stage}.ckpt.safetensors`));
      const b = await loadCheckpoint(join(parts, `${stage}.ckpt.safetensors`));
      expect([...b.tensors.keys()]).to.deep.equal([...a.tensors.keys()]);
      for (const [k, t] of a.tensors)
        expect(Buffer.from(b.tensors.get(k)!.data.buffer).equals(Buffer.from(t.data.buffer)), `${stage} ${k}`).to.equal(
          true,
        );
    }
  });
});
