/** AttentionReplace (word swap): the edited prompts attend to their tokens where the source attended to the swapped ones. */
import * as tf from '@tensorflow/tfjs-core';
import { replacementMappers } from './align.js';
import { AttentionEdit, type AttentionEditOptions } from './edit.js';
import { concatRows } from './rows.js';

/**
 * Official `AttentionReplace`: edited[b, h, p, n] = Σ_w source[h, p, w]·M_b[w, n] with the
 * replacement mapper of prompts[b+1] (same word count as the source; a word may become several
 * tokens). Prompts with different word counts are an error — use AttentionRefine.
 */
export class AttentionReplace extends AttentionEdit {
  /** [edits][T·T] replacement mappers (official `mapper`; T = `tokens`). */
  readonly mappers: Float32Array[];

  constructor(opts: AttentionEditOptions) {
    super(opts);
    this.mappers = replacementMappers(opts.tokenizer, opts.prompts);
  }

  replaceCross(base: tf.Tensor3D, _replace: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [heads, q, k] = base.shape;
      const e = this.mappers.length;
      const t = this.tokens;
      // [T, edits·T]: column block b is mapper b.
      const m = tf.transpose(tf.tensor3d(concatRows(this.mappers), [e, t, t]), [1, 0, 2]);
      const out = tf.matMul(tf.reshape(base, [heads * q, k]), tf.reshape(m, [t, e * t]));
      return tf.transpose(tf.reshape(out, [heads, q, e, t]), [2, 0, 1, 3]) as tf.Tensor4D;
    });
  }
}
