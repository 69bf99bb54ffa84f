/**
 * A compact vocabulary for training a text encoder on a small language: only the token ids that
 * occur get embedding rows while training (the full CLIP table would put 49408 rows through
 * the optimiser every step), and the trained rows are scattered back into a full-size table for
 * the shipped model, the other rows keeping their initial values.
 */
export class CompactVocab {
  private readonly index = new Map<number, number>();

  /** `ids`: every token id the training texts can produce (BOS, EOS/padding included). */
  constructor(ids: Iterable<number>) {
    for (const id of [...new Set(ids)].sort((a, b) => a - b)) this.index.set(id, this.index.size);
  }

  get size(): number {
    return this.index.size;
  }

  /** Full-vocabulary ids in compact order. */
  get ids(): number[] {
    return [...this.index.keys()];
  }

  /** Full ids → compact ids (an id outside the vocabulary is an error naming it). */
  map(rows: readonly (readonly number[])[]): number[][] {
    return rows.map((r) =>
      r.map((id) => {
        const c = this.index.get(id);
        if (c === undefined) throw new Error(`token id ${id} is not in the training vocabulary (${this.size} ids)`);
        return c;
      }),
    );
  }

  /** Writes the compact table [size, d] into rows of a full table [V, d] (in place; returns it). */
  scatter(compact: Float32Array, full: Float32Array, d: number): Float32Array {
    if (compact.length !== this.size * d)
      throw new Error(`compact embedding has ${compact.length} values, expected ${this.size}×${d}`);
    for (const [id, c] of this.index) full.set(compact.subarray(c * d, (c + 1) * d), id * d);
    return full;
  }

  /** Reads the rows of the vocabulary out of a full table [V, d]. */
  gather(full: Float32Array, d: number): Float32Array {
    const out = new Float32Array(this.size * d);
    for (const [id, c] of this.index) out.set(full.subarray(id * d, (id + 1) * d), c * d);
    return out;
  }
}
