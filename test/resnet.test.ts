import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { join } from 'node:path';
import { ResnetBlock2D } from '../src/nn/resnet.js';
import { GroupNorm } from '../src/nn/norm.js';
import { PrefixedWeightSource } from '../src/io/weights.js';
import { loadWeights } from '../src/nn/load-weights.js';
import { openWeightFiles } from '../src/node/weights.js';
import { caseTolerance, describeRef, fixtureNhwc, fixtureTf, tinySdDir } from './helpers/reference.js';
import { expectClose } from './helpers/close.js';
import { resetWasmPeakBytes, wasmPeakBytes } from '../src/backend/wasm-patches.js';
import { skipUnlessBackend } from './helpers/backend-skip.js';

describeRef('ResnetBlock2D and GroupNorm vs reference', () => {
  it('down_blocks.2.resnets.0 (64→64 with time embedding) matches, including norm1', async () => {
    const src = await openWeightFiles(join(tinySdDir, 'unet', 'diffusion_pytorch_model.safetensors'));
    const block = new ResnetBlock2D({ inChannels: 64, outChannels: 64, tembChannels: 128, groups: 8, eps: 1e-5 });
    await loadWeights(block, new PrefixedWeightSource(src, 'down_blocks.2.resnets.0.'));
    const x = await fixtureNhwc('cases/resnet.safetensors', 'resnet.in');
    const temb = (await fixtureTf('cases/resnet.safetensors', 'resnet.temb')) as tf.Tensor2D;
    const out = block.forward(x, temb);
    const exp = await fixtureNhwc('cases/resnet.safetensors', 'resnet.out');
    expectClose(out, exp, caseTolerance('resnet', 'resnet.out'), 'resnet.out');
    const n1 = block.norm1.forward(x);
    const expN1 = await fixtureNhwc('cases/resnet.safetensors', 'resnet.norm1.out');
    expectClose(n1, expN1, caseTolerance('resnet', 'resnet.norm1.out'), 'norm1.out');
    tf.dispose([x, temb, out, exp, n1, expN1]);
    block.dispose();
    await src.close();
  });

  for (const [name, eps] of [
    ['unet_like', 1e-5],
    ['vae_like', 1e-6],
  ] as const) {
    it(`standalone GroupNorm ${name} (eps ${eps})`, async () => {
      const gn = new GroupNorm(8, 64, eps);
      const w = await fixtureTf('cases/groupnorm.safetensors', `${name}.weight`);
      const b = await fixtureTf('cases/groupnorm.safetensors', `${name}.bias`);
      gn.weight!.setTorchValues(w.dataSync() as Float32Array);
      gn.bias!.setTorchValues(b.dataSync() as Float32Array);
      const x = await fixtureNhwc('cases/groupnorm.safetensors', `${name}.x`);
      const y = gn.forward(x);
      const exp = await fixtureNhwc('cases/groupnorm.safetensors', `${name}.y`);
      expectClose(y, exp, caseTolerance('groupnorm', `${name}.y`), `${name}.y`);
      tf.dispose([w, b, x, y, exp]);
      gn.dispose();
    });
  }
});

describe('ResnetBlock2D memory', () => {
  it('frees each full-size intermediate as soon as the next exists (peak live bytes on wasm: 6 activations, 10 when the tidy kept them all)', function () {
    skipUnlessBackend(this, ['wasm'], 'the peak counter (the wasm allocation guard’s)');
    const block = new ResnetBlock2D({ inChannels: 64, outChannels: 32, groups: 8, eps: 1e-5 });
    for (const [, p] of block.namedParams()) p.setTorchValues(new Float32Array(p.size).fill(0.01));
    const x = tf.randomNormal([1, 64, 64, 64], 0, 1, 'float32', 5) as tf.Tensor4D;
    const act = 64 * 64 * 32 * 4; // one [1, 64, 64, 32] activation; x and norm1's output are twice that
    tf.dispose(block.forward(x)); // warm-up: weights uploaded
    const base = tf.memory().numBytes;
    resetWasmPeakBytes();
    const y = block.forward(x);
    const peak = wasmPeakBytes() - base;
    // Measured: 6.0 activations (norm1(x) and its kernel's working copies, then conv1); keeping every
    // intermediate to the end of the tidy, as before, peaks at 10.0.
    expect(peak, `peak growth ${peak} bytes = ${(peak / act).toFixed(2)} activations`).to.be.at.most(7 * act);
    tf.dispose([x, y]);
    block.dispose();
  });
});
