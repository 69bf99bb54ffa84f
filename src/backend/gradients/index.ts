/**
 * Gradients for the kernels our models run, registered with tfjs-core (which registers none by
 * itself when loaded without the `@tensorflow/tfjs` union package). Fused conv/matmul ops carry
 * their own gradients; their backward kernels (Conv2DBackpropInput/Filter, transposed matmuls)
 * must exist on the backend (see src/backend/wasm-grad-kernels.ts for wasm).
 */
import * as tf from '@tensorflow/tfjs-core';
import { elementwiseGradients } from './elementwise.js';
import { reduceGradients } from './reduce.js';
import { shapeGradients } from './shape.js';
import { installCpuResizeNearestGrad } from '../resize-nearest-grad.js';

const REGISTERED = Symbol.for('tfjs-prompt-to-prompt.gradients');

/** Every gradient we define, by kernel name. */
export const gradientConfigs: readonly tf.GradConfig[] = [
  ...elementwiseGradients,
  ...shapeGradients,
  ...reduceGradients,
];

/**
 * Registers the gradients (idempotent). Kernels that already have a gradient (e.g. from
 * `@tensorflow/tfjs`) keep it. Also replaces the cpu backend's ResizeNearestNeighborGrad, which
 * is wrong for batch > 1 (src/backend/resize-nearest-grad.ts).
 */
export function registerGradients(): void {
  installCpuResizeNearestGrad();
  const g = globalThis as unknown as { [REGISTERED]?: boolean };
  if (g[REGISTERED]) return;
  for (const c of gradientConfigs) if (!tf.getGradient(c.kernelName)) tf.registerGradient(c);
  g[REGISTERED] = true;
}
