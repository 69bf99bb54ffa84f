/**
 * Image sizes a model accepts: multiples of VAE factor × UNet factor (64 for SD), defaulting to the
 * UNet's sample_size × VAE factor (512 for SD-1.x and SD-2.1-base, 768 for SD-2.1).
 */

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

/** The rule of a model from its raw unet/config.json and vae/config.json, or undefined when they are malformed. */
export function imageSizeRuleFromConfigs(unet: unknown, vae: unknown): ImageSizeRule | undefined {
  const u = unet as Record<string, unknown> | null;
  const v = vae as Record<string, unknown> | null;
  const down = u?.down_block_types;
  const channels = v?.block_out_channels;
  const sample = u?.sample_size ?? 64;
  if (!Array.isArray(down) || down.length === 0 || !Array.isArray(channels) || channels.length === 0) return undefined;
  if (typeof sample !== 'number' || !Number.isInteger(sample) || sample < 1) return undefined;
  // diffusers: every down block but the last halves the resolution; every VAE level but the last too.
  return { vaeFactor: 2 ** (channels.length - 1), unetFactor: 2 ** (down.length - 1), sampleSize: sample };
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
