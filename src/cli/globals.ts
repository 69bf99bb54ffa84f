/** Options every `ptp` command accepts. */
import type { OptionSpec } from './args.js';

/** Backend names for --backend (the candidates of src/node/backend.ts, plus "auto"). */
export const BACKEND_CHOICES: readonly string[] = ['auto', 'tensorflow-gpu', 'tensorflow', 'native', 'wasm', 'cpu'];

export const GLOBAL_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'backend',
    type: 'string',
    valueName: '<name>',
    choices: BACKEND_CHOICES,
    description: `tfjs backend: ${BACKEND_CHOICES.join('|')} (default: PTP_BACKEND or auto = first that loads)`,
  },
  {
    name: 'precision',
    type: 'string',
    valueName: '<p>',
    choices: ['fp32', 'bf16'],
    description:
      'native backend: convolutions and matmuls in fp32 (default) or bf16 with fp32 accumulation (default: PTP_PRECISION or fp32)',
  },
  { name: 'verbose', short: 'v', type: 'boolean', description: 'more logging; stack traces on errors' },
  { name: 'help', short: 'h', type: 'boolean', description: 'show help' },
];
