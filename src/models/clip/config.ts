/** CLIPTextModel configuration (transformers `CLIPTextConfig`, text_encoder/config.json). */
import { ConfigReader, MAX_CONFIG_LAYERS } from '../../io/config.js';

export interface ClipTextConfig {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  /** Length of the position table (77 for SD): the longest token sequence, and the tokenizer's `model_max_length`. */
  maxPositionEmbeddings: number;
  /** MLP activation: "quick_gelu" (CLIP ViT-L/14, SD-1) or "gelu" (OpenCLIP, SD-2). */
  hiddenAct: string;
  layerNormEps: number;
  /**
   * Token whose position gives the pooled output. transformers' legacy configs (SD-1: 2) pool at
   * argmax(input_ids) instead, which is the `<|endoftext|>` position; undefined means the same.
   */
  eosTokenId?: number;
}

const ACTIVATIONS = ['quick_gelu', 'gelu'];

/** transformers fields without effect here (not warned about). */
const NO_EFFECT = [
  'architectures', 'attention_dropout', 'bos_token_id', 'dropout', 'initializer_factor', 'initializer_range', 'model_type',
  'pad_token_id', 'projection_dim', 'torch_dtype', 'transformers_version',
];

/**
 * Reads a text_encoder/config.json object. The sizes are required; every problem (missing fields
 * listed together) is reported in one error naming `source`, unknown fields are warned about.
 * `hidden_act` and `layer_norm_eps` default to transformers' values ("quick_gelu", 1e-5).
 */
export function parseClipTextConfig(json: unknown, source = 'text_encoder/config.json'): ClipTextConfig {
  const r = new ConfigReader(json, source);
  const config: ClipTextConfig = {
    vocabSize: r.int('vocab_size', undefined, 1),
    hiddenSize: r.int('hidden_size', undefined, 1),
    intermediateSize: r.int('intermediate_size', undefined, 1),
    numHiddenLayers: r.int('num_hidden_layers', undefined, 1, MAX_CONFIG_LAYERS),
    numAttentionHeads: r.int('num_attention_heads', undefined, 1),
    maxPositionEmbeddings: r.int('max_position_embeddings', undefined, 1),
    hiddenAct: r.oneOf('hidden_act', 'quick_gelu', ACTIVATIONS),
    layerNormEps: r.num('layer_norm_eps', 1e-5),
    eosTokenId: undefined,
  };
  if (!(config.layerNormEps > 0)) r.fail('layer_norm_eps', `must be a positive number, got ${config.layerNormEps}`);
  const eos = r.has('eos_token_id') ? r.int('eos_token_id', undefined, -(2 ** 31)) : undefined;
  // transformers' legacy configs (eos_token_id 2) pool at argmax(input_ids).
  if (eos !== undefined && eos !== 2 && Number.isInteger(eos)) config.eosTokenId = eos;
  const { hiddenSize: d, numAttentionHeads: h } = config;
  if (d > 0 && h > 0 && d % h !== 0) r.problem(`hidden_size ${d} is not divisible by num_attention_heads ${h}`);
  r.done(NO_EFFECT);
  return config;
}
