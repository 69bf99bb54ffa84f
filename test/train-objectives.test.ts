/**
 * The training losses against values worked out by hand in the test: `diffusionLoss` for the
 * ε, v and x₀ targets with min-SNR weights, on a zero-terminal-SNR schedule too, and `vaeLoss`
 * (L1 of a posterior sample, KL to N(0, 1)). The networks are stand-ins with known outputs, so a
 * wrong noising coefficient, target or weight, or a KL sign, changes the numbers.
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { diffusionLoss, type Denoiser, type DiffusionObjective } from '../src/train/diffusion.js';
import { vaeLoss } from '../src/train/vae-objective.js';
import { DiagonalGaussian } from '../src/models/vae/autoencoder-kl.js';
import { DDIMScheduler } from '../src/models/schedulers/ddim.js';

/** A "UNet" that predicts half its input; it records the context it was given. */
function halfDenoiser(): Denoiser & { seen: number[] } {
  const seen: number[] = [];
  return {
    seen,
    forward: ((x: tf.Tensor4D, _t: readonly number[], ctx: tf.Tensor3D) => {
      seen.push(ctx.shape[1]);
      return tf.mul(x, 0.5);
    }) as unknown as Denoiser['forward'],
  };
}

// Two items of 1×1×2 latents; ᾱ for four timesteps, the last one pure noise.
const X0 = [
  [1, -2],
  [0.5, 3],
];
const EPS = [
  [0.3, 0.7],
  [-1, 2],
];
const ABAR = Float32Array.from([0.9, 0.5, 0.2, 0]);

function loss(objective: DiffusionObjective, timesteps: number[]): number {
  return tf.tidy(() => {
    const latents = tf.tensor4d(X0.flat(), [2, 1, 1, 2]);
    const noise = tf.tensor4d(EPS.flat(), [2, 1, 1, 2]);
    const context = tf.zeros([2, 3, 4]) as tf.Tensor3D;
    return diffusionLoss(halfDenoiser(), { latents, noise, timesteps, context }, objective).dataSync()[0];
  });
}

/** The mean squared error of item i at ᾱ = a for a target chosen from (x0, eps, a). */
function itemError(i: number, a: number, target: (x0: number, eps: number, a: number) => number): number {
  let s = 0;
  for (let k = 0; k < 2; k++) {
    const xt = Math.sqrt(a) * X0[i][k] + Math.sqrt(1 - a) * EPS[i][k];
    s += (0.5 * xt - target(X0[i][k], EPS[i][k], a)) ** 2;
  }
  return s / 2;
}

describe('training losses, against hand-computed values', () => {
  it('ε target: x_t = √ᾱ·x₀ + √(1 − ᾱ)·ε, weights min(SNR, γ)/SNR', () => {
    // t = 0: ᾱ 0.9, SNR 9 → weight 5/9; t = 1: SNR 1 → weight 1.
    const want = ((5 / 9) * itemError(0, 0.9, (_x, e) => e) + 1 * itemError(1, 0.5, (_x, e) => e)) / 2;
    const got = loss({ alphasCumprod: ABAR, prediction: 'epsilon', minSnrGamma: 5 }, [0, 1]);
    expect(got).to.be.closeTo(want, 1e-6 * Math.max(1, want));
    // Unweighted (γ = ∞): the plain mean.
    const plain = (itemError(0, 0.9, (_x, e) => e) + itemError(1, 0.5, (_x, e) => e)) / 2;
    expect(loss({ alphasCumprod: ABAR, prediction: 'epsilon', minSnrGamma: Infinity }, [0, 1])).to.be.closeTo(
      plain,
      1e-6,
    );
    expect(want).to.not.be.closeTo(plain, 1e-3); // the weight matters for these numbers
  });

  it('v target: v = √ᾱ·ε − √(1 − ᾱ)·x₀, weights min(SNR + 1, γ)/(SNR + 1)', () => {
    const v = (x: number, e: number, a: number) => Math.sqrt(a) * e - Math.sqrt(1 - a) * x;
    // t = 0: SNR + 1 = 10 → weight 0.5; t = 2: SNR + 1 = 1.25 → weight 1.
    const want = (0.5 * itemError(0, 0.9, v) + itemError(1, 0.2, v)) / 2;
    expect(loss({ alphasCumprod: ABAR, prediction: 'v_prediction', minSnrGamma: 5 }, [0, 2])).to.be.closeTo(want, 1e-6);
  });

  it('x₀ target, weights min(SNR + 1, γ)', () => {
    // t = 0: min(10, 5) = 5; t = 1: SNR + 1 = 2.
    const want = (5 * itemError(0, 0.9, (x) => x) + 2 * itemError(1, 0.5, (x) => x)) / 2;
    expect(loss({ alphasCumprod: ABAR, prediction: 'sample', minSnrGamma: 5 }, [0, 1])).to.be.closeTo(want, 1e-5);
  });

  it('zero terminal SNR: at ᾱ = 0 the input is the noise, v = −x₀ with full weight; ε is refused', () => {
    // x_t = ε, prediction 0.5·ε, target −x₀.
    const item = (i: number) => ((0.5 * EPS[i][0] + X0[i][0]) ** 2 + (0.5 * EPS[i][1] + X0[i][1]) ** 2) / 2;
    const got = loss({ alphasCumprod: ABAR, prediction: 'v_prediction', minSnrGamma: 5 }, [3, 3]);
    expect(got).to.be.closeTo((item(0) + item(1)) / 2, 1e-6);
    expect(() => loss({ alphasCumprod: ABAR, prediction: 'epsilon', minSnrGamma: 5 }, [3, 0])).to.throw(
      /ε-prediction is undefined at timestep 3/,
    );
    // The demo model's schedule (rescaled to zero terminal SNR) ends exactly there.
    const zsnr = DDIMScheduler.fromConfig({
      num_train_timesteps: 1000,
      beta_start: 0.00085,
      beta_end: 0.012,
      beta_schedule: 'scaled_linear',
      rescale_betas_zero_snr: true,
      prediction_type: 'v_prediction',
      timestep_spacing: 'trailing',
    });
    expect(zsnr.alphasCumprod[999]).to.equal(0);
    expect(zsnr.alphasCumprod[998]).to.be.greaterThan(0);
  });

  it('bad batches are one-line errors naming the mismatch', () => {
    const o: DiffusionObjective = { alphasCumprod: ABAR, prediction: 'v_prediction', minSnrGamma: 5 };
    expect(() => loss(o, [0])).to.throw(/batch sizes differ/);
    expect(() => loss(o, [0, 4])).to.throw(/timestep 4 outside 0\.\.3/);
    expect(() => loss(o, [0, 1.5])).to.throw(/timestep 1\.5 outside/);
  });

  it('vaeLoss: L1 of mean + std·noise against the image, KL = ½·mean(μ² + σ² − log σ² − 1)', () => {
    // Posterior moments per latent element: μ = [0.5, −1], log σ² = [0, ln 4] (σ = 1, 2).
    const mu = [0.5, -1];
    const logvar = [0, Math.log(4)];
    const noise = [0.2, -0.5];
    const image = [0.1, 0.4, -0.3, 0.9];
    const fake = {
      encode: () => DiagonalGaussian.fromMoments(tf.tensor4d([...mu, ...logvar], [1, 1, 1, 4])),
      // The "decoder" repeats the sample twice: [z0, z1, z0, z1].
      decode: (z: tf.Tensor4D) => tf.reshape(tf.tile(z, [1, 1, 1, 2]), [1, 1, 2, 2]) as tf.Tensor4D,
    } as unknown as Parameters<typeof vaeLoss>[0];
    const z = [mu[0] + 1 * noise[0], mu[1] + 2 * noise[1]]; // 0.7, −2
    const rec = [z[0], z[1], z[0], z[1]];
    const l1 = rec.reduce((s, r, i) => s + Math.abs(r - image[i]), 0) / 4;
    const kl = (0.5 * (mu[0] ** 2 + 1 - 0 - 1 + (mu[1] ** 2 + 4 - Math.log(4) - 1))) / 2;
    const r = tf.tidy(() => {
      const out = vaeLoss(fake, tf.tensor4d(image, [1, 1, 2, 2]), tf.tensor4d(noise, [1, 1, 1, 2]), 0.01);
      return [out.loss, out.reconstruction, out.kl].map((t) => t.dataSync()[0]);
    });
    expect(r[1]).to.be.closeTo(l1, 1e-6);
    expect(r[2]).to.be.closeTo(kl, 1e-6);
    expect(kl).to.be.greaterThan(0);
    expect(r[0]).to.be.closeTo(l1 + 0.01 * kl, 1e-6);
  });

  it('the losses leak no tensors', () => {
    const before = tf.memory().numTensors;
    loss({ alphasCumprod: ABAR, prediction: 'v_prediction', minSnrGamma: 5 }, [0, 3]);
    expect(tf.memory().numTensors).to.equal(before);
  });
});
