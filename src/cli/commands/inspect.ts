/** `ptp inspect <file|dir>`: tensors, dtypes, shapes, parameter counts and sizes. */
import { formatCheck } from '../../../weights-tools/check.js';
import { formatSummary } from '../../../weights-tools/inspect.js';
import { inspectPath } from '../../../weights-tools/inspect-path.js';
import type { Command } from '../command.js';
import { demoModelDir } from '../../node/package-files.js';

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'show the tensors, parameter counts and size of a .safetensors file or a model directory',
  description:
    'Opens a .safetensors file, a diffusers model directory (model_index.json, unet/, vae/, text_encoder/,\n' +
    'tokenizer/, scheduler/) or one component folder, validates it the way the pipeline loads it, and prints\n' +
    'tensors, parameters, dtypes and bytes per component. Every problem of an incomplete directory is listed.',
  positionals: [
    {
      name: 'path',
      description: '.safetensors file, model directory or component folder (default: the shipped demo model)',
      optional: true,
    },
  ],
  options: [
    { name: 'tensors', short: 't', type: 'boolean', description: 'list every tensor (key, dtype, shape, parameters)' },
    {
      name: 'variant',
      type: 'string',
      valueName: '<name>',
      description: 'prefer this weights variant, e.g. fp16 (falls back to the plain files)',
    },
    { name: 'check', type: 'boolean', description: 'also read every tensor and report non-finite values' },
    { name: 'json', type: 'boolean', description: 'print the summary as JSON' },
  ],
  examples: [
    'ptp inspect ../shared/reference/tiny-sd',
    'ptp inspect model.safetensors --tensors',
    'ptp inspect ./sd15 --variant fp16 --check',
  ],
  async run(args, ctx) {
    const { summary, checks } = await inspectPath(args.positionals.path ?? demoModelDir(), {
      variant: args.options.variant as string | undefined,
      check: args.options.check === true,
    });
    if (args.options.json) {
      ctx.out(JSON.stringify(checks ? { ...summary, checks } : summary, null, 2));
      return;
    }
    ctx.out(formatSummary(summary, { tensors: args.options.tensors === true }));
    if (checks) {
      ctx.out(formatCheck(checks));
      const bad = checks.reduce((n, c) => n + c.nonFinite.length, 0);
      if (bad) throw new Error(`${bad} tensor${bad === 1 ? '' : 's'} hold non-finite values (NaN/Infinity)`);
    }
  },
};
