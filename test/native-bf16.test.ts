/**
 * `--precision bf16` on the native backend: convolutions and matmuls take bf16 operands with fp32
 * accumulation. Measured on the pipeline fixtures (bench/precision.ts; tiny-sd, 256×256, CFG
 * 7.5, random weights that amplify every difference over the steps): PNDM-20 step-1 latents
 * within 0.07, final latents within 1.03, image within 0.0104 (max |Δ| vs diffusers; fp32:
 * 6e-6, 6e-5, 2e-6). This test holds bf16 to 0.1 / 1.5 / 0.015 and checks that bf16 is really
 * in effect (the first step differs from fp32 by more than fp32 rounding) and deterministic.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { setNativePrecision } from '../src/node/native/candidate.js';
import { loadPipelineFromDirectory } from '../src/node/pipeline.js';
import type { StableDiffusionPipeline } from '../src/pipeline/pipeline.js';
import { compare } from './helpers/close.js';
import { describeNative, onActive, randomValues, useNativeBackend } from './helpers/native.js';
import { describeRef, fixtureTensor, readJson, tinySdDir } from './helpers/reference.js';

describeNative('native bf16 precision', function () {
  useNativeBackend();
  afterEach(() => setNativePrecision('fp32'));

  it('is deterministic and differs from fp32 by bf16 rounding (~2^-8 relative)', () => {
    const x = randomValues([2, 12, 12, 32], 1);
    const w = randomValues([3, 3, 32, 24], 2);
    const run = () => onActive([x, w], (a, b) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'));
    const fp32 = run();
    setNativePrecision('bf16');
    const a = run();
    const b = run();
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).to.equal(true);
    const r = compare(a, fp32, { atol: 0 });
    const scale = Math.max(...Array.from(fp32, Math.abs));
    expect(r.maxAbs / scale).to.be.within(1e-4, 2e-2);
  });

  describeRef('pipeline_pndm20 in bf16', () => {
    let pipe: StableDiffusionPipeline;
    before(async () => {
      pipe = await loadPipelineFromDirectory(tinySdDir);
    });
    after(() => pipe?.dispose());

    it('meets the stated bf16 tolerances on the step-1 latents, final latents and image', async () => {
      const name = 'pipeline_pndm20';
      const meta = readJson('cases/index.json').cases[name];
      const file = `cases/${name}.safetensors`;
      setNativePrecision('bf16');
      const r = await pipe.generate({
        prompts: meta.prompts, negativePrompts: meta.negative_prompts, steps: 20, guidance: 7.5,
        latents: await fixtureTensor(file, 'init_latents'), scheduler: 'pndm', keepLatentsPerStep: true,
      });
      const perStep = r.latentsPerStep!.data;
      const step = perStep.length / r.latentsPerStep!.shape[0];
      const want = await fixtureTensor(file, 'latents_per_step');
      const first = compare(perStep.subarray(0, step), want.data.subarray(0, step), { atol: 0 });
      expect(first.maxAbs, 'step-1 latents').to.be.within(1e-4, 0.1);
      expect(compare(r.latents.data, (await fixtureTensor(file, 'final_latents')).data, { atol: 0 }).maxAbs, 'final latents').to.be.below(1.5);
      const image = new Float32Array(r.images.flatMap((im) => Array.from(im.data)));
      expect(compare(image, (await fixtureTensor(file, 'image')).data, { atol: 0 }).maxAbs, 'image').to.be.below(0.015);
    });
  });
});
