/**
 * Step schedules of the edit controllers: which denoising steps replace cross-attention (per token,
 * `ptp_utils.get_time_words_attention_alpha`) and which replace self-attention.
 */
import { wordTokenIndices } from './tokens.js';
import type { PromptTokenizer } from '../models/clip/tokenizer.js';

/** A fraction f of the sampling (= [0, f]) or a [start, end] range of fractions, each in [0, 1]. */
export type StepBounds = number | readonly [number, number];

/**
 * Cross-attention replacement schedule: bounds for all tokens, or per word with the key
 * `"default_"` for the other tokens (missing `"default_"` = [0, 1], the official default).
 */
export type CrossReplaceSteps = StepBounds | Readonly<Record<string, StepBounds>> | ReadonlyMap<string, StepBounds>;

/** Validates bounds and returns [start, end]; a number f means [0, f]. */
export function checkBounds(bounds: StepBounds, what: string): [number, number] {
  if (typeof bounds !== 'number' && (!Array.isArray(bounds) || bounds.length !== 2)) {
    throw new Error(`${what}: expected a fraction or a [start, end] pair, got ${JSON.stringify(bounds)}`);
  }
  const [s, e] = typeof bounds === 'number' ? [0, bounds] : bounds;
  for (const v of [s, e]) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1) {
      throw new Error(`${what}: steps are fractions of the sampling in [0, 1], got ${JSON.stringify(bounds)}`);
    }
  }
  if (s > e) throw new Error(`${what}: start ${s} is after end ${e}`);
  return [s, e];
}

/**
 * Per-step, per-edited-prompt, per-token weights of the source's cross-attention.
 * Row `step` of edit `b` (prompts[b+1]) is `data.subarray(((step·edits) + b)·tokens, …+tokens)`.
 */
export class TimeWordAlpha {
  constructor(
    /** numSteps + 1 rows (the official bounds use steps + 1). */
    readonly rows: number,
    readonly edits: number,
    readonly tokens: number,
    /** [rows, edits, tokens] row-major (the official [steps+1, B−1, 1, 1, 77]; tokens = the context length). */
    readonly data: Float32Array,
  ) {}

  /** Weights of one step: [edits·tokens]. Steps outside the schedule are an error. */
  step(step: number): Float32Array {
    if (!Number.isInteger(step) || step < 0 || step >= this.rows) {
      throw new Error(
        `step ${step} is outside the cross-attention schedule (steps 0..${this.rows - 1}); was the controller built for ${this.rows - 1} steps?`,
      );
    }
    const n = this.edits * this.tokens;
    return this.data.subarray(step * n, step * n + n);
  }

  /** True when some token of some edit takes the source's attention at this step. */
  isActive(step: number): boolean {
    return this.step(step).some((v) => v !== 0);
  }
}

function setWindow(a: TimeWordAlpha, bounds: [number, number], edit: number, tokens: readonly number[] | null): void {
  const start = Math.trunc(bounds[0] * a.rows);
  const end = Math.trunc(bounds[1] * a.rows);
  for (let r = 0; r < a.rows; r++) {
    const v = r >= start && r < end ? 1 : 0;
    const base = (r * a.edits + edit) * a.tokens;
    if (tokens === null) a.data.fill(v, base, base + a.tokens);
    else for (const t of tokens) a.data[base + t] = v;
  }
}

/**
 * `get_time_words_attention_alpha(prompts, numSteps, crossReplaceSteps)`: rows
 * trunc(start·(numSteps+1)) .. trunc(end·(numSteps+1))−1 are 1, others 0; first `"default_"`
 * for all tokens, then each word's tokens in every edited prompt that contains it. A word that is
 * in none of the edited prompts is an error (the official code ignores it silently). `maxLen`: the
 * text context length (default: the tokenizer's `modelMaxLength`).
 */
export function timeWordAlpha(
  tokenizer: PromptTokenizer,
  prompts: readonly string[],
  numSteps: number,
  crossReplaceSteps: CrossReplaceSteps,
  maxLen = tokenizer.modelMaxLength,
): TimeWordAlpha {
  if (!Number.isInteger(numSteps) || numSteps < 1)
    throw new Error(`numSteps must be a positive integer, got ${numSteps}`);
  if (prompts.length < 2)
    throw new Error(
      `cross-attention schedule needs a source and at least one edited prompt, got ${prompts.length} prompt(s)`,
    );
  const entries: [string, StepBounds][] =
    typeof crossReplaceSteps === 'number' || Array.isArray(crossReplaceSteps)
      ? [['default_', crossReplaceSteps as StepBounds]]
      : crossReplaceSteps instanceof Map
        ? [...(crossReplaceSteps as ReadonlyMap<string, StepBounds>).entries()]
        : Object.entries(crossReplaceSteps as Record<string, StepBounds>);
  const byKey = new Map(entries);
  const edits = prompts.length - 1;
  const a = new TimeWordAlpha(numSteps + 1, edits, maxLen, new Float32Array((numSteps + 1) * edits * maxLen));
  const def = checkBounds(byKey.get('default_') ?? [0, 1], 'crossReplaceSteps.default_');
  for (let b = 0; b < edits; b++) setWindow(a, def, b, null);
  for (const [word, bounds] of entries) {
    if (word === 'default_') continue;
    const bb = checkBounds(bounds, `crossReplaceSteps["${word}"]`);
    let found = false;
    for (let b = 0; b < edits; b++) {
      const inds = wordTokenIndices(tokenizer, prompts[b + 1], word);
      if (inds.length === 0) continue;
      found = true;
      setWindow(a, bb, b, inds);
    }
    if (!found) {
      throw new Error(
        `crossReplaceSteps: word "${word}" is in none of the edited prompts (${prompts
          .slice(1)
          .map((p) => JSON.stringify(p))
          .join(', ')})`,
      );
    }
  }
  return a;
}

/**
 * Self-attention replacement window in steps: [trunc(numSteps·start), trunc(numSteps·end)),
 * i.e. `num_self_replace` (note: numSteps, not numSteps + 1).
 */
export function selfReplaceWindow(numSteps: number, selfReplaceSteps: StepBounds): [number, number] {
  const [s, e] = checkBounds(selfReplaceSteps, 'selfReplaceSteps');
  return [Math.trunc(numSteps * s), Math.trunc(numSteps * e)];
}
