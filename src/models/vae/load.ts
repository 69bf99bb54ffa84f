import type { WeightSource } from '../../io/weights.js';
import { loadWeights, type LoadWeightsOptions } from '../../nn/load-weights.js';
import type { AutoencoderKL } from './autoencoder-kl.js';
import { LegacyVaeAttentionSource } from './legacy-keys.js';

/** Keys of a full VAE checkpoint that a decoder-only model does not use. */
export const isEncoderKey = (key: string): boolean => key.startsWith('encoder.') || key.startsWith('quant_conv.');

/**
 * Loads AutoencoderKL weights from a diffusers-layout source (`vae/diffusion_pytorch_model.safetensors`).
 * Legacy attention names (query/key/value/proj_attn, q/k/v/proj_out/norm, 1×1 conv weights) are
 * accepted; a model built with `{ encoder: false }` ignores (and never reads) the encoder's keys.
 */
export async function loadVaeWeights(vae: AutoencoderKL, src: WeightSource, opts: LoadWeightsOptions = {}): Promise<void> {
  const userIgnore = opts.ignore;
  const ignore = vae.hasEncoder ? userIgnore : (k: string) => isEncoderKey(k) || (userIgnore?.(k) ?? false);
  await loadWeights(vae, new LegacyVaeAttentionSource(src), { ...opts, ignore });
}
