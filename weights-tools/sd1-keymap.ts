/**
 * Key rules from the original CompVis Stable Diffusion 1.x single-file checkpoint
 * (`model.diffusion_model.*`, `first_stage_model.*`, `cond_stage_model.transformer.*`) to the
 * diffusers/transformers names of the three components. Pure functions, no I/O.
 *
 * UNet: `input_blocks.0.0` is conv_in; then each down block b has `layers+1` input blocks:
 * `layers` of [resnet, transformer] and one downsampler (`op`). `output_blocks` are grouped the
 * same way per up block, each [resnet, transformer?, upsampler?]. Resnets rename
 * in_layers.0/2 → norm1/conv1, emb_layers.1 → time_emb_proj, out_layers.0/3 → norm2/conv2,
 * skip_connection → conv_shortcut. VAE: `down.i`/`up.i` blocks (decoder `up` numbered from the
 * bottom, diffusers from the top), `mid.block_1/2`, `mid.attn_1` whose 1×1 conv q/k/v/proj_out
 * become linear to_q/to_k/to_v/to_out.0 (weights [C, C, 1, 1] → [C, C]). CLIP: prefix removed.
 *
 * SD-2.x checkpoints share the UNet and VAE rules; their OpenCLIP text tower
 * (`cond_stage_model.model.*`, see openclip-keymap.ts) is read when the layout says so.
 *
 * SD-XL (Stability's generative-models layout, `layout.sdxl`): the same UNet rules over three
 * levels (the first without attention; a SpatialTransformer's `transformer_blocks.N` are the N
 * BasicTransformerBlocks of its Transformer2DModel), plus `label_emb.0.0/0.2` → `add_embedding.linear_1/2`;
 * the same VAE; `conditioner.embedders.0.transformer.*` is CLIP ViT-L (transformers keys behind the
 * prefix: text_encoder) and `conditioner.embedders.1.model.*` OpenCLIP ViT-bigG with every block and
 * its text projection (text_encoder_2).
 */
import { OPENCLIP_PREFIX, openClipKey, type OpenClipTarget } from './openclip-keymap.js';

/** The components of a single-file checkpoint (SD-XL adds text_encoder_2). */
export type Sd1Component = 'unet' | 'vae' | 'text_encoder' | 'text_encoder_2';

/** Block counts the index arithmetic needs (from the unet/vae configs). */
export interface Sd1Layout {
  /** UNet resnets per down block (`layers_per_block`). */
  unetLayersPerBlock: number;
  /** UNet down/up blocks (`down_block_types.length`). */
  unetBlocks: number;
  /** VAE blocks (`block_out_channels.length`). */
  vaeBlocks: number;
  /**
   * SD-2.x: the text encoder is OpenCLIP (`cond_stage_model.model.*`) with this many layers kept
   * (text config num_hidden_layers). Absent: SD-1.x's CLIP (`cond_stage_model.transformer.*`).
   */
  openClipLayers?: number;
  /** SD-XL: the conditioner's two text towers; `openClipLayers2` = text_encoder_2 num_hidden_layers (32). */
  sdxl?: { openClipLayers2: number };
}

/** Prefix of each component's keys in a single-file SD-1.x checkpoint (SD-2.x: text encoder under OPENCLIP_PREFIX). */
export const SD1_PREFIXES: Readonly<Record<Exclude<Sd1Component, 'text_encoder_2'>, string>> = {
  unet: 'model.diffusion_model.',
  vae: 'first_stage_model.',
  text_encoder: 'cond_stage_model.transformer.',
};

/** Prefixes of SD-XL's two text towers (generative-models `conditioner.embedders`). */
export const SDXL_TEXT_PREFIXES = {
  text_encoder: 'conditioner.embedders.0.transformer.',
  text_encoder_2: 'conditioner.embedders.1.model.',
} as const;

/** Where each component's keys start in a checkpoint of this layout (for messages). */
export function componentPrefix(c: Sd1Component, layout: Sd1Layout): string {
  if (c === 'text_encoder_2') return SDXL_TEXT_PREFIXES.text_encoder_2;
  if (c === 'text_encoder')
    return layout.sdxl
      ? SDXL_TEXT_PREFIXES.text_encoder
      : layout.openClipLayers !== undefined
        ? OPENCLIP_PREFIX
        : SD1_PREFIXES.text_encoder;
  return SD1_PREFIXES[c];
}

/** The components a checkpoint of this layout holds, in pipeline order. */
export function layoutComponents(layout: Sd1Layout): Sd1Component[] {
  return layout.sdxl ? ['unet', 'vae', 'text_encoder', 'text_encoder_2'] : ['unet', 'vae', 'text_encoder'];
}

export type Sd1KeyMapping =
  /** Goes to `key` of `component`; `squeeze` drops trailing 1×1 dims (conv 1×1 → linear); `transpose` swaps a 2-D tensor's axes. */
  | { kind: 'map'; component: Sd1Component; key: string; squeeze?: boolean; transpose?: boolean }
  /** One fused tensor split into parts along dim 0 (OpenCLIP's q/k/v `in_proj`). */
  | { kind: 'split'; component: Sd1Component; parts: OpenClipTarget[] }
  /** Not needed for inference (training buffers, EMA copy, ...). */
  | { kind: 'ignore'; reason: string }
  /** Belongs to a model family this converter does not handle. */
  | { kind: 'unsupported'; reason: string }
  /** Under an SD-1.x prefix but matches no rule. */
  | { kind: 'unknown' };

/** DDPM schedule buffers stored at the top level of LatentDiffusion checkpoints. */
const SCHEDULE_BUFFERS = new Set([
  'betas',
  'alphas_cumprod',
  'alphas_cumprod_prev',
  'sqrt_alphas_cumprod',
  'sqrt_one_minus_alphas_cumprod',
  'log_one_minus_alphas_cumprod',
  'sqrt_recip_alphas_cumprod',
  'sqrt_recipm1_alphas_cumprod',
  'posterior_variance',
  'posterior_log_variance_clipped',
  'posterior_mean_coef1',
  'posterior_mean_coef2',
  'logvar',
]);

const UNET_RESNET: Readonly<Record<string, string>> = {
  'in_layers.0': 'norm1',
  'in_layers.2': 'conv1',
  'emb_layers.1': 'time_emb_proj',
  'out_layers.0': 'norm2',
  'out_layers.3': 'conv2',
  skip_connection: 'conv_shortcut',
};

const TRANSFORMER_TAIL = new RegExp(
  '^(?:(?:norm|proj_in|proj_out)\\.(?:weight|bias)' +
    '|transformer_blocks\\.\\d+\\.(?:norm[123]\\.(?:weight|bias)|attn[12]\\.to_[qkv]\\.weight|attn[12]\\.to_out\\.0\\.(?:weight|bias)' +
    '|ff\\.net\\.0\\.proj\\.(?:weight|bias)|ff\\.net\\.2\\.(?:weight|bias)))$',
);

function unetResnet(tail: string, prefix: string): string | undefined {
  const m = /^(.+)\.(weight|bias)$/.exec(tail);
  const name = m && UNET_RESNET[m[1]];
  return name ? `${prefix}${name}.${m[2]}` : undefined;
}

function transformer(tail: string, prefix: string): string | undefined {
  return TRANSFORMER_TAIL.test(tail) ? prefix + tail : undefined;
}

/** UNet key (after `model.diffusion_model.`) → diffusers key. */
export function unetKey(rest: string, layout: Sd1Layout): string | undefined {
  const per = layout.unetLayersPerBlock + 1;
  let m: RegExpExecArray | null;
  if ((m = /^time_embed\.([02])\.(weight|bias)$/.exec(rest)))
    return `time_embedding.linear_${m[1] === '0' ? 1 : 2}.${m[2]}`;
  // SD-XL's vector conditioning MLP (pooled text embedding + size/crop embeddings).
  if (layout.sdxl && (m = /^label_emb\.0\.([02])\.(weight|bias)$/.exec(rest)))
    return `add_embedding.linear_${m[1] === '0' ? 1 : 2}.${m[2]}`;
  if ((m = /^input_blocks\.0\.0\.(weight|bias)$/.exec(rest))) return `conv_in.${m[1]}`;
  if ((m = /^out\.([02])\.(weight|bias)$/.exec(rest))) return `${m[1] === '0' ? 'conv_norm_out' : 'conv_out'}.${m[2]}`;
  if ((m = /^input_blocks\.(\d+)\.(\d+)\.(.+)$/.exec(rest))) {
    const n = Number(m[1]) - 1;
    const [block, layer, sub, tail] = [Math.floor(n / per), n % per, Number(m[2]), m[3]];
    if (n < 0 || block >= layout.unetBlocks) return undefined;
    if (layer === layout.unetLayersPerBlock) {
      const op = /^op\.(weight|bias)$/.exec(tail);
      return sub === 0 && op ? `down_blocks.${block}.downsamplers.0.conv.${op[1]}` : undefined;
    }
    if (sub === 0) return unetResnet(tail, `down_blocks.${block}.resnets.${layer}.`);
    if (sub === 1) return transformer(tail, `down_blocks.${block}.attentions.${layer}.`);
    return undefined;
  }
  if ((m = /^middle_block\.([012])\.(.+)$/.exec(rest))) {
    if (m[1] === '1') return transformer(m[2], 'mid_block.attentions.0.');
    return unetResnet(m[2], `mid_block.resnets.${m[1] === '0' ? 0 : 1}.`);
  }
  if ((m = /^output_blocks\.(\d+)\.(\d+)\.(.+)$/.exec(rest))) {
    const n = Number(m[1]);
    const [block, layer, sub, tail] = [Math.floor(n / per), n % per, Number(m[2]), m[3]];
    if (block >= layout.unetBlocks) return undefined;
    if (sub === 0) return unetResnet(tail, `up_blocks.${block}.resnets.${layer}.`);
    const up = /^conv\.(weight|bias)$/.exec(tail);
    if (up) return layer === layout.unetLayersPerBlock ? `up_blocks.${block}.upsamplers.0.conv.${up[1]}` : undefined;
    if (sub === 1) return transformer(tail, `up_blocks.${block}.attentions.${layer}.`);
    return undefined;
  }
  return undefined;
}

function vaeResnet(tail: string, prefix: string): string | undefined {
  const m = /^(norm1|conv1|norm2|conv2|nin_shortcut)\.(weight|bias)$/.exec(tail);
  if (!m) return undefined;
  return `${prefix}${m[1] === 'nin_shortcut' ? 'conv_shortcut' : m[1]}.${m[2]}`;
}

const VAE_ATTN: Readonly<Record<string, string>> = {
  norm: 'group_norm',
  q: 'to_q',
  k: 'to_k',
  v: 'to_v',
  proj_out: 'to_out.0',
};

/** VAE key (after `first_stage_model.`) → diffusers key; `squeeze` for the 1×1-conv attention weights. */
export function vaeKey(rest: string, layout: Sd1Layout): { key: string; squeeze?: boolean } | undefined {
  const inRange = (i: string) => Number(i) < layout.vaeBlocks;
  const wrap = (key: string | undefined) => (key ? { key } : undefined);
  let m: RegExpExecArray | null;
  if (/^(?:post_)?quant_conv\.(?:weight|bias)$/.test(rest)) return { key: rest };
  if (/^(?:encoder|decoder)\.conv_(?:in|out)\.(?:weight|bias)$/.test(rest)) return { key: rest };
  if ((m = /^(encoder|decoder)\.norm_out\.(weight|bias)$/.exec(rest))) return { key: `${m[1]}.conv_norm_out.${m[2]}` };
  if ((m = /^encoder\.down\.(\d+)\.block\.(\d+)\.(.+)$/.exec(rest)) && inRange(m[1])) {
    return wrap(vaeResnet(m[3], `encoder.down_blocks.${m[1]}.resnets.${m[2]}.`));
  }
  if ((m = /^encoder\.down\.(\d+)\.downsample\.conv\.(weight|bias)$/.exec(rest)) && inRange(m[1])) {
    return { key: `encoder.down_blocks.${m[1]}.downsamplers.0.conv.${m[2]}` };
  }
  if ((m = /^decoder\.up\.(\d+)\.block\.(\d+)\.(.+)$/.exec(rest)) && inRange(m[1])) {
    return wrap(vaeResnet(m[3], `decoder.up_blocks.${layout.vaeBlocks - 1 - Number(m[1])}.resnets.${m[2]}.`));
  }
  if ((m = /^decoder\.up\.(\d+)\.upsample\.conv\.(weight|bias)$/.exec(rest)) && inRange(m[1])) {
    return { key: `decoder.up_blocks.${layout.vaeBlocks - 1 - Number(m[1])}.upsamplers.0.conv.${m[2]}` };
  }
  if ((m = /^(encoder|decoder)\.mid\.block_([12])\.(.+)$/.exec(rest))) {
    return wrap(vaeResnet(m[3], `${m[1]}.mid_block.resnets.${Number(m[2]) - 1}.`));
  }
  if ((m = /^(encoder|decoder)\.mid\.attn_1\.(norm|q|k|v|proj_out)\.(weight|bias)$/.exec(rest))) {
    return {
      key: `${m[1]}.mid_block.attentions.0.${VAE_ATTN[m[2]]}.${m[3]}`,
      squeeze: m[2] !== 'norm' && m[3] === 'weight',
    };
  }
  return undefined;
}

const CLIP_TAIL = new RegExp(
  '^text_model\\.(?:embeddings\\.(?:token|position)_embedding\\.weight|final_layer_norm\\.(?:weight|bias)' +
    '|encoder\\.layers\\.\\d+\\.(?:layer_norm[12]|self_attn\\.[qkv]_proj|self_attn\\.out_proj|mlp\\.fc[12])\\.(?:weight|bias))$',
);

/** Text encoder key (after `cond_stage_model.transformer.`) → transformers CLIPTextModel key. */
export function clipKey(rest: string): string | undefined {
  // Checkpoints saved with transformers < 4.x lack the `text_model.` level.
  const key = rest.startsWith('text_model.') ? rest : `text_model.${rest}`;
  return CLIP_TAIL.test(key) ? key : undefined;
}

/** An OpenCLIP key as a mapping of `component` (one target, or a q/k/v split). */
function openClipMapping(rest: string, layers: number, component: Sd1Component, projection: boolean): Sd1KeyMapping {
  const m = openClipKey(rest, layers, projection);
  if (m.kind !== 'map') return m;
  const [t, ...more] = m.targets;
  if (more.length || t.part !== undefined) return { kind: 'split', component, parts: m.targets };
  return { kind: 'map', component, key: t.key, transpose: t.transpose };
}

/** SD-XL's text towers; undefined for keys outside `conditioner.` / `cond_stage_model.`. */
function mapSdxlTextKey(
  key: string,
  layout: Sd1Layout & { sdxl: { openClipLayers2: number } },
): Sd1KeyMapping | undefined {
  const p = SDXL_TEXT_PREFIXES;
  if (key.startsWith(p.text_encoder)) {
    const rest = key.slice(p.text_encoder.length);
    if (/^(?:text_model\.)?embeddings\.position_ids$/.test(rest))
      return { kind: 'ignore', reason: 'position_ids buffer (recomputed)' };
    const k = clipKey(rest);
    return k ? { kind: 'map', component: 'text_encoder', key: k } : { kind: 'unknown' };
  }
  if (key.startsWith(p.text_encoder_2))
    return openClipMapping(key.slice(p.text_encoder_2.length), layout.sdxl.openClipLayers2, 'text_encoder_2', true);
  if (key.startsWith('conditioner.embedders.0.model.'))
    return {
      kind: 'unsupported',
      reason: 'SD-XL refiner conditioner (OpenCLIP as embedder 0; only the SD-XL base layout is supported)',
    };
  if (key.startsWith('conditioner.')) return { kind: 'unknown' };
  if (key.startsWith('cond_stage_model.'))
    return { kind: 'unsupported', reason: 'SD-1.x/2.x text encoder keys in an SD-XL checkpoint' };
  return undefined;
}

/** Classifies one single-file checkpoint key. */
export function mapSd1Key(key: string, layout: Sd1Layout): Sd1KeyMapping {
  if (SCHEDULE_BUFFERS.has(key))
    return { kind: 'ignore', reason: 'DDPM schedule buffer (the scheduler config has it)' };
  if (key.startsWith('model_ema.'))
    return { kind: 'ignore', reason: 'EMA copy of the UNet (the non-EMA weights are used)' };
  if (layout.sdxl) {
    const m = mapSdxlTextKey(key, layout as Sd1Layout & { sdxl: { openClipLayers2: number } });
    if (m) return m;
  } else if (layout.openClipLayers !== undefined) {
    if (key.startsWith(OPENCLIP_PREFIX))
      return openClipMapping(key.slice(OPENCLIP_PREFIX.length), layout.openClipLayers, 'text_encoder', false);
    if (key.startsWith(SD1_PREFIXES.text_encoder))
      return { kind: 'unsupported', reason: 'SD-1.x CLIP text encoder keys in an SD-2.x (OpenCLIP) checkpoint' };
  }
  if (key.startsWith(OPENCLIP_PREFIX))
    return { kind: 'unsupported', reason: 'OpenCLIP text encoder (SD-2.x) keys in an SD-1.x checkpoint' };
  if (key.startsWith('conditioner.embedders.'))
    return {
      kind: 'unsupported',
      reason: `SD-XL conditioner keys in an SD-${layout.openClipLayers !== undefined ? '2' : '1'}.x checkpoint`,
    };
  if (key.startsWith(SD1_PREFIXES.unet)) {
    const k = unetKey(key.slice(SD1_PREFIXES.unet.length), layout);
    return k ? { kind: 'map', component: 'unet', key: k } : { kind: 'unknown' };
  }
  if (key.startsWith(SD1_PREFIXES.vae)) {
    if (key.startsWith('first_stage_model.loss.')) return { kind: 'ignore', reason: 'VAE training loss weights' };
    const k = vaeKey(key.slice(SD1_PREFIXES.vae.length), layout);
    return k ? { kind: 'map', component: 'vae', ...k } : { kind: 'unknown' };
  }
  if (key.startsWith(SD1_PREFIXES.text_encoder)) {
    const rest = key.slice(SD1_PREFIXES.text_encoder.length);
    if (/^(?:text_model\.)?embeddings\.position_ids$/.test(rest))
      return { kind: 'ignore', reason: 'position_ids buffer (recomputed)' };
    const k = clipKey(rest);
    return k ? { kind: 'map', component: 'text_encoder', key: k } : { kind: 'unknown' };
  }
  if (key.startsWith('cond_stage_model.')) return { kind: 'unknown' };
  return { kind: 'ignore', reason: 'not part of a Stable Diffusion pipeline' };
}

/** Layout from the diffusers unet and vae configs. */
export function sd1LayoutFromConfigs(unet: Record<string, unknown>, vae: Record<string, unknown>): Sd1Layout {
  const lpb = unet.layers_per_block;
  const down = unet.down_block_types;
  const vaeBlocks = vae.block_out_channels;
  if (typeof lpb !== 'number' || !Array.isArray(down) || !Array.isArray(vaeBlocks)) {
    throw new Error('unet/vae config lacks layers_per_block, down_block_types or block_out_channels');
  }
  return { unetLayersPerBlock: lpb, unetBlocks: down.length, vaeBlocks: vaeBlocks.length };
}
