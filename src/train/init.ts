/**
 * From-scratch initialisation of a module's weights, seeded (PyTorch's generator, so a seed
 * gives the same weights everywhere):
 *  - conv / linear weights: U(−1/√fan_in, 1/√fan_in) (PyTorch's default), biases 0;
 *  - norm weights 1, norm biases 0; embedding tables N(0, 0.02) (positions N(0, 0.01), as CLIP);
 *  - keys matched by `zeroInit` start at 0 (e.g. the last conv of each residual branch, so
 *    every block starts as the identity: a common choice for training diffusion models).
 */
import type { Module } from '../nn/module.js';
import type { Param } from '../nn/param.js';
import { TorchGenerator } from '../models/random.js';

export interface InitOptions {
  seed: number;
  /** Weights (full keys) to start at zero. */
  zeroInit?: (key: string) => boolean;
}

function fanIn(p: Param): number {
  const s = p.torchShape;
  return s.slice(1).reduce((a, b) => a * b, 1);
}

export function initWeights(module: Module, opts: InitOptions): void {
  const g = new TorchGenerator(opts.seed);
  for (const [key, p] of module.namedParams()) {
    const n = p.size;
    let v: Float32Array;
    if (opts.zeroInit?.(key)) v = new Float32Array(n);
    else if (p.layout !== 'none') v = g.rand(n, -1 / Math.sqrt(fanIn(p)), 1 / Math.sqrt(fanIn(p)));
    else if (p.torchShape.length === 2) v = scale(g.randn(p.torchShape), key.includes('position') ? 0.01 : 0.02);
    else if (key.endsWith('.weight')) v = new Float32Array(n).fill(1);
    else v = new Float32Array(n);
    p.setTorchValues(v);
  }
}

function scale(v: Float32Array, s: number): Float32Array {
  for (let i = 0; i < v.length; i++) v[i] *= s;
  return v;
}
