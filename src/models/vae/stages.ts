import type * as tf from '@tensorflow/tfjs-core';

/**
 * Runs `stages` one after another, disposing each intermediate result as soon as the next one
 * exists (never the input `x`). Unlike one enclosing tf.tidy, which frees everything only at the
 * end, this keeps at most two block outputs alive: at 512×512 a decoder activation is 128 MiB.
 */
export function runStages<T extends tf.Tensor>(x: T, stages: readonly ((t: T) => T)[]): T {
  let cur = x;
  for (const stage of stages) {
    const next = stage(cur);
    if (cur !== x && next !== cur) cur.dispose();
    cur = next;
  }
  return cur;
}
