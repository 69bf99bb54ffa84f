/** The sampling loop's step hooks: controllers learn the run's step count (reset(numSteps)), onStep can pause it, a signal stops it. */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import type { PromptTokenizer } from '../src/models/clip/tokenizer.js';
import type { UNet2DConditionModel } from '../src/models/unet/unet.js';
import { createScheduler } from '../src/models/schedulers/index.js';
import type { AttentionController } from '../src/nn/attention-control.js';
import { sample, type StepInfo } from '../src/pipeline/sampler.js';
import { AttentionReplace } from '../src/ptp/replace.js';

/** One token per space-separated word (ids 1.., BOS 0, EOS 999): enough for word lookups. */
function wordTokenizer(): PromptTokenizer {
  const words: string[] = [];
  const id = (w: string) => (words.includes(w) ? words.indexOf(w) : words.push(w) - 1) + 1;
  return {
    modelMaxLength: 77,
    encode: (text) => [0, ...text.split(' ').map(id), 999],
    decode: (ids) => ids.map((i) => words[i - 1] ?? '').join(' '),
  };
}

const PNDM_CONFIG = {
  _class_name: 'PNDMScheduler',
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  skip_prk_steps: true,
  steps_offset: 1,
};

describe('controller step count', () => {
  const prompts = ['a cat riding a bicycle', 'a dog riding a bicycle'];

  it('an edit built without numSteps takes it from reset(numSteps), and rebuilds its schedules for another count', () => {
    const tokenizer = wordTokenizer();
    const opts = { tokenizer, prompts, crossReplaceSteps: { default_: 0.8, dog: 0.3 }, selfReplaceSteps: 0.4 };
    const c = new AttentionReplace(opts);
    expect(() => c.numSteps).to.throw(/number of denoising steps is not known yet/);
    c.reset(10);
    const fixed = new AttentionReplace({ ...opts, numSteps: 10 });
    expect(c.numSteps).to.equal(10);
    expect([...c.crossAlpha.data]).to.deep.equal([...fixed.crossAlpha.data]);
    expect(c.selfWindow).to.deep.equal(fixed.selfWindow);
    c.reset(21);
    expect(c.crossAlpha.rows).to.equal(22);
    expect(c.selfWindow).to.deep.equal([0, 8]);
    // Words are still checked when the controller is built.
    expect(() => new AttentionReplace({ ...opts, crossReplaceSteps: { horse: 0.5 } })).to.throw(
      /word "horse" is in none of the edited prompts/,
    );
  });

  it('the sampler resets the controller with the number of UNet calls (PNDM: steps + 1)', async () => {
    const calls: (number | undefined)[] = [];
    const spy: AttentionController = { onAttention: (p) => p, reset: (n) => void calls.push(n) };
    const unet = { forward: (x: tf.Tensor4D) => tf.zerosLike(x) } as unknown as UNet2DConditionModel;
    const latents = tf.zeros([1, 2, 2, 4]) as tf.Tensor4D;
    const cond = tf.zeros([1, 77, 8]) as tf.Tensor3D;
    const r = await sample({
      unet,
      scheduler: createScheduler(PNDM_CONFIG),
      cond,
      latents,
      steps: 5,
      guidance: 1,
      controller: spy,
    });
    expect(r.timesteps).to.have.length(6);
    expect(calls).to.deep.equal([6]);
    tf.dispose([latents, cond, r.latents]);
  });

  it('the sampler waits for a promise from onStep before the next step, and an abort stops it within one step, leak-free', async () => {
    const order: string[] = [];
    const unet = {
      forward: (x: tf.Tensor4D) => (order.push('unet'), tf.zerosLike(x)),
    } as unknown as UNet2DConditionModel;
    const latents = tf.zeros([1, 2, 2, 4]) as tf.Tensor4D;
    const cond = tf.zeros([1, 77, 8]) as tf.Tensor3D;
    const scheduler = createScheduler(PNDM_CONFIG, { type: 'ddim' });
    const onStep = async (i: StepInfo) => {
      order.push(`step ${i.step} begins waiting`);
      await new Promise((resolve) => setTimeout(resolve, 5));
      order.push(`step ${i.step} done`);
    };
    const r = await sample({ unet, scheduler, cond, latents, steps: 2, guidance: 1, onStep });
    expect(order).to.deep.equal([
      'unet',
      'step 0 begins waiting',
      'step 0 done',
      'unet',
      'step 1 begins waiting',
      'step 1 done',
    ]);
    r.latents.dispose();

    const before = tf.memory().numTensors;
    const abort = new AbortController();
    order.length = 0;
    const cancelled = sample({
      unet,
      scheduler,
      cond,
      latents,
      steps: 10,
      guidance: 1,
      signal: abort.signal,
      onStep: (i) => i.step === 2 && abort.abort(new Error('cancelled by the test')),
    });
    await cancelled.then(
      () => expect.fail('the run should stop'),
      (e: Error) => expect(e.message).to.equal('cancelled by the test'),
    );
    expect(order.filter((o) => o === 'unet')).to.have.length(3);
    expect(tf.memory().numTensors).to.equal(before);
    tf.dispose([latents, cond]);
  });
});
