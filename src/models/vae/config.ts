/** AutoencoderKL configuration, parsed from a diffusers `vae/config.json`. */
import { ConfigReader, MAX_CONFIG_LAYERS } from '../../io/config.js';

/** Default latent scaling factor of SD-1.x VAEs (diffusers' default when the key is absent). */
export const DEFAULT_VAE_SCALING_FACTOR = 0.18215;

/** GroupNorm eps used throughout the diffusers VAE (fixed, not in the config). */
export const VAE_EPS = 1e-6;

export interface VaeConfig {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly downBlockTypes: readonly string[];
  readonly upBlockTypes: readonly string[];
  readonly blockOutChannels: readonly number[];
  readonly layersPerBlock: number;
  /** Activation of the resnets (the output heads always use SiLU, as diffusers does). */
  readonly actFn: string;
  readonly latentChannels: number;
  readonly normNumGroups: number;
  /** Multiplier from VAE latents to UNet latents (default 0.18215). */
  readonly scalingFactor: number;
  /** Image size the model was trained at (informational). */
  readonly sampleSize: number | readonly number[];
  /** quant_conv / post_quant_conv present (default true). */
  readonly useQuantConv: boolean;
  readonly usePostQuantConv: boolean;
  /** Self-attention in the mid blocks (default true). */
  readonly midBlockAddAttention: boolean;
}

/** diffusers fields without effect here (not warned about). */
const NO_EFFECT = ['force_upcast', 'latents_mean', 'latents_std'];

/**
 * Validates a parsed `vae/config.json`. `source` names the file in error messages; every problem
 * (missing fields listed together) is reported in one error, unknown fields are warned about.
 * Only `scaling_factor` (0.18215), `use_quant_conv`, `use_post_quant_conv` and
 * `mid_block_add_attention` (true) have defaults.
 */
export function parseVaeConfig(json: unknown, source = 'vae/config.json'): VaeConfig {
  const r = new ConfigReader(json, source);
  const blockTypes = (k: string, allowed: string): string[] => {
    const list = r.strList(k, 'block type names');
    list.forEach((t, i) => {
      if (t !== allowed) r.problem(`${k}[${i}] is "${t}"; only "${allowed}" is supported`);
    });
    return list;
  };
  const blockOutChannels = r.intList('block_out_channels', 1);
  const downBlockTypes = blockTypes('down_block_types', 'DownEncoderBlock2D');
  const upBlockTypes = blockTypes('up_block_types', 'UpDecoderBlock2D');
  const lengths = [downBlockTypes.length, upBlockTypes.length, blockOutChannels.length];
  if (lengths.every((n) => n > 0) && lengths.some((n) => n !== lengths[0])) {
    r.problem(`down_block_types (${lengths[0]}), up_block_types (${lengths[1]}) and block_out_channels (${lengths[2]}) must have the same length`);
  }
  const normNumGroups = r.int('norm_num_groups', undefined, 1);
  if (normNumGroups > 0) {
    blockOutChannels.forEach((c, i) => {
      if (c > 0 && c % normNumGroups !== 0) r.problem(`block_out_channels[${i}] = ${c} is not divisible by norm_num_groups = ${normNumGroups}`);
    });
  }
  const actFn = r.str('act_fn');
  const sampleSize = r.required('sample_size');
  if (Array.isArray(sampleSize)) sampleSize.forEach((x, i) => r.checkInt(`sample_size[${i}]`, x, 1));
  else if (sampleSize !== undefined) r.checkInt('sample_size', sampleSize, 1);
  const scalingFactor = r.num('scaling_factor', DEFAULT_VAE_SCALING_FACTOR);
  if (!(scalingFactor > 0)) r.fail('scaling_factor', `must be a positive number, got ${scalingFactor}`);
  if (r.has('shift_factor')) r.fail('shift_factor', 'is not supported (SD-1.x VAEs have none)');

  const config: VaeConfig = {
    inChannels: r.int('in_channels', undefined, 1),
    outChannels: r.int('out_channels', undefined, 1),
    downBlockTypes,
    upBlockTypes,
    blockOutChannels,
    layersPerBlock: r.int('layers_per_block', undefined, 1, MAX_CONFIG_LAYERS),
    actFn,
    latentChannels: r.int('latent_channels', undefined, 1),
    normNumGroups,
    scalingFactor,
    sampleSize: sampleSize as number | number[],
    useQuantConv: r.bool('use_quant_conv', true),
    usePostQuantConv: r.bool('use_post_quant_conv', true),
    midBlockAddAttention: r.bool('mid_block_add_attention', true),
  };
  r.done(NO_EFFECT);
  return config;
}
