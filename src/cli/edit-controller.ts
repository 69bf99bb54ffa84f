/**
 * The controller of `ptp edit` from its options: Replace (same word count) or Refine (words added
 * or removed), optionally under a Reweight (the paper's "reweight over refine"), with LocalBlend.
 * Invalid words are UsageErrors with one-line messages.
 */
import { UsageError } from './args.js';
import type { WordFactor } from './edit-args.js';
import { AttentionRefine } from '../ptp/refine.js';
import { AttentionReplace } from '../ptp/replace.js';
import { AttentionReweight } from '../ptp/reweight.js';
import { getEqualizer } from '../ptp/equalizer.js';
import { LocalBlend } from '../ptp/local-blend.js';
import type { AttentionEdit } from '../ptp/edit.js';
import type { CrossReplaceSteps } from '../ptp/schedule.js';
import { splitWords, wordTokenIndices } from '../ptp/tokens.js';
import type { PromptTokenizer } from '../models/clip/tokenizer.js';

export type EditMode = 'replace' | 'refine' | 'reweight';

export interface EditSpec {
  source: string;
  /** Edited prompts; none = reweight the source prompt itself. */
  targets: readonly string[];
  /** Omitted: replace when every target has the source's word count, else refine; reweight when only --reweight is given. */
  mode?: EditMode;
  cross: CrossReplaceSteps;
  self: number;
  /** LocalBlend words: each prompt uses those of its own words. */
  blend?: readonly string[];
  blendThreshold?: number;
  reweight?: readonly WordFactor[];
}

export interface BuiltEdit {
  controller: AttentionEdit;
  /** Source first, then the edited prompts. */
  prompts: string[];
  /** What runs, e.g. "reweight over refine". */
  description: string;
}

const wordCount = (p: string) => splitWords(p).length;

/** Builds the controller (it learns the step count when the run starts); `note` receives the automatic mode choice. */
export function buildEditController(tokenizer: PromptTokenizer, spec: EditSpec, note: (text: string) => void): BuiltEdit {
  const { source, targets, mode } = spec;
  if (mode === 'reweight' && !spec.reweight) throw new UsageError('--mode reweight needs --reweight word=factor');
  const reweight = spec.reweight;
  if (targets.length === 0 && !reweight) throw new UsageError('--target <text> is required (or --reweight word=factor to reweight the source prompt)');
  if (targets.length === 0 && (mode === 'replace' || mode === 'refine')) throw new UsageError(`--mode ${mode} needs --target <text>`);
  const prompts = targets.length ? [source, ...targets] : [source, source];
  let base: 'replace' | 'refine' | undefined;
  if (targets.length) {
    const differ = targets.filter((t) => wordCount(t) !== wordCount(source));
    if (mode === 'replace' && differ.length) {
      throw new UsageError(`--mode replace needs the same number of words: "${source}" has ${wordCount(source)}, "${differ[0]}" has ${wordCount(differ[0])}; use --mode refine`);
    }
    base = mode === 'replace' || mode === 'refine' ? mode : differ.length ? 'refine' : 'replace';
    if (mode === undefined || mode === 'reweight') {
      note(`mode: ${base} (${base === 'replace' ? 'same number of words' : 'the number of words differs'})${reweight ? ', with reweighting' : ''}`);
    }
  }
  try {
    const localBlend = spec.blend ? makeBlend(tokenizer, prompts, spec.blend, spec.blendThreshold) : undefined;
    const common = { tokenizer, prompts, crossReplaceSteps: spec.cross, selfReplaceSteps: spec.self, localBlend };
    const edit = base === 'replace' ? new AttentionReplace(common) : base === 'refine' ? new AttentionRefine(common) : undefined;
    if (!reweight) return { controller: edit!, prompts, description: base! };
    const edited = prompts.slice(1);
    for (const { word } of reweight) {
      if (edited.every((p) => wordTokenIndices(tokenizer, p, word).length === 0)) {
        throw new UsageError(`--reweight: "${word}" is not a word of ${[...new Set(edited)].map((p) => `"${p}"`).join(' or ')}`);
      }
    }
    // One row per edited prompt; a word missing from some edited prompt leaves that row at 1.
    const words = reweight.map((r) => r.word);
    const values = reweight.map((r) => r.value);
    const equalizer = edited.map((p) => getEqualizer(tokenizer, p, words, values, { ignoreMissing: true }));
    const controller = new AttentionReweight({ ...common, equalizer, prev: edit });
    return { controller, prompts, description: base ? `reweight over ${base}` : 'reweight' };
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError((e as Error).message);
  }
}

/** LocalBlend with, for each prompt, the blend words it contains. */
function makeBlend(tokenizer: PromptTokenizer, prompts: readonly string[], words: readonly string[], threshold?: number): LocalBlend {
  for (const w of words) {
    if (prompts.every((p) => wordTokenIndices(tokenizer, p, w).length === 0)) {
      throw new UsageError(`--blend: "${w}" is not a word of ${[...new Set(prompts)].map((p) => `"${p}"`).join(' or ')}`);
    }
  }
  const perPrompt = prompts.map((p) => {
    const own = words.filter((w) => wordTokenIndices(tokenizer, p, w).length > 0);
    if (!own.length) throw new UsageError(`--blend: none of ${words.join(', ')} is a word of "${p}"`);
    return own;
  });
  return new LocalBlend(tokenizer, prompts, perPrompt, { threshold });
}
