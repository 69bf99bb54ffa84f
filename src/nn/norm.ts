import * as tf from '@tensorflow/tfjs-core';
import { fusedGroupNorm as nativeGroupNorm, fusedLayerNorm } from '../backend/fused-ops.js';
import { Module } from './module.js';
import type { Param } from './param.js';
import { fusedGroupNorm, groupNormKernelAvailable } from '../backend/group-norm-kernel.js';

/**
 * Mean over axes 1 and 3 of [b, n, g, c/g], kept as [b, 1, g, 1], in two levels (chunks of about
 * √n rows, then the chunk means). tfjs-wasm sums sequentially in float32, which on the VAE's
 * large groups (256² × 4 values) costs ~5e-5 relative error in the variance; two levels keep
 * it at fp32 rounding noise.
 */
function groupMean(x: tf.Tensor4D): tf.Tensor {
  const [b, n, g, cg] = x.shape;
  let rows = Math.floor(Math.sqrt(n));
  while (n % rows !== 0) rows--;
  if (rows === 1) return tf.mean(x, [1, 3], true);
  const chunks = tf.mean(tf.reshape(x, [b, rows, n / rows, g, cg]), [2, 4], true);
  return tf.reshape(tf.mean(chunks, 1, true), [b, 1, g, 1]);
}

/** torch.nn.GroupNorm on NHWC activations (fused kernels on wasm/cpu, tf ops elsewhere). */
export class GroupNorm extends Module {
  readonly weight?: Param;
  readonly bias?: Param;

  constructor(
    readonly numGroups: number,
    readonly numChannels: number,
    readonly eps = 1e-5,
    affine = true,
  ) {
    super();
    if (numChannels % numGroups !== 0) {
      throw new Error(`GroupNorm: ${numChannels} channels are not divisible into ${numGroups} groups`);
    }
    if (affine) {
      this.weight = this.addParam('weight', [numChannels]);
      this.bias = this.addParam('bias', [numChannels]);
    }
  }

  /**
   * x [B, H, W, C] (or [B, N, C]) → same shape; `silu` applies SiLU to the result. One kernel
   * where the backend has it: the native one (inference), else the JS kernels of wasm/cpu
   * (differentiable), else tf ops.
   */
  forward<T extends tf.Tensor>(x: T, opts: { silu?: boolean } = {}): T {
    return tf.tidy(() => {
      const w = this.weight?.tensor();
      const b = this.bias?.tensor();
      const silu = opts.silu ?? false;
      const native = nativeGroupNorm(x, this.numGroups, this.eps, w, b, silu);
      if (native) return native;
      if (groupNormKernelAvailable())
        return fusedGroupNorm(x, w, b, { groups: this.numGroups, eps: this.eps, silu }) as T;
      const y = groupNormOp(this.numGroups, this.eps)(x, ...(w ? [w, b!] : []));
      return (silu ? tf.mul(y, tf.sigmoid(y)) : y) as T;
    });
  }
}

type NormOp = (x: tf.Tensor, weight?: tf.Tensor, bias?: tf.Tensor) => tf.Tensor;

/**
 * Normalisation over some axes of a view of x, then an optional per-channel affine map, as one
 * differentiable op. The forward is the plain arithmetic (x − mean)·rsqrt(var + eps) with
 * `mean` over `axes` (kept); the backward is the closed form
 * dx = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)), dx̂ = dy·γ, dγ = Σ dy·x̂, dβ = Σ dy — a handful of ops
 * where autograd through the forward would run about twenty-five.
 */
function affineNormOp(
  view: (shape: readonly number[]) => number[],
  axes: number[],
  mean: (t: tf.Tensor) => tf.Tensor,
  eps: number,
): NormOp {
  const f = (...args: unknown[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const [x, weight, bias] = args as tf.Tensor[];
    const shape = x.shape;
    const grouped = tf.reshape(x, view(shape));
    const dev = tf.sub(grouped, mean(grouped));
    const rstd = tf.rsqrt(tf.add(mean(tf.square(dev)), eps));
    const xhat = tf.mul(dev, rstd);
    const normed = tf.reshape(xhat, shape);
    save([xhat, rstd, ...(weight ? [weight] : [])]);
    const value = weight ? tf.add(tf.mul(normed, weight), bias) : normed;
    const gradFunc = (dy: tf.Tensor, [xh, rs, w]: tf.Tensor[]) => {
      const lead = dy.shape.slice(0, -1).map((_, i) => i);
      const dxhat = tf.reshape(w ? tf.mul(dy, w) : dy, xh.shape);
      const proj = tf.mean(tf.mul(dxhat, xh), axes, true);
      const dx = tf.reshape(tf.mul(tf.sub(tf.sub(dxhat, tf.mean(dxhat, axes, true)), tf.mul(xh, proj)), rs), dy.shape);
      if (!w) return [dx];
      return [dx, tf.sum(tf.mul(dy, tf.reshape(xh, dy.shape)), lead), tf.sum(dy, lead)];
    };
    return { value, gradFunc };
  };
  return tf.customGrad(f as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as NormOp;
}

/**
 * Group normalisation (+ affine) of NHWC x as tf ops (two-level means; see affineNormOp). Used
 * where the fused kernels do not run (webgl, webgpu, tfjs-node).
 */
export function groupNormOp(g: number, eps: number): NormOp {
  return affineNormOp(
    (s) => [s[0], -1, g, s[s.length - 1] / g],
    [1, 3],
    (t) => groupMean(t as tf.Tensor4D),
    eps,
  );
}

/** Layer normalisation (+ affine) over the last axis as tf ops (see affineNormOp). */
export function layerNormOp(eps: number): NormOp {
  return affineNormOp(
    (s) => [-1, s[s.length - 1]],
    [1],
    (t) => tf.mean(t, 1, true),
    eps,
  );
}

/** torch.nn.LayerNorm over the last axis. */
export class LayerNorm extends Module {
  readonly weight: Param;
  readonly bias: Param;

  constructor(
    readonly dim: number,
    readonly eps = 1e-5,
  ) {
    super();
    this.weight = this.addParam('weight', [dim]);
    this.bias = this.addParam('bias', [dim]);
  }

  forward<T extends tf.Tensor>(x: T): T {
    return tf.tidy(() => {
      const fused = fusedLayerNorm(x, this.weight.tensor(), this.bias.tensor(), this.eps);
      if (fused) return fused;
      return layerNormOp(this.eps)(x, this.weight.tensor(), this.bias.tensor()) as T;
    });
  }
}
