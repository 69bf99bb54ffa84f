/** EulerDiscreteScheduler (deterministic: s_churn = 0): x ← x + (x − x̂₀)/σ · (σ_next − σ). */
import * as tf from '@tensorflow/tfjs-core';
import { f32 } from '../../util/scalar-float32.js';
import { SchedulerConfigReader, type Json } from './config.js';
import { SigmaScheduler } from './sigma-scheduler.js';

export class EulerDiscreteScheduler extends SigmaScheduler {
  readonly name = 'euler' as const;

  /** @param config a diffusers scheduler config (EulerDiscreteScheduler defaults for absent fields). */
  constructor(config: Json) {
    const r = new SchedulerConfigReader(config, 'EulerDiscreteScheduler config');
    super(r, 'EulerDiscreteScheduler');
    r.oneOf('interpolation_type', 'linear', ['linear']);
    const type = r.oneOf('timestep_type', 'discrete', ['discrete', 'continuous']);
    if (type === 'continuous' && this.predictionType === 'v_prediction') {
      r.fail('timestep_type', '= "continuous" with v_prediction is not supported');
    }
    r.done();
  }

  step(modelOutput: tf.Tensor, t: number, sample: tf.Tensor): tf.Tensor {
    const i = this.stepIndex.resolve(this.timesteps, t);
    const sigma = this.sigmas[i]; // σ̂ = σ·(γ + 1) with γ = 0
    const dt = f32(this.sigmas[i + 1] - sigma);
    const out = tf.tidy(() => {
      const x0 = this.predictX0(modelOutput, sample, sigma);
      const derivative = tf.div(tf.sub(sample, x0), sigma);
      return tf.add(sample, tf.mul(derivative, dt));
    });
    this.stepIndex.advance();
    return out;
  }
}
