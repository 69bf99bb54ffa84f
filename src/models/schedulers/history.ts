/** A bounded list of tensors a multistep scheduler remembers between steps (it owns them). */
import * as tf from '@tensorflow/tfjs-core';

export class TensorHistory {
  private items: tf.Tensor[] = [];

  /** @param capacity the most recent `capacity` entries are kept; older ones are disposed. */
  constructor(readonly capacity: number) {}

  get length(): number {
    return this.items.length;
  }

  /** Stores a handle of `t` (a clone, so the caller may dispose its own) and drops the oldest beyond capacity. */
  push(t: tf.Tensor): void {
    this.items.push(tf.keep(tf.clone(t)));
    while (this.items.length > this.capacity) this.items.shift()!.dispose();
  }

  /** The entry `back` places from the newest (0 = newest). */
  fromEnd(back: number): tf.Tensor {
    const t = this.items[this.items.length - 1 - back];
    if (!t) throw new Error(`scheduler history: entry ${back} from the end requested, only ${this.items.length} stored`);
    return t;
  }

  /** Disposes every entry. */
  clear(): void {
    for (const t of this.items) t.dispose();
    this.items = [];
  }
}
