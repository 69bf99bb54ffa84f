/**
 * A Prompt-to-Prompt edit described by its settings (what `ptp edit` and the web page ask for),
 * turned into a controller: Replace (same word count) or Refine (words added or removed),
 * optionally under a Reweight (the paper's "reweight over refine"), with LocalBlend. Bad settings
 * are `EditSpecError`s with one-line messages that name the option as the caller calls it.
 */
import { AttentionRefine } from './refine.js';
import { AttentionReplace } from './replace.js';
import { AttentionReweight } from './reweight.js';
import { getEqualizer } from './equalizer.js';
import { LocalBlend } from './local-blend.js';
import type { AttentionEdit } from './edit.js';
import type { CrossReplaceSteps } from './schedule.js';
import { splitWords, wordTokenIndices } from './tokens.js';
import type { PromptTokenizer } from '../models/clip/tokenizer.js';

export type EditMode = 'replace' | 'refine' | 'reweight';

/** A word and its factor, from `word=factor`. */
export interface WordFactor {
  word: string;
  value: number;
}

export interface EditSpec {
  source: string;
  /** Edited prompts; none = reweight the source prompt itself. */
  targets: readonly string[];
  /** Omitted: replace when every target has the source's word count, else refine; reweight when only `reweight` is given. */
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

/** How messages name the settings (the CLI: `--mode`, `--target <text>`, …). */
export interface EditOptionNames {
  mode: string;
  target: string;
  reweight: string;
  blend: string;
}

/** Names for messages outside the command line. */
export const PLAIN_OPTION_NAMES: EditOptionNames = {
  mode: 'mode',
  target: 'an edited prompt',
  reweight: 'reweight',
  blend: 'blend',
};

/** Bad edit settings (an unknown word, mismatched word counts, a malformed value): a one-line message. */
export class EditSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EditSpecError';
  }
}

export interface BuildEditOptions {
  /** Receives the automatic mode choice ("mode: replace (same number of words)"). */
  note?: (text: string) => void;
  names?: EditOptionNames;
  /** Which attention maps the controller stores (`AttentionEditOptions.storeMaps`; default true, all). */
  storeMaps?: boolean | 'cross';
}

const wordCount = (p: string) => splitWords(p).length;
const quoteAll = (prompts: readonly string[]) => [...new Set(prompts)].map((p) => `"${p}"`).join(' or ');

/** The mode that runs under an optional reweight: replace/refine as asked, else from the word counts. */
function baseMode(spec: EditSpec, n: EditOptionNames, note: (text: string) => void): 'replace' | 'refine' | undefined {
  const { source, targets, mode } = spec;
  if (!targets.length) return undefined;
  const differ = targets.filter((t) => wordCount(t) !== wordCount(source));
  if (mode === 'replace' && differ.length) {
    throw new EditSpecError(
      `${n.mode} replace needs the same number of words: "${source}" has ${wordCount(source)}, "${differ[0]}" has ${wordCount(differ[0])}; use ${n.mode} refine`,
    );
  }
  const base = mode === 'replace' || mode === 'refine' ? mode : differ.length ? 'refine' : 'replace';
  if (mode === undefined || mode === 'reweight') {
    note(
      `mode: ${base} (${base === 'replace' ? 'same number of words' : 'the number of words differs'})${spec.reweight ? ', with reweighting' : ''}`,
    );
  }
  return base;
}

/** Builds the controller (it learns the step count when the run starts). */
export function buildEdit(tokenizer: PromptTokenizer, spec: EditSpec, opts: BuildEditOptions = {}): BuiltEdit {
  const n = opts.names ?? PLAIN_OPTION_NAMES;
  const { source, targets, mode, reweight } = spec;
  if (mode === 'reweight' && !reweight) throw new EditSpecError(`${n.mode} reweight needs ${n.reweight} word=factor`);
  if (targets.length === 0 && !reweight)
    throw new EditSpecError(`${n.target} is required (or ${n.reweight} word=factor to reweight the source prompt)`);
  if (targets.length === 0 && (mode === 'replace' || mode === 'refine'))
    throw new EditSpecError(`${n.mode} ${mode} needs ${n.target}`);
  const prompts = targets.length ? [source, ...targets] : [source, source];
  const base = baseMode(spec, n, opts.note ?? (() => {}));
  try {
    const localBlend = spec.blend ? makeBlend(tokenizer, prompts, spec.blend, spec.blendThreshold, n) : undefined;
    const common = {
      tokenizer,
      prompts,
      crossReplaceSteps: spec.cross,
      selfReplaceSteps: spec.self,
      localBlend,
      storeMaps: opts.storeMaps,
    };
    const edit =
      base === 'replace' ? new AttentionReplace(common) : base === 'refine' ? new AttentionRefine(common) : undefined;
    if (!reweight) return { controller: edit!, prompts, description: base! };
    const edited = prompts.slice(1);
    for (const { word } of reweight) {
      if (edited.every((p) => wordTokenIndices(tokenizer, p, word).length === 0)) {
        throw new EditSpecError(`${n.reweight}: "${word}" is not a word of ${quoteAll(edited)}`);
      }
    }
    // One row per edited prompt; a word missing from some edited prompt leaves that row at 1.
    const words = reweight.map((r) => r.word);
    const values = reweight.map((r) => r.value);
    const equalizer = edited.map((p) => getEqualizer(tokenizer, p, words, values, { ignoreMissing: true }));
    const controller = new AttentionReweight({ ...common, equalizer, prev: edit });
    return { controller, prompts, description: base ? `reweight over ${base}` : 'reweight' };
  } catch (e) {
    if (e instanceof EditSpecError) throw e;
    throw new EditSpecError((e as Error).message);
  }
}

/** LocalBlend with, for each prompt, the blend words it contains. */
function makeBlend(
  tokenizer: PromptTokenizer,
  prompts: readonly string[],
  words: readonly string[],
  threshold: number | undefined,
  n: EditOptionNames,
): LocalBlend {
  for (const w of words) {
    if (prompts.every((p) => wordTokenIndices(tokenizer, p, w).length === 0)) {
      throw new EditSpecError(`${n.blend}: "${w}" is not a word of ${quoteAll(prompts)}`);
    }
  }
  const perPrompt = prompts.map((p) => {
    const own = words.filter((w) => wordTokenIndices(tokenizer, p, w).length > 0);
    if (!own.length) throw new EditSpecError(`${n.blend}: none of ${words.join(', ')} is a word of "${p}"`);
    return own;
  });
  return new LocalBlend(tokenizer, prompts, perPrompt, { threshold });
}
