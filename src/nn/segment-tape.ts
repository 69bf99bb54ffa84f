/**
 * Gradients by per-segment recomputation (gradient checkpointing) for models too large to keep a
 * whole forward pass on tfjs's tape, e.g. the SD-1.5 UNet on the 4 GiB wasm heap, whose streamed
 * weights a tape would hold all at once.
 *
 * The forward runs segment by segment (`run`) with no tape: only each segment's inputs are kept.
 * `backward` then walks the segments in reverse, recomputes each one under tfjs autograd and
 * takes its vector-Jacobian product with the gradients of its outputs, so at most one segment's
 * activations and weights are alive at a time. Only segments that depend on a `watch`ed tensor
 * are recorded (and recomputed). Every operation from the watched tensors to the output must run
 * inside a segment: an op between segments would cut the gradient.
 */
import * as tf from '@tensorflow/tfjs-core';

/** A segment's computation from its inputs (same order as given to `run`). */
export type SegmentFn = (inputs: tf.Tensor[]) => tf.Tensor | tf.Tensor[];

interface Segment {
  fn: SegmentFn;
  inputIds: number[];
  /** Kept copies of the inputs, for the recomputation. */
  saved: tf.Tensor[];
  /** Which inputs depend on a watched tensor (their gradients are computed). */
  differentiable: boolean[];
  outputIds: number[];
}

export class SegmentTape {
  private readonly segments: Segment[] = [];
  /** Ids of the watched tensors and of every segment output that depends on them. */
  private readonly tracked = new Set<number>();
  private disposed = false;

  /** Marks a tensor whose gradient `backward` will return. */
  watch(x: tf.Tensor): void {
    this.tracked.add(x.id);
  }

  /** Whether a tensor is watched or computed (by segments) from a watched one. */
  isTracked(x: tf.Tensor): boolean {
    return this.tracked.has(x.id);
  }

  /** Number of recorded segments. */
  get size(): number {
    return this.segments.length;
  }

  /**
   * Runs `fn(inputs)` (in the caller's tidy scope; not recorded by tfjs) and, when an input
   * depends on a watched tensor, records the segment for `backward`. `fn` must be a pure
   * function of `inputs` and of constants that do not depend on watched tensors.
   */
  run<T extends tf.Tensor | tf.Tensor[]>(inputs: tf.Tensor[], fn: (inputs: tf.Tensor[]) => T): T {
    if (this.disposed) throw new Error('SegmentTape: used after dispose');
    const out = fn(inputs);
    const differentiable = inputs.map((x) => this.tracked.has(x.id));
    if (differentiable.some(Boolean)) {
      const outs = Array.isArray(out) ? out : [out];
      for (const o of outs) this.tracked.add(o.id);
      this.segments.push({
        fn,
        inputIds: inputs.map((x) => x.id),
        saved: inputs.map((x) => tf.keep(tf.clone(x))),
        differentiable,
        outputIds: outs.map((o) => o.id),
      });
    }
    return out;
  }

  /**
   * Gradients of ⟨y, dy⟩ with respect to `sources` (watched tensors), recomputing the segments in
   * reverse order. `y` must be the output of the last segment run on this tape (or any segment's
   * output). A source that `y` does not depend on gets zeros. The caller owns the results.
   */
  backward(y: tf.Tensor, dy: tf.Tensor, sources: readonly tf.Tensor[]): tf.Tensor[] {
    if (this.disposed) throw new Error('SegmentTape: used after dispose');
    if (!this.tracked.has(y.id))
      throw new Error('SegmentTape.backward: the output does not depend on a watched tensor through recorded segments');
    for (const s of sources)
      if (!this.tracked.has(s.id)) throw new Error('SegmentTape.backward: a source is not watched');
    const grads = new Map<number, tf.Tensor>([[y.id, tf.keep(tf.clone(dy))]]);
    const accumulate = (id: number, g: tf.Tensor) => {
      const prev = grads.get(id);
      if (!prev) {
        grads.set(id, g);
        return;
      }
      grads.set(id, tf.keep(tf.add(prev, g)));
      tf.dispose([prev, g]);
    };
    try {
      for (let k = this.segments.length - 1; k >= 0; k--) {
        const seg = this.segments[k];
        const dys = seg.outputIds.map((id) => grads.get(id));
        seg.outputIds.forEach((id) => grads.delete(id));
        if (dys.every((d) => d === undefined)) continue;
        const which = seg.differentiable.flatMap((d, i) => (d ? [i] : []));
        let inputGrads: (tf.Tensor | undefined)[] = [];
        tf.tidy(() => {
          const xs = which.map((i) => seg.saved[i]);
          const single = dys.length === 1;
          const f = () => {
            const out = seg.fn(seg.saved);
            const outs = Array.isArray(out) ? out : [out];
            if (outs.length !== dys.length)
              throw new Error(
                `SegmentTape: a segment returned ${outs.length} outputs on recomputation, ${dys.length} before`,
              );
            if (single) return outs[0];
            // ⟨outputs, dys⟩: its gradient is the vector-Jacobian product (outputs without a gradient left out).
            return tf.addN(outs.flatMap((o, i) => (dys[i] ? [tf.sum(tf.mul(o, dys[i]!))] : [])));
          };
          const { value, grads: g } = tf.engine().gradients(f, xs, single ? dys[0] : undefined, true);
          value.dispose();
          inputGrads = g.map((t) => (t ? tf.keep(t) : undefined));
        });
        tf.dispose(dys.filter((d): d is tf.Tensor => d !== undefined));
        which.forEach((i, j) => {
          const g = inputGrads[j];
          if (g) accumulate(seg.inputIds[i], g);
        });
      }
      return sources.map((s) => {
        const g = grads.get(s.id);
        grads.delete(s.id);
        return g ? tf.keep(g) : tf.zerosLike(s);
      });
    } finally {
      tf.dispose([...grads.values()]);
    }
  }

  /** Frees the kept segment inputs. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const s of this.segments) tf.dispose(s.saved);
    this.segments.length = 0;
  }
}
