/**
 * UNet2DConditionModel configuration: parses a diffusers `unet/config.json` into per-block
 * settings, applying diffusers' defaults and rules (in particular: `attention_head_dim` is the
 * number of heads for SD-1.x, SD-2.x and SD-XL configs alike, unless `num_attention_heads` is set).
 */
import { ConfigReader, MAX_CONFIG_LAYERS } from '../../io/config.js';

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
  /** Default latent size (sample_size; 64 for SD-1.x → 512×512 images, 128 for SD-XL). */
  sampleSize: number;
  /**
   * Added conditioning (`addition_embed_type`): null, or "text_time" (SD-XL: a pooled text
   * embedding and micro-conditioning ids, embedded and added to the time embedding).
   */
  additionEmbedType: 'text_time' | null;
  /** Sinusoid size per time id (`addition_time_embed_dim`; SD-XL 256); 0 without added conditioning. */
  additionTimeEmbedDim: number;
  /** Input width of `add_embedding` (`projection_class_embeddings_input_dim` = pooled dim + ids · additionTimeEmbedDim); 0 without. */
  projectionClassEmbeddingsInputDim: number;
}

/** Fields of diffusers' config that select nothing this implementation has: [key, the only value accepted]. */
const UNSUPPORTED: [string, unknown][] = [
  ['time_embedding_type', 'positional'],
  ['class_embed_type', null],
  ['num_class_embeds', null],
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

/** diffusers fields without effect here (not warned about). */
const NO_EFFECT = [
  'addition_embed_type_num_heads', 'cross_attention_norm', 'dropout', 'mid_block_only_cross_attention',
  'resnet_out_scale_factor', 'resnet_skip_time_act', 'upcast_attention',
  // Only read with addition_embed_type "text_time".
  'addition_time_embed_dim', 'projection_class_embeddings_input_dim',
];

/** diffusers strips a "UNetRes" prefix from block type names. */
const stripPrefix = (s: string) => (s.startsWith('UNetRes') ? s.slice(7) : s);

function blockTypes<T extends string>(r: ConfigReader, key: string, allowed: readonly T[]): T[] {
  return r.strList(key, 'block type names').map((s0, i) => {
    const s = stripPrefix(s0);
    if (!(allowed as readonly string[]).includes(s)) r.problem(`${key}[${i}] "${s0}" is not supported (supported: ${allowed.join(', ')})`);
    return s as T;
  });
}

/** An int (replicated) or a list of `n` ints, each at most `max`. */
function perBlock(r: ConfigReader, key: string, v: unknown, n: number, max?: number): number[] {
  if (v === undefined || n === 0) return [];
  if (Array.isArray(v)) {
    if (v.length !== n) {
      r.fail(key, `has ${v.length} entries for ${n} down blocks`);
      return [];
    }
    return v.map((x, i) => r.checkInt(`${key}[${i}]`, x, 0, undefined, max));
  }
  return new Array<number>(n).fill(r.checkInt(key, v, 0, undefined, max));
}

/**
 * Parses a diffusers UNet2DConditionModel config.json object. Every problem is reported in one
 * error naming `source`; unknown fields are warned about.
 */
export function parseUNetConfig(raw: unknown, source = 'unet/config.json'): UNetConfig {
  const r = new ConfigReader(raw, source);
  for (const [key, ok] of UNSUPPORTED) {
    const v = r.value(key) ?? null;
    if (v !== null && v !== ok) r.problem(`"${key}": ${JSON.stringify(v)} is not supported (only ${JSON.stringify(ok)})`);
  }
  const downBlockTypes = blockTypes(r, 'down_block_types', ['CrossAttnDownBlock2D', 'DownBlock2D'] as const);
  const upBlockTypes = blockTypes(r, 'up_block_types', ['CrossAttnUpBlock2D', 'UpBlock2D'] as const);
  const n = downBlockTypes.length;
  if (n && upBlockTypes.length && upBlockTypes.length !== n) r.problem(`${n} down_block_types but ${upBlockTypes.length} up_block_types`);
  const boc = r.required('block_out_channels');
  if (boc !== undefined && !Array.isArray(boc)) r.fail('block_out_channels', 'must be a list');
  const blockOutChannels = Array.isArray(boc) && n ? perBlock(r, 'block_out_channels', boc, n) : [];

  // diffusers: num_attention_heads = num_attention_heads or attention_head_dim (the historical
  // "attention_head_dim" of SD-1/SD-2 configs is the number of heads).
  const headsKey = r.has('num_attention_heads') ? 'num_attention_heads' : 'attention_head_dim';
  const attentionHeads = perBlock(r, headsKey, r.required(headsKey), n);

  // Absent: the default mid block; an explicit null: none.
  r.value('mid_block_type');
  const rawMid = (raw as Record<string, unknown>).mid_block_type;
  const mid = rawMid === undefined ? 'UNetMidBlock2DCrossAttn' : rawMid;
  if (mid !== null && mid !== 'UNetMidBlock2DCrossAttn') r.fail('mid_block_type', `${JSON.stringify(mid)} is not supported`);

  const oca = r.value('only_cross_attention') ?? false;
  let onlyCrossAttention: boolean[];
  if (Array.isArray(oca)) {
    onlyCrossAttention = oca.map((x, i) => {
      if (typeof x !== 'boolean') r.problem(`only_cross_attention[${i}] must be true or false`);
      return x === true;
    });
  } else {
    onlyCrossAttention = new Array<boolean>(n).fill(r.bool('only_cross_attention', false));
  }
  if (n && onlyCrossAttention.length !== n) r.fail('only_cross_attention', `has ${onlyCrossAttention.length} entries for ${n} down blocks`);

  const added = r.value('addition_embed_type') ?? null;
  if (added !== null && added !== 'text_time') r.problem(`"addition_embed_type": ${JSON.stringify(added)} is not supported (only null or "text_time")`);
  const textTime = added === 'text_time';
  // Without "text_time" diffusers ignores both sizes (they are in NO_EFFECT for that case).
  const additionTimeEmbedDim = textTime ? r.int('addition_time_embed_dim', undefined, 1) : 0;
  const projectionClassEmbeddingsInputDim = textTime ? r.int('projection_class_embeddings_input_dim', undefined, 1) : 0;

  const normNumGroups = r.int('norm_num_groups');
  const cfg: UNetConfig = {
    inChannels: r.int('in_channels'),
    outChannels: r.int('out_channels'),
    downBlockTypes,
    upBlockTypes,
    midBlockType: mid as MidBlockType | null,
    blockOutChannels,
    layersPerBlock: perBlock(r, 'layers_per_block', r.required('layers_per_block'), n, MAX_CONFIG_LAYERS),
    transformerLayersPerBlock: perBlock(r, 'transformer_layers_per_block', r.value('transformer_layers_per_block') ?? 1, n, MAX_CONFIG_LAYERS),
    attentionHeads,
    crossAttentionDim: perBlock(r, 'cross_attention_dim', r.required('cross_attention_dim'), n),
    onlyCrossAttention,
    useLinearProjection: r.bool('use_linear_projection', false),
    normNumGroups,
    normEps: r.num('norm_eps', 1e-5),
    flipSinToCos: r.bool('flip_sin_to_cos', true),
    freqShift: r.num('freq_shift', 0),
    actFn: r.str('act_fn', 'silu'),
    centerInputSample: r.bool('center_input_sample', false),
    downsamplePadding: r.int('downsample_padding', 1),
    midBlockScaleFactor: r.num('mid_block_scale_factor', 1),
    timeEmbedDim: r.has('time_embedding_dim') ? r.int('time_embedding_dim') : blockOutChannels[0] * 4,
    convInKernel: r.int('conv_in_kernel', 3),
    convOutKernel: r.int('conv_out_kernel', 3),
    sampleSize: r.int('sample_size', 64),
    additionEmbedType: textTime ? 'text_time' : null,
    additionTimeEmbedDim,
    projectionClassEmbeddingsInputDim,
  };
  if (Number.isInteger(normNumGroups) && normNumGroups > 0) {
    blockOutChannels.forEach((ch, i) => {
      if (Number.isInteger(ch) && ch % normNumGroups !== 0) r.problem(`block_out_channels[${i}] = ${ch} is not divisible by norm_num_groups ${normNumGroups}`);
    });
  }
  r.done(NO_EFFECT);
  return cfg;
}
