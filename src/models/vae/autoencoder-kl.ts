import * as tf from '@tensorflow/tfjs-core';
import { Module } from '../../nn/module.js';
import { Conv2d } from '../../nn/conv2d.js';
import { parseVaeConfig, type VaeConfig } from './config.js';
import { VaeEncoder } from './encoder.js';
import { VaeDecoder } from './decoder.js';
import { DiagonalGaussian, type NoiseSource } from './distribution.js';
import { runStages } from './stages.js';

export interface AutoencoderKLOptions {
  /**
   * Build the encoder and quant_conv (default true). Generation only needs the decoder; without
   * the encoder its weights are never read (`loadVaeWeights` ignores them) and `encode` throws.
   */
  encoder?: boolean;
}

/**
 * diffusers AutoencoderKL (keys encoder.*, decoder.*, quant_conv.*, post_quant_conv.*).
 * All tensors are NHWC. As in diffusers, `decode` takes z = latents / scaling_factor and returns
 * the raw decoder output; `decodeLatents` takes UNet latents and returns images in [0, 1].
 */
export class AutoencoderKL extends Module {
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

  /** Builds from a parsed `vae/config.json` (`source` names it in errors). */
  static fromConfigJson(json: unknown, opts: AutoencoderKLOptions = {}, source?: string): AutoencoderKL {
    return new AutoencoderKL(parseVaeConfig(json, source), opts);
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
