import * as tf from '@tensorflow/tfjs-core';
import { Module } from './module.js';
import type { Param } from './param.js';
import { dense, unfusedForGradients } from './linear.js';

/** torch.nn.Conv2d on NHWC activations (weights converted to [kh, kw, in, out] at load). */
export class Conv2d extends Module {
  readonly weight: Param;
  readonly bias?: Param;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    readonly stride = 1,
    /** Symmetric zero padding as in PyTorch. */
    readonly padding = 0,
    bias = true,
  ) {
    super();
    this.weight = this.addParam('weight', [outChannels, inChannels, kernelSize, kernelSize], 'conv2d');
    if (bias) this.bias = this.addParam('bias', [outChannels]);
  }

  /** x [B, H, W, in] → [B, H', W', out]. */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    if (x.shape[3] !== this.inChannels) {
      throw new Error(`Conv2d: expected ${this.inChannels} input channels, got shape [${x.shape.join(', ')}]`);
    }
    return tf.tidy(() => {
      const filter = this.weight.tensor() as tf.Tensor4D;
      const bias = this.bias?.tensor();
      const unfused = unfusedForGradients(this.weight, this.bias);
      if (this.kernelSize === 1 && this.stride === 1) {
        // 1×1 conv as a matmul over channels.
        const [b, h, w] = x.shape;
        const y = dense(
          tf.reshape(x, [-1, this.inChannels]),
          tf.reshape(filter, [this.inChannels, this.outChannels]),
          bias,
          unfused,
        );
        return tf.reshape(y, [b, h, w, this.outChannels]);
      }
      const pad = this.padding;
      const input =
        pad > 0 && this.stride !== 1
          ? tf.pad(x, [
              [0, 0],
              [pad, pad],
              [pad, pad],
              [0, 0],
            ])
          : x;
      // Stride 1 with symmetric padding maps directly onto tfjs' numeric padding.
      const p = this.stride !== 1 ? 'valid' : pad;
      if (unfused) {
        const y = tf.conv2d(input, filter, this.stride, p);
        return bias ? tf.add(y, bias) : y;
      }
      return tf.fused.conv2d({ x: input, filter, strides: this.stride, pad: p, bias });
    });
  }
}
