/** The transformer feed-forward of diffusers: GEGLU (key `proj`) and FeedForward (keys `net.0.proj`, `net.2`). */
import * as tf from '@tensorflow/tfjs-core';
import { Module } from './module.js';
import { dense, Linear, unfusedForGradients } from './linear.js';
import { gelu } from './activations.js';
import { canFuseGeglu, fusedGeglu, recordingGradients } from '../backend/fused-ops.js';

/** Gated GELU: proj(x) split in halves [h, g] along channels → h · gelu(g). */
export class GEGLU extends Module {
  readonly proj: Linear;

  constructor(
    readonly dimIn: number,
    readonly dimOut: number,
  ) {
    super();
    this.proj = this.addModule('proj', new Linear(dimIn, dimOut * 2));
  }

  /**
   * [..., dimIn] → [..., dimOut]. While training with a fused GEGLU kernel (native): one matmul,
   * then the kernel on the two halves (no weight slices whose gradients would be padded back).
   * Otherwise the halves are computed by two matmuls on the weight's column halves (cached while
   * resident) instead of slicing the large activation: at SD-1.5's 8192×320×2560 the one wide
   * product cost 1 CPU-s more per UNet step than the two halves on native.
   */
  forward<T extends tf.Tensor>(x: T): T {
    return tf.tidy(() => {
      if (recordingGradients() && canFuseGeglu(x)) return fusedGeglu(this.proj.forward(x))!;
      const lead = x.shape.slice(0, -1);
      const x2 = tf.reshape(x, [-1, this.dimIn]) as tf.Tensor2D;
      const unfused = unfusedForGradients(this.proj.weight, this.proj.bias);
      const half = (i: 0 | 1) =>
        dense(
          x2,
          this.proj.weight.derived(`geglu${i}`, (w) =>
            tf.slice(w, [0, i * this.dimOut], [this.dimIn, this.dimOut]),
          ) as tf.Tensor2D,
          this.proj.bias!.derived(`geglu${i}`, (b) => tf.slice(b, [i * this.dimOut], [this.dimOut])),
          unfused,
        );
      return tf.reshape(tf.mul(half(0), gelu(half(1))), [...lead, this.dimOut]) as T;
    });
  }
}

/** diffusers FeedForward with activation "geglu": net.2(GEGLU(x)) (dropouts are identity at inference). */
export class FeedForward extends Module {
  readonly act: GEGLU;
  readonly out: Linear;

  /** `mult` sets the inner size (dim·mult) unless `innerDim` is given. */
  constructor(
    readonly dim: number,
    opts: { dimOut?: number; mult?: number; innerDim?: number } = {},
  ) {
    super();
    const inner = opts.innerDim ?? Math.floor(dim * (opts.mult ?? 4));
    this.act = this.addModule('net.0', new GEGLU(dim, inner));
    this.out = this.addModule('net.2', new Linear(inner, opts.dimOut ?? dim));
  }

  forward<T extends tf.Tensor>(x: T): T {
    return tf.tidy(() => this.out.forward(this.act.forward(x)));
  }
}
