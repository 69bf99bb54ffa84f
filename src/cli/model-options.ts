/** Options shared by the commands that run the model (generate, edit, attention). */
import type { OptionSpec, ParsedArgs } from './args.js';
import { SCHEDULER_NAMES } from '../models/schedulers/index.js';
import { demoModelDir } from '../node/package-files.js';
import { RUN_DEFAULTS } from '../pipeline/run-plan.js';

/** The prompt of generate and attention. */
export const PROMPT_OPTION: OptionSpec = {
  name: 'prompt',
  short: 'p',
  type: 'string',
  valueName: '<text>',
  required: true,
  description: 'the prompt',
};

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
  {
    name: 'steps',
    type: 'number',
    valueName: '<n>',
    range: { integer: true, min: 1 },
    description: `denoising steps (default ${RUN_DEFAULTS.steps})`,
  },
  {
    name: 'guidance',
    type: 'number',
    valueName: '<scale>',
    description: `classifier-free guidance scale (default ${RUN_DEFAULTS.guidance})`,
  },
  {
    name: 'guidance-rescale',
    type: 'number',
    range: { min: 0, max: 1 },
    valueName: '<phi>',
    description:
      'guidance rescale φ in [0, 1] (diffusers guidance_rescale, for zero-terminal-SNR models; 0.7 in Lin et al.; default 0)',
  },
  {
    name: 'seed',
    type: 'number',
    range: { integer: true, min: 0 },
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
    range: { integer: true, min: 1 },
    valueName: '<px>',
    description:
      "image height, a multiple of 64 (default: the model's unet sample_size × 8: 512 for SD-1.x and SD-2.1-base, 768 for SD-2.1, 1024 for SD-XL)",
  },
  {
    name: 'width',
    type: 'number',
    valueName: '<px>',
    range: { integer: true, min: 1 },
    description: 'image width (default as --height)',
  },
  {
    name: 'clip-skip',
    type: 'number',
    range: { integer: true, min: 0 },
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
    range: { integer: true, min: 1 },
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

/** The shared model options, as parsed (their ranges are checked by the parser). */
export function modelRunOptions(args: ParsedArgs): ModelRunOptions {
  const o = args.options;
  return {
    model: typeof o.model === 'string' ? o.model : demoModelDir(),
    variant: o.variant as string | undefined,
    steps: o.steps as number | undefined,
    guidance: o.guidance as number | undefined,
    guidanceRescale: o['guidance-rescale'] as number | undefined,
    seed: o.seed as number | undefined,
    latentsFile: o.latents as string | undefined,
    scheduler: o.scheduler as string | undefined,
    height: o.height as number | undefined,
    width: o.width as number | undefined,
    clipSkip: o['clip-skip'] as number | undefined,
    residency: o.residency as ModelRunOptions['residency'],
    attentionSlice: o['attention-slice'] as number | undefined,
    saveLatents: o['save-latents'] as string | undefined,
  };
}
