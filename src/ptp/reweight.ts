/** AttentionReweight: scale the attention to chosen tokens (paper §3.2 "attention re-weighting"). */
import * as tf from '@tensorflow/tfjs-core';
import { AttentionEdit, type AttentionEditOptions } from './edit.js';
import { concatRows } from './rows.js';

export interface ReweightOptions extends AttentionEditOptions {
  /** Token factors [T] (T: the tokenizer's `modelMaxLength`) for every edited prompt, or one row per edited prompt (see getEqualizer). */
  equalizer: Float32Array | readonly Float32Array[];
  /**
   * An edit whose cross-attention replacement runs first (official `controller=`), e.g. Refine to
   * reweight a word added by the edit. Only its `replaceCross` is used; the schedules are this one's.
   */
  prev?: AttentionEdit;
}

/**
 * Official `AttentionReweight`: edited = (prev ? prev.replaceCross(source, replace) : source)·equalizer,
 * blended by the cross-attention schedule like the other edits. The result is not renormalised
 * (as in the official code), so factors may be negative.
 */
export class AttentionReweight extends AttentionEdit {
  /** [rows][T], rows = 1 or edits. */
  readonly equalizer: Float32Array[];
  readonly prev?: AttentionEdit;

  constructor(opts: ReweightOptions) {
    super(opts);
    const rows = opts.equalizer instanceof Float32Array ? [opts.equalizer] : [...opts.equalizer];
    if (rows.length !== 1 && rows.length !== this.edits) {
      throw new Error(
        `AttentionReweight: equalizer has ${rows.length} rows; give 1 or one per edited prompt (${this.edits})`,
      );
    }
    rows.forEach((r, i) => {
      if (r.length !== this.tokens)
        throw new Error(
          `AttentionReweight: equalizer row ${i} has ${r.length} values, expected ${this.tokens} (one per text token)`,
        );
    });
    if (opts.prev) {
      const p = opts.prev.prompts;
      if (p.length !== opts.prompts.length || p.some((x, i) => x !== opts.prompts[i])) {
        throw new Error(
          `AttentionReweight: prev controller was built for prompts ${JSON.stringify(p)}, this one for ${JSON.stringify(opts.prompts)}`,
        );
      }
      if (opts.prev.tokens !== this.tokens)
        throw new Error(
          `AttentionReweight: prev controller works on ${opts.prev.tokens} text tokens, this one on ${this.tokens}`,
        );
    }
    this.equalizer = rows;
    this.prev = opts.prev;
  }

  replaceCross(base: tf.Tensor3D, replace: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const src = this.prev ? this.prev.replaceCross(base, replace) : tf.expandDims(base, 0);
      const eq = tf.tensor(concatRows(this.equalizer), [this.equalizer.length, 1, 1, this.tokens]);
      return tf.broadcastTo(tf.mul(src, eq), replace.shape) as tf.Tensor4D;
    });
  }
}
