/** `ptp train`: trains the shapes-world demo model from scratch (resumable), then exports it. */
import { join } from 'node:path';
import type { Command } from '../command.js';
import type { ParsedArgs } from '../args.js';
import { trainShapesModel, type ShapesTrainingOptions } from '../../node/shapes/train.js';
import type { StageProgress } from '../../node/train/stage-run.js';

/** The recipe of the shipped model (models/shapes). */
export const TRAIN_DEFAULTS = {
  seed: 1,
  vaeSteps: 1600,
  vaeBatch: 8,
  vaeCrop: 64,
  vaeLr: 1e-3,
  unetSteps: 13000,
  unetBatch: 16,
  unetLr: 1e-3,
  checkpointEvery: 500,
} as const;

const NUMERIC: [key: keyof typeof TRAIN_DEFAULTS, flag: string, text: string, integer: boolean][] = [
  ['seed', 'seed', 'seed of the data, the initial weights and the noise', true],
  ['vaeSteps', 'vae-steps', 'autoencoder steps', true],
  ['vaeBatch', 'vae-batch', 'autoencoder batch', true],
  ['vaeCrop', 'vae-crop', 'autoencoder training window (px)', true],
  ['vaeLr', 'vae-lr', 'autoencoder learning rate', false],
  ['unetSteps', 'unet-steps', 'UNet + text encoder steps', true],
  ['unetBatch', 'unet-batch', 'UNet batch', true],
  ['unetLr', 'unet-lr', 'UNet + text encoder learning rate', false],
  ['checkpointEvery', 'checkpoint-every', 'steps between checkpoints (and sample grids)', true],
];

function duration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
}

function readOptions(args: ParsedArgs): Omit<ShapesTrainingOptions, 'onProgress' | 'onNote'> {
  const o = args.options;
  const dir = typeof o.out === 'string' ? o.out : 'runs/shapes';
  const values = { ...TRAIN_DEFAULTS } as Record<keyof typeof TRAIN_DEFAULTS, number>;
  for (const [key, flag] of NUMERIC) if (o[flag] !== undefined) values[key] = o[flag] as number;
  const maxMinutes = o['max-minutes'];
  const vaeFrom = o['vae-from'] as string | undefined;
  return {
    dir,
    vaeFrom,
    exportTo: typeof o.export === 'string' ? o.export : join(dir, 'model'),
    maxMinutes: maxMinutes as number | undefined,
    ...values,
  };
}

export const trainCommand: Command = {
  name: 'train',
  summary: 'train the shapes-world demo model from scratch (resumable)',
  description:
    'Trains the small SD-1.x-architecture model of models/shapes on procedurally rendered scenes:\n' +
    'first the autoencoder, then the UNet with the text encoder; then writes the model as a diffusers\n' +
    'directory with float16 weights. Checkpoints, loss curves (<stage>-loss.png) and sample grids go to\n' +
    '--out; running the same command again resumes from the last checkpoint.',
  positionals: [],
  options: [
    { name: 'out', short: 'o', type: 'string', valueName: '<dir>', description: 'run folder (default runs/shapes)' },
    {
      name: 'export',
      type: 'string',
      valueName: '<dir>',
      description: 'where the finished model goes (default <out>/model)',
    },
    {
      name: 'vae-from',
      type: 'string',
      valueName: '<dir>',
      description: "use this model directory's autoencoder as is (skips the autoencoder stage)",
    },
    {
      name: 'max-minutes',
      type: 'number',
      range: { above: 0 },
      valueName: '<n>',
      description: 'stop after this many minutes, at a checkpoint (resume later)',
    },
    ...NUMERIC.map(([key, flag, text, integer]) => ({
      name: flag,
      type: 'number' as const,
      valueName: '<n>',
      range: { integer, above: 0 },
      description: `${text} (default ${TRAIN_DEFAULTS[key]})`,
    })),
  ],
  examples: [
    'ptp train --out runs/shapes --export models/shapes',
    'ptp train --vae-from models/shapes --out runs/unet --export models/shapes',
    'ptp train --out runs/shapes --max-minutes 30',
  ],
  async run(args, ctx) {
    const opts = readOptions(args);
    const b = await ctx.initBackend();
    ctx.err(`training on ${b.description}; run folder ${opts.dir}`);
    let last = 0;
    const onProgress = (p: StageProgress) => {
      // No rate yet (the first step): no estimate rather than an absurd one.
      const left =
        p.itPerSec > 0 ? `${duration((p.totalSteps - p.step) / p.itPerSec)} left` : 'time left not known yet';
      const line = `${p.stage}: step ${p.step}/${p.totalSteps} loss ${p.loss.toFixed(4)} (mean ${p.smoothLoss.toFixed(4)}) ${p.itPerSec.toFixed(2)} it/s, ${duration(p.wallSeconds)} spent, ${left}`;
      if (ctx.interactive) process.stderr.write(`\r${line}\x1b[K${p.step === p.totalSteps ? '\n' : ''}`);
      else if (ctx.verbose || p.step === p.totalSteps || Date.now() - last > 30_000) {
        last = Date.now();
        ctx.err(line);
      }
    };
    let lastPool = 0;
    const onPool = (done: number, total: number) => {
      if (ctx.interactive)
        process.stderr.write(`\rencoding the latent pool: ${done}/${total}\x1b[K${done === total ? '\n' : ''}`);
      else if (done === total || Date.now() - lastPool > 30_000) {
        lastPool = Date.now();
        ctx.err(`encoding the latent pool: ${done}/${total}`);
      }
    };
    const r = await trainShapesModel({ ...opts, onProgress, onPool, onNote: (l) => ctx.err(l) });
    if (ctx.interactive) process.stderr.write('\n');
    ctx.out(
      r.finished
        ? `model written to ${opts.exportTo}`
        : `stopped at a checkpoint in ${opts.dir}; run the same command to resume`,
    );
  },
};
