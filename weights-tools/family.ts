/** Which Stable Diffusion family a single-file checkpoint or a diffusers directory holds (pure, no I/O). */
import { OPENCLIP_PREFIX } from './openclip-keymap.js';
import { SD1_PREFIXES } from './sd1-keymap.js';

/** The model families `convert` reads. */
export type ModelFamily = 'sd1' | 'sd2' | 'sdxl';

/** Display name of each family. */
export const FAMILY_NAME: Readonly<Record<ModelFamily, string>> = { sd1: 'SD-1.x', sd2: 'SD-2.x', sdxl: 'SD-XL' };

/** SD-XL with `conditioner.embedders.*` keys; SD-2.x when the text encoder is OpenCLIP (and no SD-1 CLIP keys are present). */
export function detectFamily(keys: readonly string[]): ModelFamily {
  if (keys.some((k) => k.startsWith('conditioner.embedders.'))) return 'sdxl';
  const openClip = keys.some((k) => k.startsWith(OPENCLIP_PREFIX));
  const clip = keys.some((k) => k.startsWith(SD1_PREFIXES.text_encoder));
  return openClip && !clip ? 'sd2' : 'sd1';
}

/**
 * The family of a diffusers directory from its configs: SD-XL (a second text encoder or a
 * "text_time" UNet), SD-2.x (a gelu, OpenCLIP text encoder), else SD-1.x; with what tells it.
 */
export function directoryFamily(configs: {
  unet?: Record<string, unknown>;
  text_encoder?: Record<string, unknown>;
  text_encoder_2?: Record<string, unknown>;
}): string {
  if (configs.text_encoder_2 || configs.unet?.addition_embed_type === 'text_time')
    return `${FAMILY_NAME.sdxl} (two text encoders, text_time added conditioning)`;
  if (configs.text_encoder?.hidden_act === 'gelu') return `${FAMILY_NAME.sd2} (OpenCLIP text encoder)`;
  return `${FAMILY_NAME.sd1} (CLIP ViT-L text encoder)`;
}
