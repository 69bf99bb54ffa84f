/** LMSDiscreteScheduler: linear multistep (order 4) over the last derivatives (x − x̂₀)/σ. */
import * as tf from '@tensorflow/tfjs-core';
import { SchedulerConfigReader, type Json } from './config.js';
import { TensorHistory } from './history.js';
import { lmsCoefficient } from './lms-coefficients.js';
import { SigmaScheduler } from './sigma-scheduler.js';

export class LMSDiscreteScheduler extends SigmaScheduler {
  readonly name = 'lms' as const;
  /** Multistep order (diffusers' `step(order=4)` default). */
  readonly lmsOrder = 4;
  private readonly derivatives = new TensorHistory(this.lmsOrder);

  /** @param config a diffusers scheduler config (LMSDiscreteScheduler defaults for absent fields). */
  constructor(config: Json) {
    const r = new SchedulerConfigReader(config, 'LMSDiscreteScheduler config');
    super(r, 'LMSDiscreteScheduler');
    r.done();
  }

  override reset(): void {
    super.reset();
    this.derivatives.clear();
  }

  step(modelOutput: tf.Tensor, t: number, sample: tf.Tensor): tf.Tensor {
    const i = this.stepIndex.resolve(this.timesteps, t);
    const sigma = this.sigmas[i];
    tf.tidy(() => {
      const x0 = this.predictX0(modelOutput, sample, sigma);
      this.derivatives.push(tf.div(tf.sub(sample, x0), sigma));
    });
    const order = Math.min(i + 1, this.lmsOrder);
    // Newest derivative first; a run started mid-schedule has fewer than `order` of them (zip in diffusers).
    const used = Math.min(order, this.derivatives.length);
    const coeffs = Array.from({ length: used }, (_, j) => lmsCoefficient(this.sigmas, order, i, j));
    const out = tf.tidy(() => {
      let acc = tf.mul(coeffs[0], this.derivatives.fromEnd(0));
      for (let j = 1; j < used; j++) acc = tf.add(acc, tf.mul(coeffs[j], this.derivatives.fromEnd(j)));
      return tf.add(sample, acc);
    });
    this.stepIndex.advance();
    return out;
  }
}
