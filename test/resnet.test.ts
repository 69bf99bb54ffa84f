import * as tf from '@tensorflow/tfjs-core';
import { join } from 'node:path';
import { ResnetBlock2D } from '../src/nn/resnet.js';
import { GroupNorm } from '../src/nn/norm.js';
import { PrefixedWeightSource } from '../src/io/weights.js';
import { loadWeights } from '../src/nn/load-weights.js';
import { openWeightFiles } from '../src/node/weights.js';
import { caseTolerance, describeRef, fixtureNhwc, fixtureTf, tinySdDir } from './helpers/reference.js';
import { expectClose } from './helpers/close.js';

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

  for (const [name, eps] of [['unet_like', 1e-5], ['vae_like', 1e-6]] as const) {
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
