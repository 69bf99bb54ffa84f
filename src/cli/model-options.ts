/** Options shared by the commands that run the model (generate, edit, attention). */
import type { OptionSpec, ParsedArgs } from './args.js';
import { UsageError } from './args.js';
import { SCHEDULER_NAMES } from '../models/schedulers/index.js';
import { demoModelDir } from '../node/package-files.js';
import { RUN_DEFAULTS } from '../pipeline/run-plan.js';

export const MODEL_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'model',
    short: 'm',
    type: 'string',
    valueName: '<dir>',
    description:
      'diffusers model directory (model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/; SD-XL also text_encoder_2/, tokenizer_2/); default: the shipped shapes-world demo model',
  },
  { name: 'variant', type: 'string', valueName: '<name>', description: 'prefer this weights variant, e.g. fp16' },
  { name: 'steps', type: 'number', valueName: '<n>', description: `denoising steps (default ${RUN_DEFAULTS.steps})` },
  {
    name: 'guidance',
    type: 'number',
    valueName: '<scale>',
    description: `classifier-free guidance scale (default ${RUN_DEFAULTS.guidance})`,
  },
  {
    name: 'guidance-rescale',
    type: 'number',
    valueName: '<phi>',
    description:
      'guidance rescale φ in [0, 1] (diffusers guidance_rescale, for zero-terminal-SNR models; 0.7 in Lin et al.; default 0)',
  },
  {
    name: 'seed',
    type: 'number',
    valueName: '<n>',
    description: 'seed of the initial latents (torch.randn-compatible; default random)',
  },
  {
    name: 'latents',
    type: 'string',
    valueName: '<file>',
    description: 'initial latents, NCHW safetensors (tensor "latents"); overrides --seed',
  },
  {
    name: 'scheduler',
    type: 'string',
    valueName: '<name>',
    choices: SCHEDULER_NAMES,
    description: `scheduler: ${SCHEDULER_NAMES.join('|')} (default: the model's)`,
  },
  {
    name: 'height',
    type: 'number',
    valueName: '<px>',
    description:
      "image height, a multiple of 64 (default: the model's unet sample_size × 8: 512 for SD-1.x and SD-2.1-base, 768 for SD-2.1, 1024 for SD-XL)",
  },
  { name: 'width', type: 'number', valueName: '<px>', description: 'image width (default as --height)' },
  {
    name: 'clip-skip',
    type: 'number',
    valueName: '<n>',
    description:
      'skip the last n text-encoder layers for the prompt (diffusers clip_skip; 1 = "Clip skip 2" of A1111-style UIs; default 0)',
  },
  {
    name: 'residency',
    type: 'string',
    valueName: '<mode>',
    choices: ['auto', 'resident', 'stream'],
    description: 'weights on the backend: auto|resident|stream (stream = per block, for wasm)',
  },
  {
    name: 'attention-slice',
    type: 'number',
    valueName: '<n>',
    description: 'queries per attention chunk on the batched/per-head paths (default: automatic)',
  },
  {
    name: 'save-latents',
    type: 'string',
    valueName: '<file>',
    output: true,
    description: 'write the initial and final latents (NCHW safetensors)',
  },
];

export interface ModelRunOptions {
  model: string;
  variant?: string;
  steps?: number;
  guidance?: number;
  guidanceRescale?: number;
  seed?: number;
  latentsFile?: string;
  scheduler?: string;
  height?: number;
  width?: number;
  clipSkip?: number;
  residency?: 'auto' | 'resident' | 'stream';
  attentionSlice?: number;
  saveLatents?: string;
}

function positiveInt(v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
    throw new UsageError(`--${name} must be a positive integer, got ${v}`);
  return v;
}

function nonNegativeInt(v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
    throw new UsageError(`--${name} must be a non-negative integer, got ${v}`);
  return v;
}

function fraction(v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !(v >= 0 && v <= 1))
    throw new UsageError(`--${name} must be a number in [0, 1], got ${v}`);
  return v;
}

/** Reads and checks the shared model options. */
export function modelRunOptions(args: ParsedArgs): ModelRunOptions {
  const o = args.options;
  if (o.model !== undefined && typeof o.model !== 'string') throw new UsageError('--model expects a directory');
  const seed = o.seed;
  if (seed !== undefined && (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0))
    throw new UsageError(`--seed must be a non-negative integer, got ${seed}`);
  return {
    model: typeof o.model === 'string' ? o.model : demoModelDir(),
    variant: o.variant as string | undefined,
    steps: positiveInt(o.steps, 'steps'),
    guidance: o.guidance as number | undefined,
    guidanceRescale: fraction(o['guidance-rescale'], 'guidance-rescale'),
    seed: seed as number | undefined,
    latentsFile: o.latents as string | undefined,
    scheduler: o.scheduler as string | undefined,
    height: positiveInt(o.height, 'height'),
    width: positiveInt(o.width, 'width'),
    clipSkip: nonNegativeInt(o['clip-skip'], 'clip-skip'),
    residency: o.residency as ModelRunOptions['residency'],
    attentionSlice: positiveInt(o['attention-slice'], 'attention-slice'),
    saveLatents: o['save-latents'] as string | undefined,
  };
}
