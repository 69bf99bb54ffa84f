import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { join } from 'node:path';
import { Attention } from '../src/nn/attention.js';
import {
  attend,
  attentionStats,
  resetAttentionStats,
  setAttentionStrategy,
  type AttentionStrategy,
} from '../src/nn/attention-core.js';
import type { AttentionContext, AttentionController } from '../src/nn/attention-control.js';
import { PrefixedWeightSource } from '../src/io/weights.js';
import { loadWeights } from '../src/nn/load-weights.js';
import { openWeightFiles } from '../src/node/weights.js';
import { caseTolerance, describeRef, fixtureTf, tinySdDir } from './helpers/reference.js';
import { expectClose } from './helpers/close.js';

const PREFIX = 'down_blocks.2.attentions.0.transformer_blocks.0.';

/** Records the probabilities it sees and returns them unchanged. */
class Recorder implements AttentionController {
  seen: { probs: tf.Tensor3D; ctx: AttentionContext }[] = [];
  onAttention(probs: tf.Tensor3D, ctx: AttentionContext) {
    this.seen.push({ probs: tf.keep(probs.clone()), ctx });
    return probs;
  }
}

describeRef('Attention layer (tiny-sd down_blocks.2, 16×16, 8 heads) vs reference', () => {
  for (const strategy of ['fused', 'per-head', 'batched'] as AttentionStrategy[]) {
    describe(`strategy ${strategy}`, () => {
      before(() => setAttentionStrategy(strategy));
      after(() => setAttentionStrategy(undefined));

      for (const which of ['attn1', 'attn2'] as const) {
        it(`${which}: q, k, v, merged heads, probabilities and output match`, async () => {
          const src = await openWeightFiles(join(tinySdDir, 'unet', 'diffusion_pytorch_model.safetensors'));
          const attn = new Attention({
            queryDim: 64,
            crossAttentionDim: which === 'attn2' ? 32 : undefined,
            heads: 8,
            dimHead: 8,
          });
          await loadWeights(attn, new PrefixedWeightSource(src, `${PREFIX}${which}.`));
          const x = (await fixtureTf('cases/attention.safetensors', `${which}.hidden_states_in`)) as tf.Tensor3D;
          const ctxT =
            which === 'attn2'
              ? ((await fixtureTf('cases/attention.safetensors', 'attn2.encoder_hidden_states')) as tf.Tensor3D)
              : undefined;
          // The projections and the merged heads (attention before to_out) on their own.
          const F = 'cases/attention.safetensors';
          const tol = (name: string) => caseTolerance('attention', `${which}.${name}`);
          const kv = ctxT ?? x;
          const [q, k, v] = [attn.toQ.forward(x), attn.toK.forward(kv), attn.toV.forward(kv)];
          for (const [name, t] of [
            ['q', q],
            ['k', k],
            ['v', v],
          ] as const) {
            const exp = await fixtureTf(F, `${which}.${name}`);
            expect(t.shape, name).to.deep.equal(exp.shape);
            expectClose(t, exp, tol(name), `${which}.${name}`);
            exp.dispose();
          }
          resetAttentionStats();
          const merged = attend(q, k, v, { heads: 8 });
          expect(attentionStats().calls[strategy], `attend() ran '${strategy}'`).to.equal(1);
          const expMerged = await fixtureTf(F, `${which}.attn_heads_merged`);
          expectClose(merged, expMerged, tol('attn_heads_merged'), `${which}.attn_heads_merged`);
          tf.dispose([q, k, v, merged, expMerged]);

          const rec = new Recorder();
          resetAttentionStats();
          const out = attn.forward(x, ctxT, { controller: rec, step: 3 });
          expect(attentionStats().calls[strategy], `forward ran '${strategy}'`).to.equal(1);
          const expProbs = await fixtureTf('cases/attention.safetensors', `${which}.attention_probs`);
          const expOut = await fixtureTf('cases/attention.safetensors', `${which}.hidden_states_out`);
          expect(rec.seen).to.have.length(1);
          const { probs, ctx } = rec.seen[0];
          expect(ctx.isCross).to.equal(which === 'attn2');
          expect(ctx.step).to.equal(3);
          expect([ctx.height, ctx.width, ctx.heads, ctx.batch]).to.deep.equal([16, 16, 8, 1]);
          expect(probs.shape).to.deep.equal(expProbs.shape);
          expectClose(probs, expProbs, caseTolerance('attention', `${which}.attention_probs`), `${which} probs`);
          expectClose(out, expOut, caseTolerance('attention', `${which}.hidden_states_out`), `${which} out`);
          // Without a controller the (faster) path gives the same output.
          const plain = attn.forward(x, ctxT);
          expectClose(
            plain,
            expOut,
            caseTolerance('attention', `${which}.hidden_states_out`),
            `${which} out, no controller`,
          );
          tf.dispose([x, ctxT, out, plain, probs, expProbs, expOut].filter(Boolean) as tf.Tensor[]);
          attn.dispose();
          await src.close();
        });
      }
    });
  }
});
