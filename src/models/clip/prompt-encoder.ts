import * as tf from '@tensorflow/tfjs-core';
import type { ClipTokenizer } from './tokenizer.js';
import type { ClipTextModel } from './text-model.js';
import { setAttentionSlice } from '../../nn/attention.js';

/** Options of one prompt encoding. */
export interface PromptEncodeOptions {
  /** Skip the last n text-encoder layers (diffusers' `clip_skip`; see `ClipTextForwardOptions.clipSkip`). Default 0. */
  clipSkip?: number;
}

/** Prompts → CLIP text embeddings [P, 77, D] (tokenizer padding/truncation, last hidden state). */
export class ClipPromptEncoder {
  constructor(readonly tokenizer: ClipTokenizer, readonly model: ClipTextModel) {}

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
