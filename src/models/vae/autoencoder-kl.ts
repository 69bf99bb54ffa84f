import * as tf from '@tensorflow/tfjs-core';
import { Module } from '../../nn/module.js';
import { Conv2d } from '../../nn/conv2d.js';
import type { WeightSource } from '../../io/weights.js';
import type { CheckpointAdapter } from '../../nn/load-weights.js';
import { parseVaeConfig, type VaeConfig } from './config.js';
import { runStages, VaeDecoder, VaeEncoder } from './blocks.js';
import { isEncoderKey, LegacyVaeAttentionSource } from './load.js';

export interface AutoencoderKLOptions {
  /**
   * Build the encoder and quant_conv (default true). Generation only needs the decoder; without
   * the encoder its weights are never read (`loadWeights` ignores them) and `encode` throws.
   */
  encoder?: boolean;
}

/**
 * diffusers AutoencoderKL (keys encoder.*, decoder.*, quant_conv.*, post_quant_conv.*).
 * All tensors are NHWC. As in diffusers, `decode` takes z = latents / scaling_factor and returns
 * the raw decoder output; `decodeLatents` takes UNet latents and returns images in [0, 1].
 * Build with `AutoencoderKL.fromConfig(json)`, then `loadWeights(vae, source)`: legacy attention
 * key names (query/key/value/proj_attn, q/k/v/proj_out/norm, 1×1 conv weights) are accepted.
 */
export class AutoencoderKL extends Module implements CheckpointAdapter {
  readonly encoder?: VaeEncoder;
  readonly decoder: VaeDecoder;
  readonly quantConv?: Conv2d;
  readonly postQuantConv?: Conv2d;

  constructor(readonly config: VaeConfig, opts: AutoencoderKLOptions = {}) {
    super();
    const latent2 = 2 * config.latentChannels;
    if (opts.encoder ?? true) {
      this.encoder = this.addModule('encoder', new VaeEncoder(config));
      if (config.useQuantConv) this.quantConv = this.addModule('quant_conv', new Conv2d(latent2, latent2, 1));
    }
    this.decoder = this.addModule('decoder', new VaeDecoder(config));
    if (config.usePostQuantConv) {
      this.postQuantConv = this.addModule('post_quant_conv', new Conv2d(config.latentChannels, config.latentChannels, 1));
    }
  }

  /** Builds from a parsed `vae/config.json` (`source` names it in errors); weights stay unallocated until loaded. */
  static fromConfig(json: unknown, opts: AutoencoderKLOptions = {}, source?: string): AutoencoderKL {
    return new AutoencoderKL(parseVaeConfig(json, source), opts);
  }

  /** Checkpoints are read with current key names (legacy attention names renamed). */
  checkpointView(src: WeightSource): WeightSource {
    return new LegacyVaeAttentionSource(src);
  }

  /** Without the encoder, its keys (and quant_conv's) are not used. */
  isUnusedKey(key: string): boolean {
    return !this.hasEncoder && isEncoderKey(key);
  }

  get scalingFactor(): number {
    return this.config.scalingFactor;
  }

  get hasEncoder(): boolean {
    return this.encoder !== undefined;
  }

  /** Spatial factor between image and latents (8 for SD). */
  get downscale(): number {
    return 2 ** (this.config.blockOutChannels.length - 1);
  }

  /**
   * diffusers `vae.decode(z).sample`: z [B, h, w, latent] NHWC, already divided by
   * `scalingFactor` → image [B, h·8, w·8, out_channels], roughly [−1, 1], not clamped.
   */
  decode(z: tf.Tensor4D): tf.Tensor4D {
    this.checkLatents(z, 'decode');
    return runStages(z, [
      ...(this.postQuantConv ? [(t: tf.Tensor4D) => this.postQuantConv!.forward(t)] : []),
      (t) => this.decoder.forward(t),
    ]);
  }

  /**
   * UNet latents [B, h, w, latent] NHWC → images [B, h·8, w·8, out_channels] in [0, 1]:
   * clamp(decode(latents / scaling_factor) / 2 + 0.5, 0, 1).
   */
  decodeLatents(latents: tf.Tensor4D): tf.Tensor4D {
    this.checkLatents(latents, 'decodeLatents');
    return runStages(latents, [
      (t) => tf.div(t, this.scalingFactor) as tf.Tensor4D,
      (t) => this.decode(t),
      (t) => tf.tidy(() => tf.clipByValue(tf.add(tf.div(t, 2), 0.5), 0, 1) as tf.Tensor4D),
    ]);
  }

  /** Image [B, H, W, in_channels] NHWC in [−1, 1] → latent distribution (caller disposes it). */
  encode(image: tf.Tensor4D): DiagonalGaussian {
    if (!this.encoder) throw new Error('AutoencoderKL.encode: this model was built without the encoder ({ encoder: false })');
    const moments = runStages(image, [
      (t) => this.encoder!.forward(t),
      ...(this.quantConv ? [(t: tf.Tensor4D) => this.quantConv!.forward(t)] : []),
    ]);
    return DiagonalGaussian.fromMoments(moments);
  }

  /**
   * Image [B, H, W, in_channels] in [−1, 1] → UNet latents: mean·scaling_factor, or with
   * `noise` a sample (mean + std·ε)·scaling_factor.
   */
  encodeLatents(image: tf.Tensor4D, noise?: NoiseSource): tf.Tensor4D {
    const dist = this.encode(image);
    try {
      return tf.tidy(() => tf.mul(noise === undefined ? dist.mean : dist.sample(noise), this.scalingFactor) as tf.Tensor4D);
    } finally {
      dist.dispose();
    }
  }

  private checkLatents(z: tf.Tensor4D, what: string): void {
    if (z.rank !== 4 || z.shape[3] !== this.config.latentChannels) {
      throw new Error(`AutoencoderKL.${what}: expected NHWC latents [B, h, w, ${this.config.latentChannels}], got [${z.shape.join(', ')}]`);
    }
  }
}

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
