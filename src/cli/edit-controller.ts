/**
 * The controller of `ptp edit` from its options (src/ptp/edit-spec.ts `buildEdit`, with the
 * options named as on the command line); invalid words are UsageErrors with one-line messages.
 */
import { asUsage } from './edit-args.js';
import { buildEdit, type BuiltEdit, type EditOptionNames, type EditSpec } from '../ptp/edit-spec.js';
import type { PromptTokenizer } from '../models/clip/tokenizer.js';

export type { BuiltEdit, EditMode, EditSpec } from '../ptp/edit-spec.js';

const CLI_NAMES: EditOptionNames = {
  mode: '--mode',
  target: '--target <text>',
  reweight: '--reweight',
  blend: '--blend',
};

/**
 * Builds the controller (it learns the step count when the run starts); `note` receives the
 * automatic mode choice. It stores only the maps LocalBlend reads (no command draws the edit's
 * maps), which keeps the self-attention maps of large models (SD-XL) out of memory.
 */
export function buildEditController(
  tokenizer: PromptTokenizer,
  spec: EditSpec,
  note: (text: string) => void,
): BuiltEdit {
  return asUsage(() => buildEdit(tokenizer, spec, { note, names: CLI_NAMES, storeMaps: false }));
}
