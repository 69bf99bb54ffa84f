/** AutoencoderKL (the Stable Diffusion VAE): config, model, weight loading. */
export { parseVaeConfig, DEFAULT_VAE_SCALING_FACTOR, VAE_EPS, type VaeConfig } from './config.js';
export { AutoencoderKL, type AutoencoderKLOptions } from './autoencoder-kl.js';
export { VaeEncoder } from './encoder.js';
export { VaeDecoder } from './decoder.js';
export { VaeMidBlock, type VaeMidBlockOptions } from './mid-block.js';
export { VaeAttentionBlock, type VaeAttentionOptions } from './attention-block.js';
export { DownEncoderBlock2D, type DownEncoderBlockOptions } from './down-encoder-block.js';
export { UpDecoderBlock2D, type UpDecoderBlockOptions } from './up-decoder-block.js';
export { DiagonalGaussian, type NoiseSource } from './distribution.js';
export { LegacyVaeAttentionSource, renameLegacyVaeKey, hasLegacyVaeKeys } from './legacy-keys.js';
export { loadVaeWeights, isEncoderKey } from './load.js';
export { runStages } from './stages.js';
