/** One optimisation step through tfjs autograd: loss → gradients of the variables → (clip) → Adam. */
import * as tf from '@tensorflow/tfjs-core';
import { registerGradients } from '../backend/gradients/index.js';
import { gradNorm, type Adam } from '../nn/adam.js';

export interface StepResult {
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
}

/**
 * Computes `loss()` and its gradients with respect to the optimiser's variables, scales them to
 * a global norm of at most `maxGradNorm` (when given), and applies the update. Every tensor
 * of the step is freed.
 */
export function optimiseStep(loss: () => tf.Scalar, opt: Adam, maxGradNorm?: number): StepResult {
  registerGradients();
  const { value, grads } = tf.variableGrads(loss, opt.params as tf.Variable[]);
  try {
    const list = opt.params.map((p) => grads[p.name]);
    const present = list.filter((g): g is tf.Tensor => g !== undefined);
    const norm = gradNorm(present);
    if (!Number.isFinite(norm)) throw new Error(`gradient norm is ${norm}: the loss diverged`);
    const scale = maxGradNorm !== undefined && norm > maxGradNorm ? maxGradNorm / (norm + 1e-6) : 1;
    tf.tidy(() => opt.update(scale === 1 ? list : list.map((g) => g && tf.mul(g, scale))));
    return { loss: value.dataSync()[0], gradNorm: norm };
  } finally {
    value.dispose();
    tf.dispose(Object.values(grads));
  }
}
