/**
 * UNet2DConditionModel configuration: parses a diffusers `unet/config.json` into per-block
 * settings, applying diffusers' defaults and rules (in particular: `attention_head_dim` is the
 * number of heads for SD-1.x and SD-2.x configs alike, unless `num_attention_heads` is set).
 */

export type DownBlockType = 'CrossAttnDownBlock2D' | 'DownBlock2D';
export type UpBlockType = 'CrossAttnUpBlock2D' | 'UpBlock2D';
export type MidBlockType = 'UNetMidBlock2DCrossAttn';

export interface UNetConfig {
  inChannels: number;
  outChannels: number;
  downBlockTypes: DownBlockType[];
  upBlockTypes: UpBlockType[];
  /** null = no mid block. */
  midBlockType: MidBlockType | null;
  blockOutChannels: number[];
  /** Resnets per down block (up blocks have one more). */
  layersPerBlock: number[];
  /** BasicTransformerBlocks per Transformer2DModel, per down block. */
  transformerLayersPerBlock: number[];
  /** Attention heads per down block (head size = channels / heads). */
  attentionHeads: number[];
  crossAttentionDim: number[];
  onlyCrossAttention: boolean[];
  useLinearProjection: boolean;
  normNumGroups: number;
  normEps: number;
  flipSinToCos: boolean;
  freqShift: number;
  actFn: string;
  centerInputSample: boolean;
  downsamplePadding: number;
  midBlockScaleFactor: number;
  /** Size of the time embedding (time_embedding_dim or 4·block_out_channels[0]). */
  timeEmbedDim: number;
  convInKernel: number;
  convOutKernel: number;
  /** Default latent size (sample_size; 64 for SD-1.x → 512×512 images). */
  sampleSize: number;
}

type Json = Record<string, unknown>;

const where = 'unet config';

function has(raw: Json, key: string): boolean {
  return raw[key] !== undefined && raw[key] !== null;
}

function req(raw: Json, key: string): unknown {
  if (!has(raw, key)) throw new Error(`${where}: missing required field "${key}"`);
  return raw[key];
}

function int(v: unknown, key: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new Error(`${where}: "${key}" must be a non-negative integer, got ${JSON.stringify(v)}`);
  return v;
}

function num(raw: Json, key: string, dflt: number): number {
  const v = raw[key] ?? dflt;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${where}: "${key}" must be a number, got ${JSON.stringify(v)}`);
  return v;
}

function bool(raw: Json, key: string, dflt: boolean): boolean {
  const v = raw[key] ?? dflt;
  if (typeof v !== 'boolean') throw new Error(`${where}: "${key}" must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

function str(raw: Json, key: string, dflt: string): string {
  const v = raw[key] ?? dflt;
  if (typeof v !== 'string') throw new Error(`${where}: "${key}" must be a string, got ${JSON.stringify(v)}`);
  return v;
}

/** An int (replicated) or a list of `n` ints. */
function perBlock(v: unknown, key: string, n: number): number[] {
  if (Array.isArray(v)) {
    if (v.length !== n) throw new Error(`${where}: "${key}" has ${v.length} entries for ${n} down blocks`);
    return v.map((x, i) => int(x, `${key}[${i}]`));
  }
  return new Array<number>(n).fill(int(v, key));
}

function strList(raw: Json, key: string): string[] {
  const v = req(raw, key);
  if (!Array.isArray(v) || v.length === 0 || v.some((s) => typeof s !== 'string')) {
    throw new Error(`${where}: "${key}" must be a non-empty list of block type names, got ${JSON.stringify(v)}`);
  }
  return v as string[];
}

/** diffusers strips a "UNetRes" prefix from block type names. */
const stripPrefix = (s: string) => (s.startsWith('UNetRes') ? s.slice(7) : s);

function blockTypes<T extends string>(raw: Json, key: string, allowed: readonly T[]): T[] {
  return strList(raw, key).map((s0, i) => {
    const s = stripPrefix(s0);
    if (!(allowed as readonly string[]).includes(s)) {
      throw new Error(`${where}: ${key}[${i}] "${s0}" is not supported (supported: ${allowed.join(', ')})`);
    }
    return s as T;
  });
}

/** Fields that select features this implementation does not have: [key, value it must have]. */
const UNSUPPORTED: [string, unknown][] = [
  ['time_embedding_type', 'positional'],
  ['class_embed_type', null],
  ['num_class_embeds', null],
  ['addition_embed_type', null],
  ['encoder_hid_dim', null],
  ['encoder_hid_dim_type', null],
  ['time_cond_proj_dim', null],
  ['timestep_post_act', null],
  ['time_embedding_act_fn', null],
  ['resnet_time_scale_shift', 'default'],
  ['dual_cross_attention', false],
  ['attention_type', 'default'],
  ['reverse_transformer_layers_per_block', null],
  ['class_embeddings_concat', false],
];

/** Parses a diffusers UNet2DConditionModel config.json object. */
export function parseUNetConfig(raw: unknown): UNetConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${where}: expected a JSON object`);
  const c = raw as Json;
  for (const [key, ok] of UNSUPPORTED) {
    const v = c[key] ?? null;
    if (v !== null && v !== ok) throw new Error(`${where}: "${key}": ${JSON.stringify(v)} is not supported (only ${JSON.stringify(ok)})`);
  }
  const downBlockTypes = blockTypes(c, 'down_block_types', ['CrossAttnDownBlock2D', 'DownBlock2D'] as const);
  const upBlockTypes = blockTypes(c, 'up_block_types', ['CrossAttnUpBlock2D', 'UpBlock2D'] as const);
  const n = downBlockTypes.length;
  if (upBlockTypes.length !== n) throw new Error(`${where}: ${n} down_block_types but ${upBlockTypes.length} up_block_types`);
  const boc = req(c, 'block_out_channels');
  if (!Array.isArray(boc)) throw new Error(`${where}: "block_out_channels" must be a list`);
  const blockOutChannels = perBlock(boc, 'block_out_channels', n);

  // diffusers: num_attention_heads = num_attention_heads or attention_head_dim (the historical
  // "attention_head_dim" of SD-1/SD-2 configs is the number of heads).
  const headsKey = has(c, 'num_attention_heads') ? 'num_attention_heads' : 'attention_head_dim';
  const attentionHeads = perBlock(req(c, headsKey), headsKey, n);

  const mid = c.mid_block_type === undefined ? 'UNetMidBlock2DCrossAttn' : c.mid_block_type;
  if (mid !== null && mid !== 'UNetMidBlock2DCrossAttn') throw new Error(`${where}: mid_block_type ${JSON.stringify(mid)} is not supported`);

  const oca = c.only_cross_attention ?? false;
  const onlyCrossAttention = Array.isArray(oca)
    ? oca.map((x, i) => {
        if (typeof x !== 'boolean') throw new Error(`${where}: only_cross_attention[${i}] must be true or false`);
        return x;
      })
    : new Array<boolean>(n).fill(bool(c, 'only_cross_attention', false));
  if (onlyCrossAttention.length !== n) throw new Error(`${where}: "only_cross_attention" has ${onlyCrossAttention.length} entries for ${n} down blocks`);

  const normNumGroups = int(req(c, 'norm_num_groups'), 'norm_num_groups');
  const cfg: UNetConfig = {
    inChannels: int(req(c, 'in_channels'), 'in_channels'),
    outChannels: int(req(c, 'out_channels'), 'out_channels'),
    downBlockTypes,
    upBlockTypes,
    midBlockType: mid as MidBlockType | null,
    blockOutChannels,
    layersPerBlock: perBlock(req(c, 'layers_per_block'), 'layers_per_block', n),
    transformerLayersPerBlock: perBlock(c.transformer_layers_per_block ?? 1, 'transformer_layers_per_block', n),
    attentionHeads,
    crossAttentionDim: perBlock(req(c, 'cross_attention_dim'), 'cross_attention_dim', n),
    onlyCrossAttention,
    useLinearProjection: bool(c, 'use_linear_projection', false),
    normNumGroups,
    normEps: num(c, 'norm_eps', 1e-5),
    flipSinToCos: bool(c, 'flip_sin_to_cos', true),
    freqShift: num(c, 'freq_shift', 0),
    actFn: str(c, 'act_fn', 'silu'),
    centerInputSample: bool(c, 'center_input_sample', false),
    downsamplePadding: int(c.downsample_padding ?? 1, 'downsample_padding'),
    midBlockScaleFactor: num(c, 'mid_block_scale_factor', 1),
    timeEmbedDim: has(c, 'time_embedding_dim') ? int(c.time_embedding_dim, 'time_embedding_dim') : blockOutChannels[0] * 4,
    convInKernel: int(c.conv_in_kernel ?? 3, 'conv_in_kernel'),
    convOutKernel: int(c.conv_out_kernel ?? 3, 'conv_out_kernel'),
    sampleSize: int(c.sample_size ?? 64, 'sample_size'),
  };
  cfg.blockOutChannels.forEach((ch, i) => {
    if (ch % normNumGroups !== 0) throw new Error(`${where}: block_out_channels[${i}] = ${ch} is not divisible by norm_num_groups ${normNumGroups}`);
  });
  return cfg;
}
