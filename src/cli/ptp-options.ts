/** Model options of the Prompt-to-Prompt commands (edit, attention): DDIM, the official sampler, is their default scheduler. */
import type { OptionSpec } from './args.js';
import { MODEL_OPTIONS } from './model-options.js';

/** MODEL_OPTIONS with the scheduler default stated as ddim. */
export function ptpModelOptions(): OptionSpec[] {
  return MODEL_OPTIONS.map((o) =>
    o.name === 'scheduler'
      ? { ...o, description: `${o.description.replace(/ \(default[^)]*\)$/, '')} (default ddim, as Prompt-to-Prompt)` }
      : o,
  );
}
