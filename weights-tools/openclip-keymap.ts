/**
 * Key rules for the OpenCLIP text tower of Stable Diffusion 2.x single-file checkpoints
 * (`cond_stage_model.model.*`) → transformers `CLIPTextModel` keys. Pure functions, no I/O.
 *
 *   token_embedding.weight            → text_model.embeddings.token_embedding.weight
 *   positional_embedding              → text_model.embeddings.position_embedding.weight
 *   transformer.resblocks.N.ln_1/ln_2 → text_model.encoder.layers.N.layer_norm1/2
 *   ….attn.in_proj_weight/bias        → ….self_attn.q/k/v_proj.weight/bias (rows 0:d, d:2d, 2d:3d)
 *   ….attn.out_proj, mlp.c_fc, c_proj → ….self_attn.out_proj, mlp.fc1, mlp.fc2
 *   ln_final                          → text_model.final_layer_norm
 *
 * SD-2 conditions on the penultimate block (ldm `layer: "penultimate"`), so blocks ≥ the text
 * config's num_hidden_layers (ViT-H: block 23 of 24), `text_projection` and `logit_scale` are left out.
 * SD-XL's OpenCLIP ViT-bigG (`conditioner.embedders.1.model.*`) keeps every block and its
 * `text_projection` [width, proj], used as `x @ P`: it becomes `text_projection.weight` = Pᵀ
 * (CLIPTextModelWithProjection's Linear).
 */

/** Prefix of the OpenCLIP text tower in SD-2.x checkpoints. */
export const OPENCLIP_PREFIX = 'cond_stage_model.model.';

/** One destination of an OpenCLIP key: a whole tensor, or rows [start, stop) of a fused one. */
export interface OpenClipTarget {
  key: string;
  /** Part of the fused q/k/v projection: 0 = q, 1 = k, 2 = v (a third of dim 0 each). */
  part?: 0 | 1 | 2;
  /** The 2-D tensor is written transposed (OpenCLIP's text_projection). */
  transpose?: boolean;
}

export type OpenClipMapping =
  { kind: 'map'; targets: OpenClipTarget[] } | { kind: 'ignore'; reason: string } | { kind: 'unknown' };

const LAYER_TAIL: Readonly<Record<string, string>> = {
  'ln_1.weight': 'layer_norm1.weight',
  'ln_1.bias': 'layer_norm1.bias',
  'ln_2.weight': 'layer_norm2.weight',
  'ln_2.bias': 'layer_norm2.bias',
  'attn.out_proj.weight': 'self_attn.out_proj.weight',
  'attn.out_proj.bias': 'self_attn.out_proj.bias',
  'mlp.c_fc.weight': 'mlp.fc1.weight',
  'mlp.c_fc.bias': 'mlp.fc1.bias',
  'mlp.c_proj.weight': 'mlp.fc2.weight',
  'mlp.c_proj.bias': 'mlp.fc2.bias',
};

const TOP: Readonly<Record<string, string>> = {
  'token_embedding.weight': 'text_model.embeddings.token_embedding.weight',
  positional_embedding: 'text_model.embeddings.position_embedding.weight',
  'ln_final.weight': 'text_model.final_layer_norm.weight',
  'ln_final.bias': 'text_model.final_layer_norm.bias',
};

/**
 * Maps a key after the tower's prefix; `numLayers` = the text config's num_hidden_layers (SD-2: 23,
 * SD-XL: 32); `projection` keeps `text_projection` (SD-XL's text_encoder_2).
 */
export function openClipKey(rest: string, numLayers: number, projection = false): OpenClipMapping {
  if (rest in TOP) return { kind: 'map', targets: [{ key: TOP[rest] }] };
  if (rest === 'text_projection') {
    if (projection) return { kind: 'map', targets: [{ key: 'text_projection.weight', transpose: true }] };
    return { kind: 'ignore', reason: 'OpenCLIP text projection (pooled joint embedding, unused by Stable Diffusion)' };
  }
  if (rest === 'logit_scale')
    return { kind: 'ignore', reason: 'OpenCLIP contrastive temperature (unused by Stable Diffusion)' };
  if (rest === 'attn_mask') return { kind: 'ignore', reason: 'OpenCLIP causal mask buffer (recomputed)' };
  const m = /^transformer\.resblocks\.(\d+)\.(.+)$/.exec(rest);
  if (!m) return { kind: 'unknown' };
  const layer = Number(m[1]);
  const tail = m[2];
  const known = tail in LAYER_TAIL || /^attn\.in_proj_(?:weight|bias)$/.test(tail);
  if (!known) return { kind: 'unknown' };
  if (layer >= numLayers) {
    return {
      kind: 'ignore',
      reason: `OpenCLIP text blocks from ${numLayers} on (SD-2 conditions on the penultimate layer; the text encoder has ${numLayers} layers)`,
    };
  }
  const prefix = `text_model.encoder.layers.${layer}.`;
  const inProj = /^attn\.in_proj_(weight|bias)$/.exec(tail);
  if (inProj) {
    const parts = (['q', 'k', 'v'] as const).map((p, i) => ({
      key: `${prefix}self_attn.${p}_proj.${inProj[1]}`,
      part: i as 0 | 1 | 2,
    }));
    return { kind: 'map', targets: parts };
  }
  return { kind: 'map', targets: [{ key: prefix + LAYER_TAIL[tail] }] };
}
