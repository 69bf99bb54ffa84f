import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { join } from 'node:path';
import { timestepEmbedding, TimestepEmbedding } from '../src/nn/embeddings.js';
import { PrefixedWeightSource } from '../src/io/weights.js';
import { loadWeights } from '../src/nn/load-weights.js';
import { openWeightFiles } from '../src/node/weights.js';
import { caseTolerance, describeRef, fixtureTensor, fixtureTf, tinySdDir } from './helpers/reference.js';
import { expectClose } from './helpers/close.js';

const FILE = 'cases/timestep_embedding.safetensors';

describeRef('timestep embedding vs reference', () => {
  let timesteps: Float32Array;
  before(async () => {
    timesteps = (await fixtureTensor(FILE, 'timesteps')).data;
  });

  for (const dim of [32, 320]) {
    it(`sinusoidal, dim ${dim} (flip_sin_to_cos, shift 0) for t = 999, 981, 500, 1, 0`, async () => {
      const emb = timestepEmbedding(timesteps, dim, { flipSinToCos: true, downscaleFreqShift: 0 });
      const exp = await fixtureTf(FILE, `emb_${dim}`);
      expect(emb.shape).to.deep.equal(exp.shape);
      expectClose(emb, exp, caseTolerance('timestep_embedding', `emb_${dim}`), `emb_${dim}`);
      tf.dispose([emb, exp]);
    });
  }

  it('tiny time_embedding MLP (linear_1 → silu → linear_2)', async () => {
    const src = await openWeightFiles(join(tinySdDir, 'unet', 'diffusion_pytorch_model.safetensors'));
    const te = new TimestepEmbedding(32, 128);
    await loadWeights(te, new PrefixedWeightSource(src, 'time_embedding.'));
    const emb = timestepEmbedding(timesteps, 32, { flipSinToCos: true });
    const out = te.forward(emb);
    const exp = await fixtureTf(FILE, 'time_embedding_out');
    expectClose(out, exp, caseTolerance('timestep_embedding', 'time_embedding_out'), 'time_embedding_out');
    tf.dispose([emb, out, exp]);
    te.dispose();
    await src.close();
  });

  it('layout: [cos | sin] when flipped, [sin | cos] otherwise; odd dim pads a zero column; shift changes frequencies', () => {
    tf.tidy(() => {
      const t = [3];
      const flipped = timestepEmbedding(t, 4, { flipSinToCos: true }).dataSync();
      const plain = timestepEmbedding(t, 4).dataSync();
      // half = 2, f = [1, 10000^(-1/2)]
      const f1 = Math.exp(-Math.log(10000) / 2);
      expectClose(flipped, [Math.cos(3), Math.cos(3 * f1), Math.sin(3), Math.sin(3 * f1)], { atol: 1e-6 });
      expectClose(plain, [Math.sin(3), Math.sin(3 * f1), Math.cos(3), Math.cos(3 * f1)], { atol: 1e-6 });
      const odd = timestepEmbedding(t, 5);
      expect(odd.shape).to.deep.equal([1, 5]);
      expect(odd.dataSync()[4]).to.equal(0);
      const shifted = timestepEmbedding(t, 4, { downscaleFreqShift: 1 }).dataSync();
      // shift 1: f_i = exp(-ln(10000)·i / (half − 1)) → f1 = 1e-4
      expectClose(shifted, [Math.sin(3), Math.sin(3e-4), Math.cos(3), Math.cos(3e-4)], { atol: 1e-6 });
    });
  });
});
