import * as tf from '@tensorflow/tfjs-core';
import { DEFAULT_MODEL_MAX_LENGTH, type ClipTokenizer } from './tokenizer.js';
import type { ClipTextModel } from './text-model.js';
import { setAttentionSlice } from '../../nn/attention.js';

/** Options of one prompt encoding. */
export interface PromptEncodeOptions {
  /** Skip the last n text-encoder layers (diffusers' `clip_skip`; see `ClipTextForwardOptions.clipSkip`). Default 0. */
  clipSkip?: number;
}

/** Where the two lengths of `checkContextLength` come from, for its error message. */
export interface ContextLengthSources {
  /** E.g. "model/tokenizer/tokenizer_config.json". */
  tokenizer: string;
  /** E.g. "model/text_encoder/config.json". */
  textEncoder: string;
}

/**
 * Throws a one-line error naming both sources unless the tokenizer's `model_max_length` equals the
 * text encoder's `max_position_embeddings`: prompts are padded to the former, and the UNet's
 * cross-attention and every Prompt-to-Prompt controller work on that many tokens.
 */
export function checkContextLength(modelMaxLength: number, maxPositionEmbeddings: number, where: ContextLengthSources = { tokenizer: 'the tokenizer', textEncoder: 'the text encoder' }): void {
  if (modelMaxLength === maxPositionEmbeddings) return;
  throw new Error(
    `${where.tokenizer}: model_max_length ${modelMaxLength} does not match max_position_embeddings ${maxPositionEmbeddings} of ${where.textEncoder} ` +
      `(a tokenizer_config.json without model_max_length means ${DEFAULT_MODEL_MAX_LENGTH})`,
  );
}

/** Prompts → CLIP text embeddings [P, T, D], T = `tokenizer.modelMaxLength` (padding/truncation, last hidden state). */
export class ClipPromptEncoder {
  /** Checks that the tokenizer's length is the text encoder's (`checkContextLength`, errors naming `where`). */
  constructor(readonly tokenizer: ClipTokenizer, readonly model: ClipTextModel, where?: ContextLengthSources) {
    checkContextLength(tokenizer.modelMaxLength, model.config.maxPositionEmbeddings, where);
  }

  /** Tokens per prompt embedding (the tokenizer's `modelMaxLength`). */
  get contextLength(): number {
    return this.tokenizer.modelMaxLength;
  }

  encode(prompts: readonly string[], opts: PromptEncodeOptions = {}): tf.Tensor3D {
    if (opts.clipSkip) this.model.checkClipSkip(opts.clipSkip);
    const { inputIds } = this.tokenizer.call(prompts);
    const out = this.model.forward(inputIds, { clipSkip: opts.clipSkip });
    out.poolerOutput.dispose();
    return out.lastHiddenState;
  }

  /** Queries per attention chunk of the text encoder (undefined = automatic). */
  setAttentionSlice(n: number | undefined): void {
    setAttentionSlice(this.model, n);
  }

  dispose(): void {
    this.model.dispose();
  }
}
