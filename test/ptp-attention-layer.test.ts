import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { join } from 'node:path';
import { Attention } from '../src/nn/attention.js';
import { attentionStrategy, setAttentionStrategy, type AttentionStrategy } from '../src/nn/attention-core.js';
import type { AttentionContext, AttentionController } from '../src/nn/attention-control.js';
import { PrefixedWeightSource } from '../src/io/weights.js';
import { loadWeights } from '../src/nn/load-weights.js';
import { openWeightFiles } from '../src/node/weights.js';
import { AttentionReplace } from '../src/ptp/replace.js';
import { describeRef, tinySdDir } from './helpers/reference.js';
import { clipTokenizer } from './helpers/ptp.js';
import { skipUnlessBackend } from './helpers/backend-skip.js';

const PREFIX = 'down_blocks.2.attentions.0.transformer_blocks.0.';

/** Asks for every layer's probabilities and returns them unchanged. */
class PassThrough implements AttentionController {
  calls = 0;
  wantsProbs() {
    return true;
  }
  onAttention(probs: tf.Tensor3D) {
    this.calls++;
    return probs;
  }
}

/** Wraps a controller and keeps a copy of what it returns (a way to look inside an edit). */
class Tap implements AttentionController {
  out: tf.Tensor3D[] = [];
  constructor(private readonly inner: AttentionController) {}
  wantsProbs(ctx: AttentionContext) {
    return this.inner.wantsProbs?.(ctx) ?? true;
  }
  onAttention(probs: tf.Tensor3D, ctx: AttentionContext) {
    const r = this.inner.onAttention(probs, ctx);
    this.out.push(tf.keep(tf.clone(r)));
    return r;
  }
}

async function loadAttn(which: 'attn1' | 'attn2'): Promise<Attention> {
  const src = await openWeightFiles(join(tinySdDir, 'unet', 'diffusion_pytorch_model.safetensors'));
  const attn = new Attention({
    queryDim: 64,
    crossAttentionDim: which === 'attn2' ? 32 : undefined,
    heads: 8,
    dimHead: 8,
  });
  await loadWeights(attn, new PrefixedWeightSource(src, `${PREFIX}${which}.`));
  await src.close();
  // Where this layer sits in the SD 1.x UNet (down_blocks.2: 16×16 at 512×512).
  attn.placement = {
    place: 'down',
    blockIndex: 2,
    layerIndex: which === 'attn1' ? 8 : 9,
    numLayers: 32,
    name: `${PREFIX}${which}`,
  };
  return attn;
}

async function bits(t: tf.Tensor): Promise<Uint32Array> {
  const d = (await t.data()) as Float32Array;
  return new Uint32Array(d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength));
}

describeRef('ptp controllers on an Attention layer (tiny-sd down_blocks.2)', () => {
  let before = 0;
  beforeEach(() => (before = tf.memory().numTensors));
  afterEach(() => {
    setAttentionStrategy(undefined);
    expect(tf.memory().numTensors, 'tensors leaked').to.equal(before);
  });

  for (const strategy of ['per-head', 'batched', 'fused'] as AttentionStrategy[]) {
    for (const which of ['attn1', 'attn2'] as const) {
      it(`${strategy}, ${which}: a controller returning its input leaves the output bit-identical`, async function () {
        setAttentionStrategy(strategy);
        // On wasm/cpu every strategy runs; elsewhere the fused kernel does not exist.
        if (attentionStrategy(8) !== strategy) {
          if (['wasm', 'cpu'].includes(tf.getBackend()))
            throw new Error(`strategy '${strategy}' is unavailable on ${tf.getBackend()}`);
          skipUnlessBackend(this, ['wasm', 'cpu'], `the '${strategy}' attention strategy`);
        }
        const attn = await loadAttn(which);
        const x = tf.randomNormal([2, 256, 64], 0, 1, 'float32', 1) as tf.Tensor3D;
        const ctx = which === 'attn2' ? (tf.randomNormal([2, 77, 32], 0, 1, 'float32', 2) as tf.Tensor3D) : undefined;
        const plain = attn.forward(x, ctx);
        const pass = new PassThrough();
        const controlled = attn.forward(x, ctx, { controller: pass, step: 0 });
        const [a, b] = [await bits(controlled), await bits(plain)];
        const maxDiff = tf.tidy(() => tf.max(tf.abs(tf.sub(controlled, plain))).dataSync()[0]);
        tf.dispose([x, ctx, plain, controlled].filter(Boolean) as tf.Tensor[]);
        attn.dispose();
        expect(pass.calls).to.equal(1);
        let differing = 0;
        for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) differing++;
        expect(differing, `${differing}/${a.length} values differ (max |diff| ${maxDiff})`).to.equal(0);
      });
    }
  }

  it('example: AttentionReplace on one cross-attention layer with a CFG batch', async () => {
    const attn = await loadAttn('attn2');
    // One latent for both prompts, batch [uncond, uncond, "cat" prompt, "dog" prompt]; stand-in text embeddings.
    const x = tf.tidy(() => tf.tile(tf.randomNormal([1, 256, 64], 0, 1, 'float32', 3), [4, 1, 1]) as tf.Tensor3D);
    const text = tf.randomNormal([4, 77, 32], 0, 1, 'float32', 4) as tf.Tensor3D;
    const replace = new AttentionReplace({
      tokenizer: clipTokenizer(),
      prompts: ['a cat riding a bicycle', 'a dog riding a bicycle'],
      numSteps: 5,
      crossReplaceSteps: 0.8,
      selfReplaceSteps: 0.4,
      latentSize: { height: 64, width: 64 },
    });
    const tap = new Tap(replace);
    const edited = attn.forward(x, text, { controller: tap, step: 0 });
    const reference = attn.forward(x, text, { controller: new PassThrough(), step: 0 });
    const rows = async (t: tf.Tensor, i: number) =>
      Array.from((await t.data()).subarray(i * 256 * 64, (i + 1) * 256 * 64));
    // Unconditional items and the source prompt are untouched.
    for (const i of [0, 1, 2]) expect(await rows(edited, i), `item ${i}`).to.deep.equal(await rows(reference, i));
    expect(await rows(edited, 3)).to.not.deep.equal(await rows(reference, 3));
    // "cat" → "dog" maps token 2 to token 2: the edited prompt's probabilities are the source's.
    const probs = await tap.out[0].data();
    const n = 8 * 256 * 77;
    expect(Array.from(probs.subarray(3 * n, 4 * n))).to.deep.equal(Array.from(probs.subarray(2 * n, 3 * n)));
    // After the cross-attention window (step 4 of 5) the layer is left to its fast path.
    expect(replace.wantsProbs({ ...ctxFor(attn), step: 4 })).to.equal(true); // stored: 16² ≤ 32²
    tf.dispose([x, text, edited, reference, ...tap.out]);
    replace.dispose();
    attn.dispose();
  });
});

function ctxFor(attn: Attention): AttentionContext {
  return {
    ...attn.placement,
    isCross: true,
    step: 0,
    height: 16,
    width: 16,
    latent: { height: 64, width: 64 },
    queries: 256,
    keys: 77,
    heads: 8,
    batch: 4,
  };
}
