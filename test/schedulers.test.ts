import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { createScheduler, DDIMScheduler, SCHEDULER_NAMES, type SchedulerName } from '../src/models/schedulers/index.js';
import { caseTolerance, describeRef, fixture, fixtureTensor, hasReference, readJson } from './helpers/reference.js';
import { expectClose } from './helpers/close.js';

/** SD-1.5's scheduler_config.json (checked against the reference copy below), so tests without fixtures can use it. */
const SD15: Record<string, unknown> = {
  _class_name: 'PNDMScheduler',
  _diffusers_version: '0.6.0',
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  beta_start: 0.00085,
  num_train_timesteps: 1000,
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: 1,
  trained_betas: null,
  clip_sample: false,
};
const CASE_TYPES: Record<string, SchedulerName> = {
  ddim: 'ddim',
  pndm: 'pndm',
  euler: 'euler',
  lms: 'lms',
  dpmpp2m: 'dpmpp',
};
const CLASS_NAMES: Record<SchedulerName, string> = {
  ddim: 'DDIMScheduler',
  pndm: 'PNDMScheduler',
  euler: 'EulerDiscreteScheduler',
  lms: 'LMSDiscreteScheduler',
  dpmpp: 'DPMSolverMultistepScheduler',
};
/** The P2P fixtures' DDIM (ptp_utils / null-text notebook). */
const P2P_DDIM = {
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  clip_sample: false,
  set_alpha_to_one: false,
  steps_offset: 1,
};

/** Values of a fixture tensor (any dtype) as numbers. */
async function values(file: string, name: string): Promise<number[]> {
  return [...(await fixtureTensor(file, name)).data];
}

/** Row `i` of a stacked fixture tensor [n, ...shape]. */
function row(f: { data: Float32Array; shape: number[] }, i: number): Float32Array {
  const size = f.shape.slice(1).reduce((a, b) => a * b, 1);
  return f.data.subarray(i * size, (i + 1) * size);
}

function bitExact(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  expect(got.length, `${what}: length`).to.equal(want.length);
  const bad: string[] = [];
  for (let i = 0; i < want.length && bad.length < 5; i++)
    if (Math.fround(got[i]) !== want[i]) bad.push(`[${i}] ${got[i]} vs ${want[i]}`);
  expect(bad, `${what}: not bit-identical`).to.deep.equal([]);
}

/** How each fixture case was configured (cases/index.json → "call"): the base config and its overrides. */
interface SchedulerCase {
  type: SchedulerName;
  /** Key of the case in index.json → scheduler_timesteps. */
  kind: string;
  steps: number;
  config: Record<string, unknown>;
}

/**
 * `scheduler_<kind>[_vpred|_sample][_zsnr_trailing]_<steps>`: the SD-1 cases use SD-1.5's config; the
 * SD-2 cases use sd21-config's (v_prediction), with prediction_type "sample" or rescale_betas_zero_snr +
 * trailing spacing on top, as the fixture generator does.
 */
function parseCase(caseName: string): SchedulerCase {
  const m = /^scheduler_(ddim|pndm|euler|lms|dpmpp2m)(?:_(vpred|sample))?(_zsnr_trailing)?_(\d+)$/.exec(caseName);
  if (!m) throw new Error(`unrecognised scheduler case name ${caseName}`);
  const [, kind, prediction, zsnr, steps] = m;
  let config = SD15;
  if (prediction) {
    config = { ...readJson('sd21-config/scheduler/scheduler_config.json') };
    if (prediction === 'sample') config.prediction_type = 'sample';
    if (zsnr) Object.assign(config, { rescale_betas_zero_snr: true, timestep_spacing: 'trailing' });
  }
  return { type: CASE_TYPES[kind], kind: caseName.slice('scheduler_'.length), steps: Number(steps), config };
}

describeRef('schedulers vs diffusers (cases/scheduler_*)', () => {
  // (describe.skip still runs this body when the fixtures are missing)
  const index = hasReference ? readJson('cases/index.json') : { cases: {} };
  const caseNames = Object.keys(index.cases).filter((k) => k.startsWith('scheduler_'));

  it('covers every scheduler case of the fixtures; SD15 above is the reference scheduler_config.json', () => {
    expect(caseNames.length).to.be.at.least(21);
    for (const name of index.sd2.cases.filter((c: string) => c.startsWith('scheduler_')))
      expect(caseNames).to.include(name);
    expect(readJson('sd15-config/scheduler/scheduler_config.json')).to.deep.equal(SD15);
  });

  for (const caseName of caseNames) {
    const { type, kind, steps, config } = parseCase(caseName);
    const file = `cases/${caseName}.safetensors`;

    describe(`${caseName} (${CLASS_NAMES[type]}, ${steps} steps)`, () => {
      const meta = index.cases[caseName];

      it('is built from the config with the effective settings of the reference', () => {
        expect(meta.scheduler_class).to.equal(CLASS_NAMES[type]);
        const s = createScheduler(config, { type: meta.scheduler_class }) as unknown as Record<string, unknown>;
        expect(s.name).to.equal(type);
        const eff = meta.effective_config;
        if ('timestepSpacing' in s) expect(s.timestepSpacing).to.equal(eff.timestep_spacing);
        if ('stepsOffset' in s) expect(s.stepsOffset).to.equal(eff.steps_offset);
        expect(s.predictionType).to.equal(eff.prediction_type);
        expect(s.rescaleBetasZeroSnr ?? false).to.equal(eff.rescale_betas_zero_snr ?? false);
      });

      it('timesteps (exact), alphas_cumprod (bit-identical), sigmas and init_noise_sigma', async () => {
        const s = createScheduler(config, { type });
        s.setTimesteps(steps);
        const want = await values(file, 'timesteps');
        expect(s.timesteps).to.deep.equal(want);
        expect(s.timesteps).to.deep.equal(index.scheduler_timesteps[kind]);
        bitExact(
          (s as DDIMScheduler).alphasCumprod,
          (await fixtureTensor(file, 'alphas_cumprod')).data,
          'alphas_cumprod',
        );
        if ((await fixture(file)).tensors.has('sigmas')) {
          bitExact(
            (s as unknown as { sigmas: Float32Array }).sigmas,
            (await fixtureTensor(file, 'sigmas')).data,
            'sigmas',
          );
        }
        const sigma0 = (await fixtureTensor(file, 'init_noise_sigma')).data[0];
        expect(Math.fround(s.initNoiseSigma)).to.equal(sigma0);
      });

      it('chained run (own outputs fed back): scale_model_input and step results match every step', async () => {
        const tol = caseTolerance(caseName, 'prev_samples');
        // DDIM, PNDM and Euler reproduce diffusers bit for bit on IEEE float32 backends; guard that too.
        const exact = ['ddim', 'pndm', 'euler'].includes(type) && ['wasm', 'cpu'].includes(tf.getBackend());
        const check = exact ? { atol: 0 } : tol;
        const init = await fixtureTensor(file, 'init_sample');
        const outs = await fixtureTensor(file, 'model_outputs');
        const scaledWant = await fixtureTensor(file, 'scaled_model_inputs');
        const prevWant = await fixtureTensor(file, 'prev_samples');
        const s = createScheduler(config, { type });
        s.setTimesteps(steps);
        const before = tf.memory().numTensors;
        let sample = tf.tidy(() => tf.mul(tf.tensor(init.data, init.shape), s.initNoiseSigma));
        s.timesteps.forEach((t, i) => {
          const scaled = s.scaleModelInput(sample, t);
          expectClose(scaled, row(scaledWant, i), check, `step ${i} (t=${t}) scaled_model_input`);
          const eps = tf.tensor(row(outs, i), outs.shape.slice(1));
          const next = s.step(eps, t, sample);
          expectClose(next, row(prevWant, i), check, `step ${i} (t=${t}) prev_sample`);
          tf.dispose([scaled, eps, sample]);
          sample = next;
        });
        sample.dispose();
        s.dispose();
        expect(tf.memory().numTensors, 'tensors left after the run and dispose()').to.equal(before);
      });
    });
  }
});

describe('schedulers: state, memory and layout', () => {
  const cfg = { ...P2P_DDIM, skip_prk_steps: true };

  for (const type of ['ddim', 'pndm', 'euler', 'lms', 'dpmpp'] as SchedulerName[]) {
    it(`${type}: no tensors leak over a full loop + dispose(), and reset() gives an identical rerun`, () => {
      const s = createScheduler(cfg, { type });
      s.setTimesteps(12);
      const run = (): Float32Array => {
        const before = tf.memory().numTensors;
        let x = tf.tidy(() => tf.mul(tf.randomNormal([1, 4, 3, 2], 0, 1, 'float32', 7), s.initNoiseSigma));
        s.timesteps.forEach((t, i) => {
          const inp = s.scaleModelInput(x, t);
          const eps = tf.tidy(() => tf.mul(tf.sin(tf.add(inp, i)), 0.5));
          const next = s.step(eps, t, x);
          tf.dispose([inp, eps, x]);
          x = next;
        });
        const out = x.dataSync() as Float32Array;
        x.dispose();
        s.reset();
        expect(tf.memory().numTensors, 'tensors left after a run').to.equal(before);
        return out;
      };
      const a = run();
      const b = run();
      expect([...b]).to.deep.equal([...a]);
      s.dispose();
    });

    it(`${type}: step is elementwise (NHWC gives the NCHW result transposed)`, () => {
      const nchw = tf.randomNormal([1, 4, 3, 5], 0, 1, 'float32', 3);
      const eps = tf.randomNormal([1, 4, 3, 5], 0, 1, 'float32', 4);
      const a = createScheduler(cfg, { type });
      const b = createScheduler(cfg, { type });
      a.setTimesteps(10);
      b.setTimesteps(10);
      let xa = nchw;
      let xb = tf.transpose(nchw, [0, 2, 3, 1]);
      const epsB = tf.transpose(eps, [0, 2, 3, 1]);
      for (const t of a.timesteps.slice(0, 4)) {
        xa = a.step(eps, t, xa);
        xb = b.step(epsB, t, xb);
      }
      expectClose(tf.transpose(xa, [0, 2, 3, 1]), xb, { atol: 0 }, `${type} NHWC vs NCHW`);
      a.dispose();
      b.dispose();
    });
  }

  it('createScheduler reads _class_name; overrides by short or class name', () => {
    expect(createScheduler(SD15).name).to.equal('pndm');
    expect(createScheduler({ ...SD15, _class_name: 'EulerDiscreteScheduler' }).name).to.equal('euler');
    expect(createScheduler(SD15, { type: 'LMSDiscreteScheduler' }).name).to.equal('lms');
    for (const n of SCHEDULER_NAMES) expect(createScheduler(SD15, { type: n }).name).to.equal(n);
  });

  it('Euler/LMS/DPM refuse timesteps out of order and stepping past the end', () => {
    const s = createScheduler(SD15, { type: 'euler' });
    s.setTimesteps(3);
    const x = tf.zeros([2]);
    const [t0, t1] = s.timesteps;
    tf.dispose(s.step(x, t0, x));
    expect(() => s.step(x, t0, x)).to.throw(/expected .*in order/);
    s.reset();
    for (const t of s.timesteps) tf.dispose(s.step(x, t, x));
    expect(() => s.scaleModelInput(x, t1)).to.throw(/steps are done/);
    x.dispose();
  });

  it('PNDM timesteps repeat the second entry (n+1 model calls)', () => {
    const s = createScheduler(SD15);
    s.setTimesteps(5);
    expect(s.timesteps).to.deep.equal([801, 601, 601, 401, 201, 1]);
    expect(() => (s.timesteps as number[]).push(1)).to.throw();
  });
});

describeRef('DDIM timesteps of the Prompt-to-Prompt fixtures', () => {
  it('P2P pipelines (steps_offset 1) and null-text inversion (steps_offset 0)', async () => {
    const s = new DDIMScheduler(P2P_DDIM);
    s.setTimesteps(5);
    expect(s.timesteps).to.deep.equal(await values('p2p/p2p_b_replace.safetensors', 'timesteps'));
    const n = new DDIMScheduler({ ...P2P_DDIM, steps_offset: 0 });
    n.setTimesteps(5);
    expect(n.timesteps).to.deep.equal(await values('p2p/p2p_h_nulltext.safetensors', 'inversion.timesteps'));
    n.setTimesteps(3);
    expect(n.timesteps).to.deep.equal(await values('p2p/p2p_h_nulltext.safetensors', 'nulltext.timesteps'));
  });
});

describe('DDIM inversion step (null-text notebook next_step)', () => {
  for (const offset of [0, 1]) {
    it(`invertStep is the inverse of step (steps_offset ${offset}) and follows next_step's formula`, () => {
      const s = new DDIMScheduler({ ...P2P_DDIM, steps_offset: offset });
      s.setTimesteps(5);
      const ac = s.alphasCumprod;
      const x = tf.randomNormal([1, 4, 4, 4], 0, 1, 'float32', 11);
      const eps = tf.randomNormal([1, 4, 4, 4], 0, 1, 'float32', 12);
      // Inversion visits the timesteps from the least noisy one up, as ddim_loop does.
      for (const t of [...s.timesteps].reverse()) {
        const up = s.invertStep(eps, t, x);
        const down = s.step(eps, t, up);
        expectClose(down, x, { atol: 2e-5, rtol: 1e-5 }, `step(invertStep(x)) at t=${t}`);
        // next_step in double: ᾱ from min(t − 200, 999) (ᾱ_0 below zero) to ᾱ_t
        const from = Math.min(t - 200, 999);
        const a = from >= 0 ? ac[from] : ac[0];
        const an = ac[t];
        const xs = x.dataSync();
        const es = eps.dataSync();
        const want = Float32Array.from(
          xs,
          (xv, k) => Math.sqrt(an) * ((xv - Math.sqrt(1 - a) * es[k]) / Math.sqrt(a)) + Math.sqrt(1 - an) * es[k],
        );
        expectClose(up, want, { atol: 1e-5, rtol: 1e-5 }, `invertStep at t=${t}`);
        tf.dispose([up, down]);
      }
      tf.dispose([x, eps]);
    });
  }
});

describe('DDIM inversion step with v_prediction and sample (diffusers DDIMInverseScheduler.step)', () => {
  for (const prediction_type of ['v_prediction', 'sample']) {
    it(`${prediction_type}: converts the model output with ᾱ of the sample's level (t − stride), then moves to ᾱ_t`, () => {
      const s = new DDIMScheduler({ ...P2P_DDIM, prediction_type });
      s.setTimesteps(5);
      const ac = s.alphasCumprod;
      const x = tf.randomNormal([1, 4, 3, 3], 0, 1, 'float32', 21);
      const out = tf.randomNormal([1, 4, 3, 3], 0, 1, 'float32', 22);
      const xs = x.dataSync();
      const os = out.dataSync();
      for (const t of [...s.timesteps].reverse()) {
        const from = t - 200;
        const a = from >= 0 ? ac[from] : ac[0];
        const an = ac[t];
        const want = Float32Array.from(xs, (xv, k) => {
          const [x0, eps] =
            prediction_type === 'v_prediction'
              ? [Math.sqrt(a) * xv - Math.sqrt(1 - a) * os[k], Math.sqrt(a) * os[k] + Math.sqrt(1 - a) * xv]
              : [os[k], (xv - Math.sqrt(a) * os[k]) / Math.sqrt(1 - a)];
          return Math.sqrt(an) * x0 + Math.sqrt(1 - an) * eps;
        });
        const up = s.invertStep(out, t, x);
        expectClose(up, want, { atol: 1e-5, rtol: 1e-5 }, `invertStep at t=${t}`);
        up.dispose();
      }
      tf.dispose([x, out]);
    });
  }
});

describe('scheduler config errors', () => {
  const bad: [string, Record<string, unknown>, { type?: string }, RegExp][] = [
    [
      'unknown short name',
      SD15,
      { type: 'heun' },
      /unknown scheduler type "heun"; supported: ddim, pndm, euler, lms, dpmpp/,
    ],
    [
      'unknown class',
      { ...SD15, _class_name: 'UniPCMultistepScheduler' },
      {},
      /unknown scheduler class "UniPCMultistepScheduler"/,
    ],
    ['no class name', { beta_schedule: 'linear' }, {}, /no "_class_name"/],
    [
      'beta schedule',
      { ...SD15, beta_schedule: 'sigmoid' },
      {},
      /"beta_schedule" value "sigmoid" is not supported \(supported: linear, scaled_linear, squaredcos_cap_v2\)/,
    ],
    [
      'timestep spacing',
      { ...SD15, timestep_spacing: 'uniform' },
      { type: 'ddim' },
      /DDIMScheduler config: "timestep_spacing" value "uniform" is not supported/,
    ],
    [
      'prediction type',
      { ...SD15, prediction_type: 'flow' },
      { type: 'euler' },
      /"prediction_type" value "flow" is not supported/,
    ],
    [
      'PNDM v-sample',
      { ...SD15, prediction_type: 'sample' },
      {},
      /PNDMScheduler config: "prediction_type" value "sample"/,
    ],
    ['PRK steps', { ...SD15, skip_prk_steps: false }, {}, /"skip_prk_steps" = false .* not supported/],
    ['thresholding', { ...SD15, thresholding: true }, { type: 'ddim' }, /"thresholding" = true is not supported/],
    [
      'karras sigmas',
      { ...SD15, use_karras_sigmas: true },
      { type: 'lms' },
      /"use_karras_sigmas" = true is not supported/,
    ],
    ['solver order 3', { ...SD15, solver_order: 3 }, { type: 'dpmpp' }, /"solver_order" = 3 is not supported/],
    [
      'SDE solver',
      { ...SD15, algorithm_type: 'sde-dpmsolver++' },
      { type: 'dpmpp' },
      /"algorithm_type" value "sde-dpmsolver\+\+" is not supported/,
    ],
    [
      'zero SNR with epsilon',
      { ...SD15, rescale_betas_zero_snr: true },
      { type: 'lms' },
      /LMSDiscreteScheduler config: "prediction_type" "epsilon" cannot be used with rescale_betas_zero_snr/,
    ],
    [
      'zero SNR with epsilon in PNDM',
      { ...SD15, rescale_betas_zero_snr: true },
      {},
      /PNDMScheduler config: "prediction_type" "epsilon" cannot be used with rescale_betas_zero_snr/,
    ],
    [
      'zero SNR not a boolean',
      { ...SD15, rescale_betas_zero_snr: 'yes' },
      { type: 'ddim' },
      /"rescale_betas_zero_snr" must be true or false/,
    ],
    ['wrong type', { ...SD15, steps_offset: '1' }, {}, /"steps_offset" must be a finite number, got "1"/],
    [
      'interpolation',
      { ...SD15, interpolation_type: 'log_linear' },
      { type: 'euler' },
      /"interpolation_type" value "log_linear"/,
    ],
  ];
  for (const [what, config, opts, msg] of bad) {
    it(`${what} → clear error`, () => {
      expect(() => createScheduler(config, opts)).to.throw(msg);
    });
  }

  it('bad step counts and missing setTimesteps', () => {
    const s = createScheduler(SD15, { type: 'ddim' });
    const x = tf.zeros([1]);
    expect(() => s.step(x, 981, x)).to.throw(/call setTimesteps/);
    expect(() => s.setTimesteps(0)).to.throw(/positive integer/);
    expect(() => s.setTimesteps(1001)).to.throw(/exceed num_train_timesteps \(1000\)/);
    s.setTimesteps(10);
    expect(() => s.step(x, 1000, x)).to.throw(/timestep 1000 is not an integer in \[0, 999\]/);
    x.dispose();
  });
});

describe('scheduler beta schedules', () => {
  it('linear, scaled_linear and squaredcos_cap_v2 give decreasing ᾱ in (0, 1)', () => {
    for (const beta_schedule of ['linear', 'scaled_linear', 'squaredcos_cap_v2']) {
      const s = new DDIMScheduler({ beta_schedule, beta_start: 0.00085, beta_end: 0.012 });
      const ac = s.alphasCumprod;
      expect(ac.length).to.equal(1000);
      expect(ac[0]).to.be.lessThan(1);
      expect(ac[999]).to.be.greaterThan(0);
      for (let i = 1; i < 1000; i++) expect(ac[i]).to.be.lessThan(ac[i - 1]);
    }
    const tb = new DDIMScheduler({ trained_betas: [0.1, 0.2, 0.3] });
    const [a, b, c] = [0.9, 0.8, 0.7].map(Math.fround); // float32 factors, double products
    expect([...tb.alphasCumprod]).to.deep.equal([a, a * b, a * b * c].map(Math.fround));
  });

  it('trailing and linspace spacing (diffusers values)', () => {
    const d = new DDIMScheduler({ ...P2P_DDIM, timestep_spacing: 'trailing' });
    d.setTimesteps(3);
    expect(d.timesteps).to.deep.equal([999, 666, 332]);
    const l = new DDIMScheduler({ ...P2P_DDIM, timestep_spacing: 'linspace' });
    l.setTimesteps(4);
    expect(l.timesteps).to.deep.equal([999, 666, 333, 0]);
  });
});
