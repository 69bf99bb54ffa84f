import * as tf from '@tensorflow/tfjs-core';

/** Standard-normal noise for sampling: a tensor of the mean's shape, or a maker given that (NHWC) shape. */
export type NoiseSource = tf.Tensor | ((shape: number[]) => tf.Tensor);

/**
 * diffusers DiagonalGaussianDistribution over NHWC latents: moments split on the channel axis
 * into mean and log-variance, log-variance clamped to [−30, 20], std = exp(logvar / 2).
 * Owns its tensors: call `dispose()`.
 */
export class DiagonalGaussian {
  private constructor(
    /** The encoder's quant_conv output [B, h, w, 2·latent] = [mean | logvar] (unclamped). */
    readonly moments: tf.Tensor4D,
    readonly mean: tf.Tensor4D,
    readonly logvar: tf.Tensor4D,
    readonly std: tf.Tensor4D,
  ) {}

  /** Takes ownership of `moments`. */
  static fromMoments(moments: tf.Tensor4D): DiagonalGaussian {
    const c = moments.shape[3];
    if (c % 2 !== 0) throw new Error(`DiagonalGaussian: moments need an even channel count, got [${moments.shape.join(', ')}]`);
    const [mean, logvar, std] = tf.tidy(() => {
      const [m, lv] = tf.split(moments, 2, 3) as [tf.Tensor4D, tf.Tensor4D];
      const logvar = tf.clipByValue(lv, -30, 20);
      return [m, logvar, tf.exp(tf.mul(logvar, 0.5))] as tf.Tensor4D[];
    });
    return new DiagonalGaussian(moments, mean, logvar, std);
  }

  /** mean + std·ε; ε from `noise` (default tf.randomNormal). */
  sample(noise?: NoiseSource): tf.Tensor4D {
    return tf.tidy(() => {
      const shape = [...this.mean.shape];
      const eps = noise === undefined ? tf.randomNormal(shape) : typeof noise === 'function' ? noise(shape) : noise;
      if (eps.shape.length !== 4 || eps.shape.some((d, i) => d !== shape[i])) {
        throw new Error(`DiagonalGaussian.sample: noise shape [${eps.shape.join(', ')}] differs from the latents [${shape.join(', ')}] (NHWC)`);
      }
      return tf.add(this.mean, tf.mul(this.std, eps)) as tf.Tensor4D;
    });
  }

  /** The mode (= mean), as a new tensor owned by the caller. */
  mode(): tf.Tensor4D {
    return tf.clone(this.mean);
  }

  dispose(): void {
    tf.dispose([this.moments, this.mean, this.logvar, this.std]);
  }
}
