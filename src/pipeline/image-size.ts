/**
 * Image sizes a model accepts: multiples of VAE factor × UNet factor (64 for SD), defaulting to the
 * UNet's sample_size × VAE factor (512 for SD-1.x and SD-2.1-base, 768 for SD-2.1).
 */
import type { UNetConfig } from '../models/unet/config.js';
import type { VaeConfig } from '../models/vae/config.js';

/** What fixes a model's image sizes. */
export interface ImageSizeRule {
  /** Pixels per latent pixel (VAE factor, 8 for SD). */
  vaeFactor: number;
  /** Latent pixels per deepest UNet pixel (2^downsamplers, 8 for SD). */
  unetFactor: number;
  /** The UNet's sample_size (latent pixels). */
  sampleSize: number;
}

/** Default image size in pixels (sample_size × VAE factor). */
export function defaultImageSize(rule: ImageSizeRule): number {
  return rule.sampleSize * rule.vaeFactor;
}

/** Throws (naming the dimension, the unit and the default) unless `value` is a positive multiple of the unit. */
export function checkImageDimension(name: string, value: number, rule: ImageSizeRule): void {
  const unit = rule.vaeFactor * rule.unetFactor;
  if (!Number.isInteger(value) || value <= 0 || value % unit !== 0) {
    const d = defaultImageSize(rule);
    throw new Error(
      `${name} ${value} must be a positive multiple of ${unit} (VAE factor ${rule.vaeFactor} × UNet factor ${rule.unetFactor}); ` +
        `this model's default is ${d}×${d}`,
    );
  }
}

/** The image-size rule of a model from its parsed configs (the one place it is derived). */
export function imageSizeRuleOf(unet: UNetConfig, vae: VaeConfig): ImageSizeRule {
  // diffusers: every down block but the last halves the resolution; every VAE level but the last too.
  return {
    sampleSize: unet.sampleSize,
    vaeFactor: 2 ** (vae.blockOutChannels.length - 1),
    unetFactor: 2 ** (unet.downBlockTypes.length - 1),
  };
}

/**
 * The image size of a run: the asked height/width, else the given latents' size (NCHW), else the
 * model's default; each checked with {@link checkImageDimension}.
 */
export function resolveImageSize(
  req: { height?: number; width?: number; latentsShape?: readonly number[] },
  rule: ImageSizeRule,
): { height: number; width: number } {
  const f = rule.vaeFactor;
  const shape = req.latentsShape;
  const d = defaultImageSize(rule);
  const height = req.height ?? (shape ? shape[2] * f : d);
  const width = req.width ?? (shape ? shape[3] * f : d);
  checkImageDimension('height', height, rule);
  checkImageDimension('width', width, rule);
  return { height, width };
}
