/**
 * SD-XL's prompt encoding (diffusers 0.25 `StableDiffusionXLPipeline.encode_prompt`): the prompt
 * goes through both tokenizers and text encoders; the embeddings are the two encoders'
 * penultimate hidden states (hidden_states[−2], *without* the final LayerNorm) concatenated on the
 * channel axis (text_encoder first), and the pooled embedding is text_encoder_2's projected pooled
 * output (`text_embeds`, taken at the first end-of-text token). Clip skip n takes hidden_states[−(n+2)]
 * of both encoders; the pooled embedding always comes from the whole second encoder.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ClipTokenizer } from './tokenizer.js';
import type { ClipTextModel, ClipTextModelWithProjection } from './text-model.js';
import { checkContextLength, type ContextLengthSources, type PromptEncodeOptions } from './prompt-encoder.js';
import { setAttentionSlice } from '../../nn/attention.js';

/** Prompt embeddings with the pooled embedding of each prompt. */
export interface PooledPromptEmbeddings {
  /** [P, tokens, D₁ + D₂] (SD-XL base: 768 + 1280 = 2048). */
  embeds: tf.Tensor3D;
  /** [P, projection_dim] (SD-XL base: 1280). */
  pooled: tf.Tensor2D;
}

/** Two CLIP tokenizers and text encoders as one prompt encoder (SD-XL). */
export class DualClipPromptEncoder {
  /** Checks the context lengths (`checkContextLengths`; errors naming `where`). */
  constructor(
    /** The first tokenizer (pads with `<|endoftext|>`); Prompt-to-Prompt locates words with it. */
    readonly tokenizer: ClipTokenizer,
    readonly model: ClipTextModel,
    /** The second tokenizer (SD-XL: pads with `!`, id 0). */
    readonly tokenizer2: ClipTokenizer,
    readonly model2: ClipTextModelWithProjection,
    where?: readonly [ContextLengthSources, ContextLengthSources],
  ) {
    DualClipPromptEncoder.checkContextLengths(tokenizer, model, tokenizer2, model2, where);
  }

  /**
   * Throws a one-line error unless each tokenizer's `model_max_length` is its text encoder's
   * `max_position_embeddings` (`checkContextLength`) and both tokenizers give the same length (the
   * two encoders' states are concatenated token by token).
   */
  static checkContextLengths(
    tokenizer: ClipTokenizer, model: ClipTextModel, tokenizer2: ClipTokenizer, model2: ClipTextModelWithProjection,
    where: readonly [ContextLengthSources, ContextLengthSources] = [
      { tokenizer: 'the tokenizer', textEncoder: 'the text encoder' },
      { tokenizer: 'the second tokenizer', textEncoder: 'the second text encoder' },
    ],
  ): void {
    checkContextLength(tokenizer.modelMaxLength, model.config.maxPositionEmbeddings, where[0]);
    checkContextLength(tokenizer2.modelMaxLength, model2.config.maxPositionEmbeddings, where[1]);
    if (tokenizer.modelMaxLength !== tokenizer2.modelMaxLength) {
      throw new Error(`${where[1].tokenizer}: model_max_length ${tokenizer2.modelMaxLength} differs from ${tokenizer.modelMaxLength} of ${where[0].tokenizer} (the two encoders' states are concatenated per token)`);
    }
  }

  /** Tokens per prompt embedding (both tokenizers' `modelMaxLength`). */
  get contextLength(): number {
    return this.tokenizer.modelMaxLength;
  }

  /** Throws unless clip skip `n` leaves a hidden state in both encoders (0 ≤ n < layers of each). */
  checkClipSkip(n: number): void {
    this.model.checkClipSkip(n);
    this.model2.checkClipSkip(n);
  }

  /** The concatenated penultimate-layer embeddings [P, T, D₁ + D₂] (the pooled output is dropped). */
  encode(prompts: readonly string[], opts: PromptEncodeOptions = {}): tf.Tensor3D {
    const { embeds, pooled } = this.encodePooled(prompts, opts);
    pooled.dispose();
    return embeds;
  }

  /** Embeddings and pooled embeddings of the prompts (the caller disposes both). */
  encodePooled(prompts: readonly string[], opts: PromptEncodeOptions = {}): PooledPromptEmbeddings {
    const skip = opts.clipSkip ?? 0;
    this.checkClipSkip(skip);
    const ids1 = this.tokenizer.call(prompts).inputIds;
    // The second tokenizer cuts the same prompts: only the first reports truncation.
    const ids2 = this.tokenizer2.call(prompts, { onTruncate: () => {} }).inputIds;
    const out1 = this.model.forward(ids1, { outputHiddenStates: true });
    const out2 = this.model2.forward(ids2, { outputHiddenStates: true });
    const pick = (states: tf.Tensor3D[]) => states[states.length - 2 - skip];
    const embeds = tf.concat([pick(out1.hiddenStates!), pick(out2.hiddenStates!)], 2);
    tf.dispose([out1.lastHiddenState, out1.poolerOutput, ...out1.hiddenStates!, out2.lastHiddenState, out2.poolerOutput, ...out2.hiddenStates!]);
    return { embeds, pooled: out2.textEmbeds };
  }

  /** Queries per attention chunk of both text encoders (undefined = automatic). */
  setAttentionSlice(n: number | undefined): void {
    setAttentionSlice(this.model, n);
    setAttentionSlice(this.model2, n);
  }

  dispose(): void {
    this.model.dispose();
    this.model2.dispose();
  }
}
