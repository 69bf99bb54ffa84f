/** AttentionRefine (words added or removed): aligned tokens take the source's attention, new tokens keep their own. */
import * as tf from '@tensorflow/tfjs-core';
import { refinementMappers, type RefinementMap } from './align.js';
import { AttentionEdit, type AttentionEditOptions } from './edit.js';
import { concatRows } from './rows.js';

/**
 * Official `AttentionRefine`: edited[b, h, p, j] = source[h, p, mapper_b[j]]·α_b[j] +
 * replace[b, h, p, j]·(1 − α_b[j]) with the refinement mapper (global token alignment) of prompts[b+1].
 */
export class AttentionRefine extends AttentionEdit {
  /** Per edited prompt: mapper and alphas (official `mapper`, `alphas`). */
  readonly maps: RefinementMap[];

  constructor(opts: AttentionEditOptions) {
    super(opts);
    this.maps = refinementMappers(opts.tokenizer, opts.prompts);
  }

  replaceCross(base: tf.Tensor3D, replace: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const e = this.maps.length;
      // torch indexing: mapper −1 (inserted token, alpha 0) reads the last token.
      const gathered = this.maps.map((m) =>
        tf.gather(
          base,
          tf.tensor1d(
            Array.from(m.mapper, (i) => (i < 0 ? this.tokens + i : i)),
            'int32',
          ),
          2,
        ),
      );
      const src = tf.stack(gathered, 0);
      const alphas = tf.tensor(concatRows(this.maps.map((m) => m.alphas)), [e, 1, 1, this.tokens]);
      return tf.add(tf.mul(src, alphas), tf.mul(replace, tf.sub(1, alphas))) as tf.Tensor4D;
    });
  }
}
