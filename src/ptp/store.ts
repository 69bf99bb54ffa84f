/**
 * AttentionStore: collects attention maps per place (down/mid/up) and kind (cross/self) over the
 * denoising steps, as the official `AttentionStore` — a running SUM over steps, averaged on read.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { AttentionContext, AttentionController, Place } from '../nn/attention-control.js';
import { condRange, replaceItems, sliceItems } from './batch.js';
import { DEFAULT_LATENT, storeMaxQueries, type MapSize } from './resolution.js';

export type StoreKey = `${Place}_${'cross' | 'self'}`;

/** Every key in the official order. */
export const STORE_KEYS: readonly StoreKey[] = [
  'down_cross',
  'mid_cross',
  'up_cross',
  'down_self',
  'mid_self',
  'up_self',
];

export function storeKey(place: Place, isCross: boolean): StoreKey {
  return `${place}_${isCross ? 'cross' : 'self'}`;
}

/** One layer's map: the conditional prompts' probabilities with where they came from. */
export interface StoredMap {
  /** [prompts·heads, queries, keys] (row = prompt·heads + head). */
  readonly probs: tf.Tensor3D;
  readonly place: Place;
  readonly isCross: boolean;
  readonly height: number;
  readonly width: number;
  readonly heads: number;
  readonly name: string;
}

export interface AttentionStoreOptions {
  /**
   * Number of prompts. The layers' batch is then 2·numPrompts ([uncond..., cond...], only the
   * conditional half is read) or numPrompts (no guidance). Omitted: a CFG batch is assumed.
   */
  numPrompts?: number;
  /** Latent size for the resolution limits (see resolution.ts); default: from layer 0 of each call. */
  latentSize?: MapSize;
  /**
   * Which maps to keep: 'all' (default, official) or 'cross' (cross-attention only). The self-attention
   * maps are the large ones — SD-XL at 1024×1024 has 10 heads × 4096² per 64×64 layer — and
   * cross-attention views and LocalBlend need none of them.
   */
  kinds?: 'all' | 'cross';
}

/**
 * Stores every attention map with queries ≤ latent/2 (official: ≤ 32² at 512×512; the 64×64 layers
 * are never stored). `wantsProbs` is true exactly for those layers.
 *
 * Step bookkeeping: maps of the current step are collected apart and added into the running sum
 * when the step ends — at `onStepEnd` (the pipeline calls it after the scheduler step, like the
 * official `between_steps` that runs after the last layer), when a layer of another step arrives, or
 * when the store is read. `steps` counts ended steps (the official `cur_step`) and averages divide by it.
 */
export class AttentionStore implements AttentionController {
  readonly numPrompts?: number;
  readonly kinds: 'all' | 'cross';
  protected readonly fixedLatent?: MapSize;
  protected seenLatent?: MapSize;
  private current = new Map<StoreKey, StoredMap[]>();
  private sums = new Map<StoreKey, StoredMap[]>();
  private openStep: number | null = null;
  private completed = 0;

  constructor(opts: AttentionStoreOptions = {}) {
    if (opts.numPrompts !== undefined && !(Number.isInteger(opts.numPrompts) && opts.numPrompts >= 1)) {
      throw new Error(`numPrompts must be a positive integer, got ${opts.numPrompts}`);
    }
    this.numPrompts = opts.numPrompts;
    this.fixedLatent = opts.latentSize;
    this.kinds = opts.kinds ?? 'all';
  }

  /** Number of ended steps (official `cur_step` between UNet calls). */
  get steps(): number {
    return this.completed;
  }

  /** Latent size used for the resolution limits. */
  get latentSize(): MapSize {
    return this.fixedLatent ?? this.seenLatent ?? DEFAULT_LATENT;
  }

  wantsProbs(ctx: AttentionContext): boolean {
    this.observe(ctx);
    return this.keepsMap(ctx);
  }

  onAttention(probs: tf.Tensor3D, ctx: AttentionContext): tf.Tensor3D {
    return tf.tidy(() => {
      this.observe(ctx);
      const step = this.beginStep(ctx);
      const range = condRange(ctx, this.numPrompts);
      const cond = sliceItems(probs, ctx.heads, range);
      const edited = this.editConditional(cond, ctx, step);
      if (this.keepsMap(ctx)) this.record(edited, ctx);
      return edited === cond ? probs : replaceItems(probs, edited, ctx.heads, range);
    });
  }

  /**
   * Ends the step (adds its maps into the running sum). Returns the latents to continue with: the
   * same tensor here; edits with LocalBlend return a new tensor (the caller owns both).
   */
  onStepEnd(latents: tf.Tensor4D, _step: number): tf.Tensor4D {
    this.endStep(true);
    return latents;
  }

  /** Frees every stored map and restarts the step count (`numSteps`, given by the sampler, is not needed here). */
  reset(_numSteps?: number): void {
    for (const m of [this.current, this.sums]) {
      for (const list of m.values()) tf.dispose(list.map((e) => e.probs));
      m.clear();
    }
    this.openStep = null;
    this.completed = 0;
    this.seenLatent = undefined;
  }

  dispose(): void {
    this.reset();
  }

  /**
   * Edits the conditional prompts' probabilities [prompts·heads, q, k] of a layer; the store
   * returns them unchanged. What this returns is what gets stored (the official store keeps the
   * maps its subclasses then edit in place, i.e. the post-edit maps).
   */
  protected editConditional(cond: tf.Tensor3D, _ctx: AttentionContext, _step: number): tf.Tensor3D {
    return cond;
  }

  /** Whether this layer's map is stored. */
  protected keepsMap(ctx: AttentionContext): boolean {
    return ctx.queries <= storeMaxQueries(this.latentSize) && (this.kinds === 'all' || ctx.isCross);
  }

  /** The denoising step of a call: ctx.step, or the count of ended steps outside a sampling loop. */
  protected stepOf(ctx: AttentionContext): number {
    return ctx.step >= 0 ? ctx.step : this.completed;
  }

  /** Layer 0 of a UNet call is at latent resolution (SD 1.x down_blocks.0). */
  protected observe(ctx: AttentionContext): void {
    if (!this.fixedLatent) this.seenLatent = { height: ctx.latent.height, width: ctx.latent.width };
  }

  private beginStep(ctx: AttentionContext): number {
    const step = this.stepOf(ctx);
    if (this.openStep !== null && this.openStep !== step) this.endStep(false);
    this.openStep = step;
    return step;
  }

  private record(probs: tf.Tensor3D, ctx: AttentionContext): void {
    const key = storeKey(ctx.place, ctx.isCross);
    const list = this.current.get(key) ?? [];
    list.push({
      probs: tf.keep(tf.clone(probs)),
      place: ctx.place,
      isCross: ctx.isCross,
      height: ctx.height,
      width: ctx.width,
      heads: ctx.heads,
      name: ctx.name,
    });
    this.current.set(key, list);
  }

  /** Adds the current step's maps into the running sum (official `between_steps`). */
  protected endStep(force: boolean): void {
    if (this.openStep === null && !force) return;
    if (this.sums.size === 0) {
      this.sums = this.current;
    } else {
      for (const [key, list] of this.current) {
        const sum = this.sums.get(key) ?? [];
        if (sum.length !== list.length || sum.some((s, i) => s.probs.shape.join() !== list[i].probs.shape.join())) {
          const shapes = (l: StoredMap[]) => l.map((e) => `[${e.probs.shape}]`).join(' ');
          throw new Error(
            `AttentionStore: ${key} maps changed between steps (stored ${shapes(sum)}, now ${shapes(list)}); call reset() before a new run`,
          );
        }
      }
      for (const [key, list] of this.current) {
        const sum = this.sums.get(key)!;
        this.sums.set(
          key,
          sum.map((s, i) => {
            const added = tf.keep(tf.tidy(() => tf.add(s.probs, list[i].probs)));
            s.probs.dispose();
            list[i].probs.dispose();
            return { ...s, probs: added as tf.Tensor3D };
          }),
        );
      }
    }
    this.current = new Map();
    this.openStep = null;
    this.completed++;
  }

  /** Ends a pending step before reading (the maps of a finished UNet call count as a step). */
  private settle(): void {
    if (this.openStep !== null) this.endStep(false);
  }

  /** Running sums over the ended steps for one key (owned by the store; do not dispose). */
  summedMaps(key: StoreKey): readonly StoredMap[] {
    this.settle();
    return this.sums.get(key) ?? [];
  }

  /** Shapes of the stored maps per key, in forward order. */
  storedShapes(): Record<StoreKey, number[][]> {
    this.settle();
    const out = {} as Record<StoreKey, number[][]>;
    for (const key of STORE_KEYS) out[key] = (this.sums.get(key) ?? []).map((e) => [...e.probs.shape]);
    return out;
  }

  /** Averages over the ended steps (official `get_average_attention`); the caller disposes the tensors. */
  averageAttention(): Map<StoreKey, StoredMap[]> {
    this.settle();
    this.requireSteps();
    const out = new Map<StoreKey, StoredMap[]>();
    for (const [key, list] of this.sums) {
      out.set(
        key,
        list.map((e) => ({ ...e, probs: tf.tidy(() => tf.div(e.probs, this.completed)) as tf.Tensor3D })),
      );
    }
    return out;
  }

  /**
   * Official `aggregate_attention(store, res, from_where, is_cross, select)`: every averaged map of
   * size `res` from the given places, the heads of prompt `promptIndex`, averaged over heads and
   * layers → [height, width, keys]. The caller disposes the result.
   */
  aggregateAttention(
    res: number | MapSize,
    from: readonly Place[],
    isCross: boolean,
    promptIndex: number,
  ): tf.Tensor3D {
    this.settle();
    this.requireSteps();
    const size = typeof res === 'number' ? { height: res, width: res } : res;
    return tf.tidy(() => {
      const parts: tf.Tensor[] = [];
      let prompts = -1;
      for (const place of from) {
        for (const e of this.sums.get(storeKey(place, isCross)) ?? []) {
          if (e.height !== size.height || e.width !== size.width) continue;
          const [rows, , k] = e.probs.shape;
          prompts = rows / e.heads;
          if (!(promptIndex >= 0 && promptIndex < prompts))
            throw new Error(`aggregateAttention: prompt ${promptIndex} out of range (${prompts} prompts)`);
          const avg = tf.div(e.probs, this.completed);
          const five = tf.reshape(avg, [prompts, e.heads, size.height, size.width, k]);
          parts.push(
            tf.reshape(tf.slice(five, [promptIndex, 0, 0, 0, 0], [1, e.heads, size.height, size.width, k]), [
              e.heads,
              size.height,
              size.width,
              k,
            ]),
          );
        }
      }
      if (parts.length === 0) {
        throw new Error(
          `aggregateAttention: no stored ${isCross ? 'cross' : 'self'}-attention maps of ${size.height}×${size.width} in ${from.join(', ')}`,
        );
      }
      const all = tf.concat(parts, 0);
      return tf.div(tf.sum(all, 0), all.shape[0]) as tf.Tensor3D;
    });
  }

  private requireSteps(): void {
    if (this.completed === 0) throw new Error('AttentionStore: no denoising step has ended yet; nothing to average');
  }
}
