import * as tf from '@tensorflow/tfjs-core';
import { Module } from './module.js';
import { Conv2d } from './conv2d.js';

/**
 * diffusers Downsample2D with a conv (key `conv`): 3×3 stride 2. padding 1 (UNet) pads
 * symmetrically; padding 0 (VAE encoder) pads right/bottom by one, as diffusers does.
 */
export class Downsample2D extends Module {
  readonly conv: Conv2d;
  constructor(
    channels: number,
    outChannels = channels,
    readonly padding = 1,
  ) {
    super();
    this.conv = this.addModule('conv', new Conv2d(channels, outChannels, 3, 2, padding));
  }
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const input =
        this.padding === 0
          ? tf.pad(x, [
              [0, 0],
              [0, 1],
              [0, 1],
              [0, 0],
            ])
          : x;
      return this.conv.forward(input);
    });
  }
}

/** diffusers Upsample2D with a conv (key `conv`): nearest ×2 (or to `size`), then 3×3 conv. */
export class Upsample2D extends Module {
  readonly conv: Conv2d;
  constructor(channels: number, outChannels = channels) {
    super();
    this.conv = this.addModule('conv', new Conv2d(channels, outChannels, 3, 1, 1));
  }
  forward(x: tf.Tensor4D, size?: [number, number]): tf.Tensor4D {
    return tf.tidy(() => {
      const [, h, w] = x.shape;
      const up = tf.image.resizeNearestNeighbor(x, size ?? [h * 2, w * 2], false, false);
      return this.conv.forward(up);
    });
  }
}
