/**
 * `--precision bf16` on the native backend: convolutions and matmuls take bf16 operands (oneDNN
 * rounds float32 to bf16 to nearest: relative error ≤ 2^-9 per operand, the unit roundoff of an
 * 8-bit significand) with fp32 accumulation and fp32 outputs. Bounds, each derived:
 *  - one convolution, per element: |bf16 − fp32| ≤ (2·2^-9 + 2^-18)·Σ|x·w| (both operands of
 *    every product rounded) + 2·K·2^-24·Σ|x·w| (the two runs' fp32 accumulation over K terms),
 *    with Σ|x·w| computed as conv(|x|, |w|);
 *  - the pipeline (PNDM-20, CFG 7.5, random weights): to first order the output error grows
 *    linearly with the rounding injected per operation. The fp32 run's error against diffusers
 *    (rounding at 2^-24, docs/native.md: step-1 latents 8.3e-6, final latents 1.1e-4, image
 *    3.0e-6) times 2^15 = 2^-9/2^-24 estimates the bf16 error: 0.27, 3.6 and 0.098 (measured
 *    in bf16: 0.068, 1.03, 0.010). The reductions' lengths cancel in the ratio: both runs sum
 *    the same terms, only their rounding differs.
 *  - attention over ≥ 256 keys (native/src/attention.cc), per output element: with δ the largest
 *    score error of its row, |Δs_j| ≤ (2·2^-9 + 2^-18)·scale·Σ_e|q_e·k_je|, the softmax moves each
 *    probability by at most p_j·(e^{2δ} − 1), and p·v rounds both operands again:
 *    |bf16 − exact| ≤ Σ_j p_j|v_j|·((e^{2δ} − 1) + e^{2δ}·(2·2^-9 + 2^-18)), plus fp32 slack.
 * The test also checks that bf16 is really in effect and deterministic.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { setNativePrecision } from '../src/node/native/candidate.js';
import { loadNativeAddon } from '../src/node/native/addon.js';
import { loadPipelineFromDirectory } from '../src/node/pipeline.js';
import type { StableDiffusionPipeline } from '../src/pipeline/pipeline.js';
import { compare } from './helpers/close.js';
import { applyAttentionProbs, attentionProbs, fusedAttention } from '../src/backend/attention-ops.js';
import { describeNative, onActive, randomValues, useNativeBackend } from './helpers/native.js';
import { describeRef, fixtureTensor, readJson, tinySdDir } from './helpers/reference.js';

describeNative('native bf16 precision', function () {
  useNativeBackend();
  afterEach(() => setNativePrecision('fp32'));

  it('is deterministic and each element differs from fp32 within bf16 operand rounding of Σ|x·w|', () => {
    const x = randomValues([2, 12, 12, 32], 1);
    const w = randomValues([3, 3, 32, 24], 2);
    const K = 3 * 3 * 32;
    const conv = (a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same');
    const run = () => onActive([x, w], conv);
    const fp32 = run();
    const absSum = onActive([x, w], (a, b) => conv(tf.abs(a), tf.abs(b)));
    setNativePrecision('bf16');
    const a = run();
    const b = run();
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer)), 'bf16 run to run').to.equal(true);
    const operands = 2 * 2 ** -9 + 2 ** -18;
    const accumulation = 2 * K * 2 ** -24;
    let bf16Seen = false;
    for (let i = 0; i < a.length; i++) {
      const d = Math.abs(a[i] - fp32[i]);
      expect(d, `element ${i}: |bf16 − fp32| vs Σ|x·w| ${absSum[i]}`).to.be.at.most(
        (operands + accumulation) * absSum[i],
      );
      // More than fp32 reordering could explain: bf16 rounding is in effect.
      if (d > accumulation * absSum[i]) bf16Seen = true;
    }
    expect(bf16Seen, 'some element differs by more than fp32 accumulation order can').to.equal(true);
  });

  for (const [n, m, heads, d] of [
    [19, 301, 2, 40],
    [9, 260, 3, 80],
  ]) {
    it(`attention over ${m} keys, ${heads}×${d}: within the propagated bf16 rounding, probs → apply equal to fused`, () => {
      const q = randomValues([1, n, heads * d], 11);
      const k = randomValues([1, m, heads * d], 12);
      const v = randomValues([1, m, heads * d], 13);
      const scale = 2 / Math.sqrt(d);
      const c = heads * d;
      const fused = () =>
        onActive([q, k, v], (a, b, x) =>
          fusedAttention(a as tf.Tensor3D, b as tf.Tensor3D, x as tf.Tensor3D, { heads, scale }),
        );
      const split = () =>
        onActive([q, k, v], (a, b, x) =>
          applyAttentionProbs(
            attentionProbs(a as tf.Tensor3D, b as tf.Tensor3D, { heads, scale }),
            x as tf.Tensor3D,
            heads,
          ),
        );
      const fp32 = fused();
      setNativePrecision('bf16');
      const got = fused();
      expect(Buffer.from(fused().buffer).equals(Buffer.from(got.buffer)), 'bf16 run to run').to.equal(true);
      expect(Buffer.from(split().buffer).equals(Buffer.from(got.buffer)), 'probs → apply vs fused').to.equal(true);
      const u = 2 * 2 ** -9 + 2 ** -18;
      let bf16Seen = false;
      for (let h = 0; h < heads; h++) {
        for (let i = 0; i < n; i++) {
          const s = new Float64Array(m);
          let delta = 0;
          for (let j = 0; j < m; j++) {
            let dot = 0;
            let abs = 0;
            for (let e = 0; e < d; e++) {
              const x = q.values[i * c + h * d + e] * k.values[j * c + h * d + e];
              dot += x;
              abs += Math.abs(x);
            }
            s[j] = scale * dot;
            delta = Math.max(delta, u * scale * abs);
          }
          const top = Math.max(...s);
          let sum = 0;
          for (let j = 0; j < m; j++) sum += s[j] = Math.exp(s[j] - top);
          for (let e = 0; e < d; e++) {
            let exact = 0;
            let mass = 0;
            for (let j = 0; j < m; j++) {
              const x = v.values[j * c + h * d + e];
              exact += (s[j] / sum) * x;
              mass += (s[j] / sum) * Math.abs(x);
            }
            const bound = mass * (Math.expm1(2 * delta) + Math.exp(2 * delta) * u) + 1e-6;
            const at = i * c + h * d + e;
            expect(Math.abs(got[at] - exact), `head ${h} row ${i} col ${e}`).to.be.at.most(bound);
            // More than fp32 rounding could explain: the bf16 path ran.
            if (Math.abs(got[at] - fp32[at]) > 1e-4 * mass) bf16Seen = true;
          }
        }
      }
      // Without AVX512-BF16 the attention stays fp32 (and then equals the fp32 run).
      expect(bf16Seen, 'bf16 in effect').to.equal(loadNativeAddon().info().attentionBf16);
    });
  }

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
        prompts: meta.prompts,
        negativePrompts: meta.negative_prompts,
        steps: 20,
        guidance: 7.5,
        latents: await fixtureTensor(file, 'init_latents'),
        scheduler: 'pndm',
        keepLatentsPerStep: true,
      });
      const perStep = r.latentsPerStep!.data;
      const step = perStep.length / r.latentsPerStep!.shape[0];
      const want = await fixtureTensor(file, 'latents_per_step');
      // See the file comment: the fp32 error × 2^15 (= 2^-9 / 2^-24).
      const FP32_ERROR = { step1: 8.3e-6, final: 1.1e-4, image: 3.0e-6 };
      const ratio = 2 ** 15;
      const first = compare(perStep.subarray(0, step), want.data.subarray(0, step), { atol: 0 });
      // Above: bf16 in effect (more than 10× the fp32 run's 8.3e-6).
      expect(first.maxAbs, 'step-1 latents').to.be.within(1e-4, ratio * FP32_ERROR.step1);
      expect(
        compare(r.latents.data, (await fixtureTensor(file, 'final_latents')).data, { atol: 0 }).maxAbs,
        'final latents',
      ).to.be.below(ratio * FP32_ERROR.final);
      const image = new Float32Array(r.images.flatMap((im) => Array.from(im.data)));
      expect(compare(image, (await fixtureTensor(file, 'image')).data, { atol: 0 }).maxAbs, 'image').to.be.below(
        ratio * FP32_ERROR.image,
      );
    });
  });
});
