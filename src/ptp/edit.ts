/**
 * The edit base shared by Replace, Refine and Reweight (official `AttentionControlEdit`): prompt 0
 * is the source, prompts 1.. are edited; on the conditional half of the CFG batch, the edited
 * prompts' cross-attention is replaced by (a function of) the source's during the steps given by
 * `crossReplaceSteps`, and their self-attention by the source's during `selfReplaceSteps` on the
 * layers of resolution ≤ latent/4 (16×16 at 512×512, see resolution.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { AttentionContext } from '../nn/attention-control.js';
import type { LocalBlend } from './local-blend.js';
import { selfReplaceMaxKeys, type MapSize } from './resolution.js';
import {
  selfReplaceWindow,
  timeWordAlpha,
  type CrossReplaceSteps,
  type StepBounds,
  type TimeWordAlpha,
} from './schedule.js';
import { AttentionStore } from './store.js';
import type { PromptTokenizer } from '../models/clip/tokenizer.js';

export interface AttentionEditOptions {
  /** Source prompt first, then the edited prompts (at least one). */
  prompts: readonly string[];
  tokenizer: PromptTokenizer;
  /**
   * Number of denoising steps of the run (the schedules are fractions of it). Optional: the
   * sampler tells the controller the step count of each run (`reset(numSteps)`).
   */
  numSteps?: number;
  /** Cross-attention replacement: fraction, [start, end], or per word `{ default_: 1, dog: 0.2 }`. */
  crossReplaceSteps: CrossReplaceSteps;
  /** Self-attention replacement: fraction or [start, end]. */
  selfReplaceSteps: StepBounds;
  /** Keeps unedited regions of the edited images equal to the source's (applied in onStepEnd). */
  localBlend?: LocalBlend;
  /**
   * Store the (post-edit) maps ≤ latent/2 for aggregateAttention, as the official controllers do
   * (default true); 'cross' stores only the cross-attention ones (no self-attention maps: what
   * cross-attention views need, far less memory at SD-XL sizes). false stores only what LocalBlend
   * reads, so more layers take the fast path.
   */
  storeMaps?: boolean | 'cross';
  /** Latent size for the resolution limits; default: from layer 0 of each UNet call. */
  latentSize?: MapSize;
}

/**
 * Layers asked for (`wantsProbs`): cross-attention at every resolution in steps where some token's
 * schedule is on (rows of zeros leave the maps unchanged), self-attention of ≤ latent/4 keys in the
 * self-replace window, plus the layers that are stored (queries ≤ latent/2, or only LocalBlend's
 * latent/4 cross maps with storeMaps false). At 512×512 the 64×64 self-attention layers are never
 * asked for, nor the 32×32 ones with storeMaps false.
 */
export abstract class AttentionEdit extends AttentionStore {
  readonly prompts: readonly string[];
  readonly localBlend?: LocalBlend;
  readonly storeMaps: boolean;
  /** Text context length T (the tokenizer's `modelMaxLength`): keys of every cross-attention layer edited. */
  readonly tokens: number;
  private readonly tokenizer: PromptTokenizer;
  private readonly crossReplaceSteps: CrossReplaceSteps;
  private readonly selfReplaceSteps: StepBounds;
  private plan?: { numSteps: number; crossAlpha: TimeWordAlpha; selfWindow: [number, number] };

  constructor(opts: AttentionEditOptions) {
    super({
      numPrompts: opts.prompts.length,
      latentSize: opts.latentSize,
      kinds: opts.storeMaps === 'cross' ? 'cross' : 'all',
    });
    if (opts.prompts.length < 2)
      throw new Error(`an edit needs a source and at least one edited prompt, got ${opts.prompts.length} prompt(s)`);
    this.prompts = [...opts.prompts];
    this.tokenizer = opts.tokenizer;
    this.tokens = opts.tokenizer.modelMaxLength;
    this.crossReplaceSteps = opts.crossReplaceSteps;
    this.selfReplaceSteps = opts.selfReplaceSteps;
    // Words and bounds are checked now, whether or not the step count is known yet.
    if (opts.numSteps !== undefined) this.plan = this.makePlan(opts.numSteps);
    else this.makePlan(1);
    this.storeMaps = opts.storeMaps !== false;
    if (opts.localBlend) {
      const lb = opts.localBlend.prompts;
      if (lb.length !== opts.prompts.length || lb.some((p, i) => p !== opts.prompts[i])) {
        throw new Error(
          `LocalBlend was built for prompts ${JSON.stringify(lb)}, the edit has ${JSON.stringify(opts.prompts)}`,
        );
      }
      if (opts.localBlend.tokens !== this.tokens) {
        throw new Error(
          `LocalBlend was built for ${opts.localBlend.tokens} text tokens, the edit's tokenizer has ${this.tokens}`,
        );
      }
      this.localBlend = opts.localBlend;
    }
  }

  private makePlan(numSteps: number): NonNullable<AttentionEdit['plan']> {
    return {
      numSteps,
      crossAlpha: timeWordAlpha(this.tokenizer, this.prompts, numSteps, this.crossReplaceSteps),
      selfWindow: selfReplaceWindow(numSteps, this.selfReplaceSteps),
    };
  }

  private requirePlan(): NonNullable<AttentionEdit['plan']> {
    if (!this.plan)
      throw new Error(
        'the number of denoising steps is not known yet: pass numSteps, or run the controller through the pipeline (reset(numSteps))',
      );
    return this.plan;
  }

  /** Number of denoising steps of the run: `numSteps`, or the step count of the last `reset(numSteps)`. */
  get numSteps(): number {
    return this.requirePlan().numSteps;
  }

  /** Cross-attention weights per step [numSteps+1, edits, tokens] (official `cross_replace_alpha`). */
  get crossAlpha(): TimeWordAlpha {
    return this.requirePlan().crossAlpha;
  }

  /** Steps [start, end) of self-attention replacement (official `num_self_replace`). */
  get selfWindow(): [number, number] {
    return this.requirePlan().selfWindow;
  }

  /** Starts a run: stored maps are freed and, given a new step count, the schedules are rebuilt for it. */
  override reset(numSteps?: number): void {
    super.reset();
    if (numSteps !== undefined && numSteps !== this.plan?.numSteps) this.plan = this.makePlan(numSteps);
  }

  /** Number of edited prompts (prompts − 1). */
  get edits(): number {
    return this.prompts.length - 1;
  }

  /**
   * The edited prompts' cross-attention computed from the source's (official
   * `replace_cross_attention`): base [heads, q, T], replace [edits, heads, q, T] → [edits, heads, q, T] (T = `tokens`).
   */
  abstract replaceCross(base: tf.Tensor3D, replace: tf.Tensor4D): tf.Tensor4D;

  /** Whether self-attention is replaced at this step. */
  inSelfWindow(step: number): boolean {
    return this.selfWindow[0] <= step && step < this.selfWindow[1];
  }

  override wantsProbs(ctx: AttentionContext): boolean {
    this.observe(ctx);
    if (this.keepsMap(ctx)) return true;
    const step = this.stepOf(ctx);
    if (ctx.isCross) return this.crossAlpha.isActive(step);
    return this.inSelfWindow(step) && ctx.keys <= selfReplaceMaxKeys(this.latentSize);
  }

  protected override keepsMap(ctx: AttentionContext): boolean {
    if (this.storeMaps) return super.keepsMap(ctx);
    return !!this.localBlend && this.localBlend.readsLayer(ctx, this.latentSize);
  }

  /** Official `AttentionControlEdit.forward` on the conditional prompts [prompts·heads, q, k]. */
  protected override editConditional(cond: tf.Tensor3D, ctx: AttentionContext, step: number): tf.Tensor3D {
    const n = this.prompts.length;
    const heads = ctx.heads;
    const [, q, k] = cond.shape;
    if (ctx.isCross) {
      if (k !== this.tokens)
        throw new Error(
          `${ctx.name}: cross-attention over ${k} keys; this edit controller was built for ${this.tokens} text tokens (its tokenizer's modelMaxLength)`,
        );
      if (!this.crossAlpha.isActive(step)) return cond; // r·0 + 1·rep = rep exactly
      const x = tf.reshape(cond, [n, heads, q, k]);
      const base = tf.reshape(tf.slice(x, [0, 0, 0, 0], [1, heads, q, k]), [heads, q, k]) as tf.Tensor3D;
      const rep = tf.slice(x, [1, 0, 0, 0], [n - 1, heads, q, k]) as tf.Tensor4D;
      const alpha = tf.tensor(this.crossAlpha.step(step), [n - 1, 1, 1, k]);
      const edited = tf.add(tf.mul(this.replaceCross(base, rep), alpha), tf.mul(tf.sub(1, alpha), rep));
      return tf.reshape(tf.concat([tf.expandDims(base, 0), edited], 0), [n * heads, q, k]);
    }
    // Self-attention: every edited prompt takes the source's map (official replace_self_attention).
    if (!this.inSelfWindow(step) || ctx.keys > selfReplaceMaxKeys(this.latentSize)) return cond;
    return tf.tile(tf.slice(cond, [0, 0, 0], [heads, q, k]), [n, 1, 1]);
  }

  override onStepEnd(latents: tf.Tensor4D, step: number): tf.Tensor4D {
    super.onStepEnd(latents, step);
    if (!this.localBlend) return latents;
    const maps = [...this.summedMaps('down_cross'), ...this.summedMaps('up_cross')];
    return this.localBlend.apply(latents, maps);
  }
}
