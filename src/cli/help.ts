/** Help texts for `ptp --help` and `ptp <command> --help`. */
import type { OptionSpec } from './args.js';
import type { Command } from './command.js';
import { GLOBAL_OPTIONS } from './globals.js';

function optionRows(specs: readonly OptionSpec[]): string[] {
  const left = specs.map(
    (o) =>
      `${o.short ? `-${o.short}, ` : '    '}--${o.name}${o.type === 'boolean' ? '' : ` ${o.valueName ?? '<value>'}`}`,
  );
  const w = Math.max(...left.map((l) => l.length));
  return specs.map(
    (o, i) =>
      `  ${left[i].padEnd(w)}  ${o.description}${o.required ? ' (required)' : ''}${o.multiple ? ' (repeatable)' : ''}`,
  );
}

function usageLine(c: Command): string {
  const pos = c.positionals.map((p) => (p.optional ? `[${p.name}]` : `<${p.name}>`)).join(' ');
  return `Usage: ptp ${c.name}${pos ? ` ${pos}` : ''} [options]`;
}

/** `ptp --help`: the command list. */
export function mainHelp(commands: readonly Command[]): string {
  const w = Math.max(...commands.map((c) => c.name.length));
  return [
    'ptp — Stable Diffusion 1.x, 2.x and XL with Prompt-to-Prompt editing on TensorFlow.js',
    '',
    'Usage: ptp [global options] <command> [arguments] [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    '',
    'Global options (accepted by every command):',
    ...optionRows(GLOBAL_OPTIONS),
    '',
    "Run 'ptp <command> --help' for a command's arguments and options.",
  ].join('\n');
}

/** `ptp <command> --help`. */
export function commandHelp(c: Command): string {
  const lines = [usageLine(c), '', c.description ?? c.summary];
  if (c.positionals.length) {
    const w = Math.max(...c.positionals.map((p) => p.name.length));
    lines.push('', 'Arguments:', ...c.positionals.map((p) => `  ${p.name.padEnd(w)}  ${p.description}`));
  }
  if (c.options.length) lines.push('', 'Options:', ...optionRows(c.options));
  lines.push('', 'Global options:', ...optionRows(GLOBAL_OPTIONS));
  if (c.examples?.length) lines.push('', 'Examples:', ...c.examples.map((e) => `  ${e}`));
  return lines.join('\n');
}
