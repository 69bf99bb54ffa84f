/**
 * Zero terminal SNR (rescale_betas_zero_snr + v_prediction + trailing spacing, Lin et al. 2023) in
 * every scheduler: the run starts at t = 999, and a sampling loop driven by an oracle model that
 * knows the clean sample x₀ follows the exact probability-flow trajectory from pure noise to x₀.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import {
  createScheduler,
  SCHEDULER_NAMES,
  type Scheduler,
  type SchedulerName,
} from '../src/models/schedulers/index.js';
import { alphasCumprod, makeBetas } from '../src/models/schedulers/betas.js';
import { TERMINAL_ALPHA_FOR_SIGMAS } from '../src/models/schedulers/common.js';
import { join } from 'node:path';
import { demoModelDir } from '../src/node/package-files.js';
import { readLatentsFile } from '../src/node/latents-file.js';
import { openSafetensors } from '../src/node/weights.js';
import { ptp } from './helpers/cli.js';
import { linkCopy, putFile } from './helpers/model-copy.js';
import { tempDirForSuite } from './helpers/tmp.js';

/** The shipped demo model's scheduler_config.json once retrained for zero terminal SNR (issue 19). */
const ZSNR: Record<string, unknown> = {
  _class_name: 'DDIMScheduler',
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  num_train_timesteps: 1000,
  clip_sample: false,
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: 1,
  trained_betas: null,
  prediction_type: 'v_prediction',
  rescale_betas_zero_snr: true,
  timestep_spacing: 'trailing',
};
const SHAPE = [1, 4, 4, 4];
/** float32 rounding allowance of a whole run (measured ≤ 4e-6). */
const ROUNDING = 1e-5;

/** ᾱ the model was trained with (ᾱ_999 = 0 exactly under zero SNR; no 2⁻²⁴ clamp). */
function trainingAlphas(zeroSnr: boolean): Float32Array {
  return alphasCumprod(
    makeBetas({
      betaStart: 0.00085,
      betaEnd: 0.012,
      betaSchedule: 'scaled_linear',
      numTrainTimesteps: 1000,
      trainedBetas: null,
      rescaleBetasZeroSnr: zeroSnr,
    }),
  );
}

/** ᾱ the scheduler's last step ends at (DDIM/PNDM: final ᾱ; σ-schedulers: 1/(σ_last²+1)). */
function finalAlpha(s: Scheduler): number {
  const o = s as unknown as { finalAlphaCumprod?: number; sigmas?: Float32Array };
  if (o.finalAlphaCumprod !== undefined) return o.finalAlphaCumprod;
  const sigma = o.sigmas![o.sigmas!.length - 1];
  return 1 / (sigma * sigma + 1);
}

interface OracleRun {
  timesteps: number[];
  /** Per model call: max |model input − (√ᾱ_t·x₀ + √(1−ᾱ_t)·ε)| (variance-preserving scale). */
  deviations: number[];
  /** max |final sample − (√ᾱ_f·x₀ + √(1−ᾱ_f)·ε)|, ᾱ_f the scheduler's final level (1 for Euler/LMS). */
  finalError: number;
  maxAbsX0: number;
}

/**
 * A full sampling loop (as the pipeline runs it) whose "model" returns the exact output for a known
 * x₀: from the scaled input x_t, ε = (x_t − √ᾱ·x₀)/√(1−ᾱ) and v = √ᾱ·ε − √(1−ᾱ)·x₀ (v = −x₀ at ᾱ = 0),
 * in double, with the training ᾱ. ε is the noise the run starts from (read from the first input),
 * constant along the exact trajectory.
 */
function oracleRun(type: SchedulerName, config: Record<string, unknown>, steps: number): OracleRun {
  const before = tf.memory().numTensors;
  const s = createScheduler(config, { type });
  s.setTimesteps(steps);
  const abar = trainingAlphas(config.rescale_betas_zero_snr === true);
  const prediction = (config.prediction_type as string | undefined) ?? 'epsilon';
  const noise = tf.randomNormal(SHAPE, 0, 1, 'float32', 5);
  const x0 = tf.tidy(() => tf.randomUniform(SHAPE, -1.5, 1.5, 'float32', 6).dataSync() as Float32Array);
  let x = tf.mul(noise, s.initNoiseSigma);
  noise.dispose();
  let eps: Float64Array | null = null;
  const deviations: number[] = [];
  for (const t of s.timesteps) {
    const input = s.scaleModelInput(x, t);
    const xt = input.dataSync();
    const a = abar[t];
    eps ??= Float64Array.from(xt, (v, k) => (v - Math.sqrt(a) * x0[k]) / Math.sqrt(1 - a));
    let dev = 0;
    const out = Float32Array.from(xt, (v, k) => {
      dev = Math.max(dev, Math.abs(v - (Math.sqrt(a) * x0[k] + Math.sqrt(1 - a) * eps![k])));
      const e = (v - Math.sqrt(a) * x0[k]) / Math.sqrt(1 - a);
      if (prediction === 'epsilon') return e;
      if (prediction === 'sample') return x0[k];
      return Math.sqrt(a) * e - Math.sqrt(1 - a) * x0[k];
    });
    deviations.push(dev);
    const modelOutput = tf.tensor(out, SHAPE);
    const next = s.step(modelOutput, t, x);
    tf.dispose([input, modelOutput, x]);
    x = next;
  }
  const af = finalAlpha(s);
  const xf = x.dataSync();
  let finalError = 0;
  for (let k = 0; k < xf.length; k++)
    finalError = Math.max(finalError, Math.abs(xf[k] - (Math.sqrt(af) * x0[k] + Math.sqrt(1 - af) * eps![k])));
  x.dispose();
  s.dispose();
  expect(tf.memory().numTensors, `${type}: tensors left by the run`).to.equal(before);
  return {
    timesteps: [...s.timesteps],
    deviations,
    finalError,
    maxAbsX0: x0.reduce((m, v) => Math.max(m, Math.abs(v)), 0),
  };
}

/**
 * How far the σ-based schedulers (Euler, LMS, DPM) may stray under zero SNR: they take ᾱ_999 = 2⁻²⁴
 * (σ_max ≈ 4096, as diffusers) while the model was trained with 0, so they read pure noise as
 * ε − x₀·2⁻¹²: an offset of √(1−ᾱ_t)·2⁻¹²·|x₀| that the final, noise-free level removes.
 */
function clampOffset(type: SchedulerName, zeroSnr: boolean, maxAbsX0: number, alphaLevel = 0): number {
  if (!zeroSnr || type === 'ddim' || type === 'pndm') return 0;
  return Math.sqrt(1 - alphaLevel) * Math.sqrt(TERMINAL_ALPHA_FOR_SIGMAS) * maxAbsX0;
}

describe('zero terminal SNR + v_prediction + trailing spacing in every scheduler', () => {
  for (const type of SCHEDULER_NAMES) {
    it(`${type}: accepts rescale_betas_zero_snr; the run starts at t = 999 for any step count`, () => {
      const s = createScheduler(ZSNR, { type });
      expect((s as unknown as { rescaleBetasZeroSnr: boolean }).rescaleBetasZeroSnr).to.equal(true);
      const ac = (s as unknown as { alphasCumprod: Float32Array }).alphasCumprod;
      expect(ac[999]).to.equal(type === 'ddim' || type === 'pndm' ? 0 : TERMINAL_ALPHA_FOR_SIGMAS);
      expect([...ac.subarray(0, 999)]).to.deep.equal([...trainingAlphas(true).subarray(0, 999)]);
      for (const n of [1, 7, 20, 30, 50]) {
        s.setTimesteps(n);
        expect(s.timesteps[0], `${n} steps`).to.equal(999);
        expect(s.timesteps.length).to.equal(type === 'pndm' && n > 1 ? n + 1 : n); // PNDM repeats its second timestep
      }
      if (type === 'euler' || type === 'lms') expect(s.initNoiseSigma).to.be.closeTo(4096, 0.01);
    });
  }

  const variants: [string, SchedulerName, Record<string, unknown>, number][] = [
    ...SCHEDULER_NAMES.map((t): [string, SchedulerName, Record<string, unknown>, number] => [t, t, ZSNR, ROUNDING]),
    // Noise-prediction DPM-Solver: its first step cancels (α_t/α_s)·x against σ_t(eʰ−1)·ε̂, terms of
    // ~10³ when α_s = 2⁻¹² (float32: ~7e-5 measured at 20 steps; diffusers computes the same way).
    ['dpmpp (dpmsolver, heun)', 'dpmpp', { ...ZSNR, algorithm_type: 'dpmsolver', solver_type: 'heun' }, 1e-4],
  ];
  for (const [what, type, config, rounding] of variants) {
    for (const steps of [20, 50]) {
      it(`${what}, ${steps} steps: an exact-v oracle is led from pure noise along the exact trajectory to x₀`, () => {
        const r = oracleRun(type, config, steps);
        expect(r.timesteps[0]).to.equal(999);
        // The first input is the pure noise itself (ᾱ = 0): nothing to compare yet.
        expect(r.deviations[0]).to.be.below(1e-6);
        // The second input is the result of the first step, from ᾱ = 0.
        const first = clampOffset(type, true, r.maxAbsX0) + rounding;
        expect(r.deviations[1], 'after the first step').to.be.below(first);
        if (type === 'pndm') return; // the rest of PNDM: next test
        r.deviations.forEach((d, i) => expect(d, `input of call ${i} (t=${r.timesteps[i]})`).to.be.below(first));
        expect(r.finalError, 'final sample').to.be.below(
          clampOffset(type, true, r.maxAbsX0, finalAlphaOf(type, config)) + rounding,
        );
      });
    }
  }

  it('pndm: with v its multistep combines raw v outputs (diffusers) — as accurate as without zero SNR, and converging', () => {
    const vTrailing = { ...ZSNR, rescale_betas_zero_snr: false };
    const [z20, z50, p20, p50] = [
      oracleRun('pndm', ZSNR, 20),
      oracleRun('pndm', ZSNR, 50),
      oracleRun('pndm', vTrailing, 20),
      oracleRun('pndm', vTrailing, 50),
    ];
    // Measured: zero SNR 2.27e-2 / 8.4e-3, without 2.08e-2 / 7.7e-3 (an O(1/steps) error of PLMS over v).
    expect(z20.finalError).to.be.below(1.15 * p20.finalError);
    expect(z50.finalError).to.be.below(1.15 * p50.finalError);
    expect(z50.finalError).to.be.below(0.45 * z20.finalError);
    expect(z20.finalError).to.be.below(0.03);
  });

  for (const type of ['ddim', 'euler', 'lms', 'dpmpp'] as SchedulerName[]) {
    it(`${type}: prediction_type "sample" under zero SNR follows the exact trajectory too`, () => {
      const r = oracleRun(type, { ...ZSNR, prediction_type: 'sample' }, 20);
      const tol = clampOffset(type, true, r.maxAbsX0) + ROUNDING;
      r.deviations.forEach((d, i) => expect(d, `input of call ${i}`).to.be.below(tol));
      expect(r.finalError).to.be.below(clampOffset(type, true, r.maxAbsX0, finalAlphaOf(type, ZSNR)) + ROUNDING);
    });
  }

  for (const type of SCHEDULER_NAMES) {
    it(`${type}: ε-prediction (where defined: without zero SNR, trailing from t = 999) recovers x₀ exactly`, () => {
      const r = oracleRun(type, { ...ZSNR, rescale_betas_zero_snr: false, prediction_type: 'epsilon' }, 20);
      expect(r.timesteps[0]).to.equal(999);
      r.deviations.forEach((d, i) => expect(d, `input of call ${i}`).to.be.below(ROUNDING));
      expect(r.finalError).to.be.below(ROUNDING);
    });

    it(`${type}: zero SNR with ε-prediction is refused in one line`, () => {
      for (const cfg of [
        { ...ZSNR, prediction_type: 'epsilon' },
        { ...ZSNR, prediction_type: undefined },
      ]) {
        let msg = '';
        try {
          createScheduler(cfg, { type });
        } catch (e) {
          msg = (e as Error).message;
        }
        expect(msg).to.match(
          /config: "prediction_type" "epsilon" cannot be used with rescale_betas_zero_snr .*use v_prediction$/,
        );
        expect(msg).not.to.include('\n');
      }
    });
  }
});

describe('cli: ptp generate --scheduler <each> on a model whose scheduler_config.json asks for zero SNR', function () {
  this.timeout(300000);
  const tmp = tempDirForSuite('zsnr-cli');

  it('every scheduler samples it from t = 999 (finite latents, timesteps in the latents file)', async () => {
    // The shipped model's weights with the zero-SNR v-prediction config of its retraining (issue 19).
    const model = linkCopy(demoModelDir(), join(tmp(), 'model'));
    putFile(model, 'scheduler/scheduler_config.json', JSON.stringify(ZSNR));
    for (const scheduler of SCHEDULER_NAMES) {
      const latents = join(tmp(), `${scheduler}.safetensors`);
      const r = await ptp(
        'generate',
        '--model',
        model,
        '--prompt',
        'a red circle',
        '--steps',
        '3',
        '--seed',
        '1',
        '--height',
        '64',
        '--width',
        '64',
        '--scheduler',
        scheduler,
        '--save-latents',
        latents,
        '--out',
        join(tmp(), `${scheduler}.png`),
      );
      expect(r.code, `${scheduler}: ${r.stderr}`).to.equal(0);
      const final = (await readLatentsFile(latents)).data;
      expect(final.every(Number.isFinite), `${scheduler}: finite latents`).to.equal(true);
      const f = await openSafetensors(latents);
      expect(f.metadata.timesteps.split(',')[0], scheduler).to.equal('999');
      await f.close();
    }
  });
});

/** ᾱ of the scheduler's final level for a config (built on the side). */
function finalAlphaOf(type: SchedulerName, config: Record<string, unknown>): number {
  const s = createScheduler(config, { type });
  s.setTimesteps(20);
  return finalAlpha(s);
}
