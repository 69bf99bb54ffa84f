/**
 * The registry of `ptp` sub-commands, in the order `ptp --help` lists them.
 *
 * To add a command (e.g. `generate`): create src/cli/commands/generate.ts exporting a `Command`
 * (../command.ts; inspect.ts is a short template: name, summary, positionals, options, run), then
 * import it here and add it to the list — one line. Global options (--backend, --verbose, --help),
 * help output and error handling come for free; call `ctx.initBackend()` in `run` before using tfjs.
 */
import type { Command } from '../command.js';
import { attentionCommand } from './attention.js';
import { convertCommand } from './convert.js';
import { editCommand } from './edit.js';
import { generateCommand } from './generate.js';
import { inspectCommand } from './inspect.js';
import { invertCommand } from './invert.js';
import { trainCommand } from './train.js';
import { qualityCommand } from './quality.js';
import { demoCommand } from './demo.js';

export const commands: readonly Command[] = [
  demoCommand,
  generateCommand,
  editCommand,
  invertCommand,
  attentionCommand,
  inspectCommand,
  convertCommand,
  trainCommand,
  qualityCommand,
];
