/** AutoencoderKL configuration, parsed from a diffusers `vae/config.json`. */

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

const SUPPORTED_DOWN = 'DownEncoderBlock2D';
const SUPPORTED_UP = 'UpDecoderBlock2D';

/**
 * Validates a parsed `vae/config.json`. `source` names the file in error messages. A missing or
 * ill-typed field throws an error naming the field; only `scaling_factor` (0.18215),
 * `use_quant_conv`, `use_post_quant_conv` and `mid_block_add_attention` (true) have defaults.
 */
export function parseVaeConfig(json: unknown, source = 'vae/config.json'): VaeConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new Error(`${source}: VAE config is not a JSON object`);
  }
  const o = json as Record<string, unknown>;
  const fail = (msg: string): never => {
    throw new Error(`${source}: ${msg}`);
  };
  const has = (k: string) => o[k] !== undefined && o[k] !== null;
  const need = (k: string) => {
    if (!has(k)) fail(`missing required field "${k}"`);
    return o[k];
  };
  const posInt = (k: string, v: unknown = need(k)): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) fail(`field "${k}" must be a positive integer, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const intList = (k: string): number[] => {
    const v = need(k);
    if (!Array.isArray(v) || v.length === 0) fail(`field "${k}" must be a non-empty list of integers, got ${JSON.stringify(v)}`);
    return (v as unknown[]).map((x, i) => posInt(`${k}[${i}]`, x));
  };
  const strList = (k: string, allowed: string): string[] => {
    const v = need(k);
    if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'string')) {
      fail(`field "${k}" must be a non-empty list of block type names, got ${JSON.stringify(v)}`);
    }
    (v as string[]).forEach((t, i) => {
      if (t !== allowed) fail(`${k}[${i}] is "${t}"; only "${allowed}" is supported`);
    });
    return v as string[];
  };
  const bool = (k: string, dflt: boolean): boolean => {
    if (!has(k)) return dflt;
    if (typeof o[k] !== 'boolean') fail(`field "${k}" must be a boolean, got ${JSON.stringify(o[k])}`);
    return o[k] as boolean;
  };

  const blockOutChannels = intList('block_out_channels');
  const downBlockTypes = strList('down_block_types', SUPPORTED_DOWN);
  const upBlockTypes = strList('up_block_types', SUPPORTED_UP);
  if (downBlockTypes.length !== blockOutChannels.length || upBlockTypes.length !== blockOutChannels.length) {
    fail(`down_block_types (${downBlockTypes.length}), up_block_types (${upBlockTypes.length}) and block_out_channels (${blockOutChannels.length}) must have the same length`);
  }
  const normNumGroups = posInt('norm_num_groups');
  blockOutChannels.forEach((c, i) => {
    if (c % normNumGroups !== 0) fail(`block_out_channels[${i}] = ${c} is not divisible by norm_num_groups = ${normNumGroups}`);
  });
  const actFn = need('act_fn');
  if (typeof actFn !== 'string') fail(`field "act_fn" must be a string, got ${JSON.stringify(actFn)}`);
  const sampleSize = need('sample_size');
  if (typeof sampleSize === 'number') posInt('sample_size', sampleSize);
  else if (Array.isArray(sampleSize)) sampleSize.forEach((x, i) => posInt(`sample_size[${i}]`, x));
  else fail(`field "sample_size" must be an integer or a list, got ${JSON.stringify(sampleSize)}`);
  let scalingFactor = DEFAULT_VAE_SCALING_FACTOR;
  if (has('scaling_factor')) {
    const s = o.scaling_factor;
    if (typeof s !== 'number' || !(s > 0)) fail(`field "scaling_factor" must be a positive number, got ${JSON.stringify(s)}`);
    scalingFactor = s as number;
  }
  if (has('shift_factor')) fail(`field "shift_factor" is not supported (SD-1.x VAEs have none)`);

  return {
    inChannels: posInt('in_channels'),
    outChannels: posInt('out_channels'),
    downBlockTypes,
    upBlockTypes,
    blockOutChannels,
    layersPerBlock: posInt('layers_per_block'),
    actFn: actFn as string,
    latentChannels: posInt('latent_channels'),
    normNumGroups,
    scalingFactor,
    sampleSize: sampleSize as number | number[],
    useQuantConv: bool('use_quant_conv', true),
    usePostQuantConv: bool('use_post_quant_conv', true),
    midBlockAddAttention: bool('mid_block_add_attention', true),
  };
}
