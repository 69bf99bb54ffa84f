/** CLIPTextModel configuration (transformers `CLIPTextConfig`, text_encoder/config.json). */

export interface ClipTextConfig {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  /** Length of the position table (77): the longest token sequence. */
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

const REQUIRED = [
  ['vocab_size', 'vocabSize'],
  ['hidden_size', 'hiddenSize'],
  ['intermediate_size', 'intermediateSize'],
  ['num_hidden_layers', 'numHiddenLayers'],
  ['num_attention_heads', 'numAttentionHeads'],
  ['max_position_embeddings', 'maxPositionEmbeddings'],
] as const;

const ACTIVATIONS = ['quick_gelu', 'gelu'];

/**
 * Reads a text_encoder/config.json object. The sizes are required (an error names each missing
 * or invalid field and `source`); `hidden_act` and `layer_norm_eps` default to transformers'
 * values ("quick_gelu", 1e-5).
 */
export function parseClipTextConfig(json: Readonly<Record<string, unknown>>, source = 'text_encoder/config.json'): ClipTextConfig {
  const problems: string[] = [];
  const ints: Partial<Record<(typeof REQUIRED)[number][1], number>> = {};
  for (const [key, field] of REQUIRED) {
    const v = json[key];
    if (v === undefined) problems.push(`missing required field "${key}"`);
    else if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) problems.push(`"${key}" must be a positive integer, got ${JSON.stringify(v)}`);
    else ints[field] = v;
  }
  const hiddenAct = json.hidden_act ?? 'quick_gelu';
  if (typeof hiddenAct !== 'string' || !ACTIVATIONS.includes(hiddenAct)) {
    problems.push(`"hidden_act" must be one of ${ACTIVATIONS.join(', ')}, got ${JSON.stringify(hiddenAct)}`);
  }
  const eps = json.layer_norm_eps ?? 1e-5;
  if (typeof eps !== 'number' || !(eps > 0)) problems.push(`"layer_norm_eps" must be a positive number, got ${JSON.stringify(eps)}`);
  const eos = json.eos_token_id;
  if (eos !== undefined && eos !== null && (typeof eos !== 'number' || !Number.isInteger(eos))) {
    problems.push(`"eos_token_id" must be an integer, got ${JSON.stringify(eos)}`);
  }
  if (ints.hiddenSize !== undefined && ints.numAttentionHeads !== undefined && ints.hiddenSize % ints.numAttentionHeads !== 0) {
    problems.push(`hidden_size ${ints.hiddenSize} is not divisible by num_attention_heads ${ints.numAttentionHeads}`);
  }
  if (problems.length) throw new Error(`${source}: invalid CLIPTextModel config:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  return {
    vocabSize: ints.vocabSize!,
    hiddenSize: ints.hiddenSize!,
    intermediateSize: ints.intermediateSize!,
    numHiddenLayers: ints.numHiddenLayers!,
    numAttentionHeads: ints.numAttentionHeads!,
    maxPositionEmbeddings: ints.maxPositionEmbeddings!,
    hiddenAct: hiddenAct as string,
    layerNormEps: eps as number,
    eosTokenId: typeof eos === 'number' && eos !== 2 ? eos : undefined,
  };
}
