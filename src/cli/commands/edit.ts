/** `ptp edit`: Prompt-to-Prompt editing of a generated image or of a photo (source and edits side by side). */
import type { Command } from '../command.js';
import { UsageError } from '../args.js';
import { modelRunOptions } from '../model-options.js';
import { ptpModelOptions } from '../ptp-options.js';
import { progressPrinter } from '../progress.js';
import { loadModel, openModel, saveRunLatents } from '../run-model.js';
import {
  INVERSION_OPTIONS,
  invertPhoto,
  inversionScheduler,
  inversionSettings,
  modelGeometry,
  readPhoto,
  runSize,
  type InversionSettings,
  type ModelGeometry,
} from '../inversion.js';
import { createScheduler } from '../../models/schedulers/index.js';
import { readInversionFile, writeInversionFile, type InversionData } from '../../node/inversion-file.js';
import type { ModelRunOptions } from '../model-options.js';
import type { RgbImage } from '../../util/image.js';
import { toFloatImage } from '../../util/image.js';
import { parseCross, parseFraction, parseWordFactors, parseWords } from '../edit-args.js';
import { buildEditController, type EditMode } from '../edit-controller.js';
import { writeImagePng } from '../../node/images.js';
import { sideBySide } from '../../util/image.js';
import { clipTokenizerOf } from '../../pipeline/load.js';
import type { ModelDir } from '../../io/model-dir.js';
import { RUN_DEFAULTS } from '../../pipeline/run-plan.js';

export const editCommand: Command = {
  name: 'edit',
  summary: 'Prompt-to-Prompt: edit a generated image or a photo by editing its prompt',
  description:
    'Samples the source prompt and the edited prompt(s) together from one initial latent while the\n' +
    "edited prompts' cross-attention (and early self-attention) is taken from the source, so the\n" +
    'composition stays and only what the words change changes. Writes the source and the edited\n' +
    'images side by side.\n' +
    '  replace   word swap, same number of words ("a cat ..." → "a dog ...")\n' +
    '  refine    words added or removed ("a cat ..." → "a fluffy cat ...")\n' +
    '  reweight  scale the attention to words (--reweight bicycle=2); without --target the source\n' +
    '            prompt is reweighted, with one it runs over replace/refine.\n' +
    'Without --mode: replace when every target has as many words as the source, else refine\n' +
    '(noted on stderr); reweight when only --reweight is given.\n' +
    'Photos: --inversion file (from ptp invert; the source prompt, steps, guidance and size come from\n' +
    'it) or --image photo --source "caption" (inverted first, as ptp invert) edits a real image; the\n' +
    'output is then photo | reconstruction | edits.',
  positionals: [],
  options: [
    { name: 'source', short: 's', type: 'string', valueName: '<text>', description: 'the source prompt (required)' },
    {
      name: 'target',
      short: 't',
      type: 'string',
      valueName: '<text>',
      multiple: true,
      description: 'an edited prompt',
    },
    {
      name: 'mode',
      type: 'string',
      valueName: '<mode>',
      choices: ['replace', 'refine', 'reweight'],
      description: 'replace|refine|reweight (default: see above)',
    },
    {
      name: 'cross',
      type: 'string',
      valueName: '<f>',
      description: 'fraction of the steps with cross-attention replaced (default 0.8); per word: 1,dog=0.2',
    },
    {
      name: 'self',
      type: 'string',
      valueName: '<f>',
      description: 'fraction of the steps with self-attention replaced (default 0.4)',
    },
    {
      name: 'blend',
      type: 'string',
      valueName: '<words>',
      description: 'local blend: only the region of these words changes, e.g. cat,dog',
    },
    {
      name: 'blend-threshold',
      type: 'string',
      valueName: '<t>',
      description: 'local blend mask threshold in [0, 1] (default 0.3)',
    },
    {
      name: 'reweight',
      type: 'string',
      valueName: '<w=c,...>',
      description: 'attention factors per word, e.g. bicycle=2 or bicycle=-1,cat=3',
    },
    ...ptpModelOptions(),
    {
      name: 'inversion',
      type: 'string',
      valueName: '<file>',
      description: 'edit the photo of this null-text inversion (ptp invert --out)',
    },
    {
      name: 'image',
      short: 'i',
      type: 'string',
      valueName: '<photo>',
      description: 'edit this photo (PNG/JPEG): null-text inversion with --source first',
    },
    ...INVERSION_OPTIONS,
    {
      name: 'save-inversion',
      type: 'string',
      valueName: '<file>',
      output: true,
      description: 'with --image: also write the inversion',
    },
    {
      name: 'out',
      short: 'o',
      type: 'string',
      valueName: '<file.png>',
      output: true,
      required: true,
      description: 'output image: source | edited ...',
    },
  ],
  examples: [
    'ptp edit --model ./sd-v1-5 --source "a cat riding a bicycle" --target "a dog riding a bicycle" --seed 8888 --out cat-dog.png',
    'ptp edit --model ./sd-v1-5 --source "a cat riding a bicycle" --target "a dog riding a bicycle" --blend cat,dog --out blend.png',
    'ptp edit --model ./sd-v1-5 --source "a cat riding a bicycle" --target "a fluffy cat riding a red bicycle" --out refine.png',
    'ptp edit --model ./sd-v1-5 --source "a cat riding a bicycle" --reweight bicycle=-2 --out less-bicycle.png',
    'ptp edit --model ./sd-v1-5 --inversion cat-inv.safetensors --target "a tiger sitting next to a mirror" --out tiger.png',
    'ptp edit --model ./sd-v1-5 --image cat.jpg --source "a cat sitting next to a mirror" --target "a silver cat sculpture sitting next to a mirror" --out sculpture.png',
  ],
  async run(args, ctx) {
    const opt = args.options;
    const out = opt.out as string;
    const photo = photoSource(args);
    const inversion = photo?.kind === 'inversion' ? await readInversion(photo.path) : undefined;
    let source = opt.source;
    if (inversion) {
      if (source !== undefined && source !== inversion.meta.prompt)
        throw new UsageError(
          `--source "${String(source)}" differs from the prompt the photo was inverted with ("${inversion.meta.prompt}"); leave --source out`,
        );
      source = inversion.meta.prompt;
    }
    if (typeof source !== 'string') throw new UsageError('--source <text> is required');
    const targets = (opt.target as readonly string[] | undefined) ?? [];
    const cross = parseCross(opt.cross === undefined ? '0.8' : String(opt.cross));
    const self = parseFraction(opt.self ?? 0.4, 'self');
    const blend = opt.blend === undefined ? undefined : parseWords(String(opt.blend), 'blend');
    const blendThreshold =
      opt['blend-threshold'] === undefined ? undefined : parseFraction(opt['blend-threshold'], 'blend-threshold');
    if (blendThreshold !== undefined && !blend) throw new UsageError('--blend-threshold needs --blend <words>');
    const reweight = opt.reweight === undefined ? undefined : parseWordFactors(String(opt.reweight), 'reweight');
    const o = modelRunOptions(args);
    const spec = {
      source,
      targets,
      mode: opt.mode as EditMode | undefined,
      cross,
      self,
      blend,
      blendThreshold,
      reweight,
    };
    // The model directory is read once. The controller is built before the weights load, with the
    // tokenizer the directory read, so bad words are reported before anything heavy; then the
    // photo is checked against the model, then the weights load from the same directory.
    const dir = await openModel(o, photo !== undefined);
    let edit: ReturnType<typeof buildEditController>;
    let plan: Awaited<ReturnType<typeof photoPlan>> | undefined;
    let loaded: Awaited<ReturnType<typeof loadModel>>;
    try {
      // Its notes (e.g. the mode chosen) are printed once it is built: a bad edit is one line.
      const notes: string[] = [];
      edit = buildEditController(clipTokenizerOf(dir), spec, (n) => notes.push(n));
      for (const n of notes) ctx.err(n);
      plan = photo ? await photoPlan(o, args, photo, inversion, source, dir) : undefined;
      loaded = await loadModel(o, ctx, { prompts: edit.prompts.length, vaeEncoder: plan?.invert !== undefined }, dir);
    } finally {
      await dir.close();
    }
    const { pipe, latents } = loaded;
    try {
      let real: InversionData | undefined = inversion;
      if (plan?.invert) {
        real = (await invertPhoto(pipe, ctx, plan.invert)).data;
        const save = opt['save-inversion'];
        if (typeof save === 'string') {
          await writeInversionFile(save, real);
          ctx.err(`wrote ${save}`);
        }
      }
      const r = await pipe.edit({
        prompts: edit.prompts,
        steps: real ? real.meta.steps : (o.steps ?? RUN_DEFAULTS.steps),
        guidance: real ? real.meta.guidance : o.guidance,
        guidanceRescale: o.guidanceRescale,
        seed: o.seed,
        latents: real ? real.latents : latents,
        uncondEmbeddings: real?.uncondEmbeddings,
        scheduler: real ? inversionScheduler(pipe, real.meta.stepsOffset) : (o.scheduler ?? 'ddim'),
        height: real ? real.image.height : o.height,
        width: real ? real.image.width : o.width,
        clipSkip: o.clipSkip,
        controller: edit.controller,
        onStep: progressPrinter(ctx, edit.description),
      });
      edit.controller.dispose();
      const grid = sideBySide(real ? [toFloatImage(real.image), ...r.images] : r.images);
      await writeImagePng(out, grid);
      await saveRunLatents(o, r, { prompts: JSON.stringify(edit.prompts), edit: edit.description });
      const shown = edit.prompts.map((p) => `"${p}"`).join(' | ');
      ctx.out(`wrote ${out} (${grid.width}×${grid.height}: ${real ? `photo | ${shown}` : shown}, ${edit.description})`);
    } finally {
      pipe.dispose();
    }
  },
};

/** A photo to edit: an inversion file or an image to invert first. */
type PhotoSource = { kind: 'inversion' | 'image'; path: string };

function photoSource(args: Parameters<Command['run']>[0]): PhotoSource | undefined {
  const o = args.options;
  if (o.inversion !== undefined && o.image !== undefined)
    throw new UsageError('give --inversion <file> or --image <photo>, not both');
  const inversionOnly = ['inner-steps', 'early-stop', 'steps-offset', 'offsets', 'save-inversion'].filter(
    (k) => o[k] !== undefined,
  );
  if (o.inversion === undefined && o.image === undefined) {
    if (inversionOnly.length) throw new UsageError(`--${inversionOnly[0]} needs --image <photo>`);
    return undefined;
  }
  for (const k of ['seed', 'latents', 'save-latents'])
    if (o[k] !== undefined)
      throw new UsageError(`--${k} does not apply to editing a photo (its latents come from the inversion)`);
  if (o.scheduler !== undefined && o.scheduler !== 'ddim')
    throw new UsageError(`--scheduler ${String(o.scheduler)}: editing a photo samples with DDIM, as its inversion`);
  if (o.inversion !== undefined) {
    const extra = inversionOnly.filter((k) => k !== 'steps-offset');
    if (extra.length) throw new UsageError(`--${extra[0]} applies to --image, not to --inversion`);
    return { kind: 'inversion', path: String(o.inversion) };
  }
  return { kind: 'image', path: String(o.image) };
}

async function readInversion(path: string): Promise<InversionData> {
  try {
    return await readInversionFile(path);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** Checks a photo edit against the model before anything heavy; for --image, what to invert. */
async function photoPlan(
  o: ModelRunOptions,
  args: Parameters<Command['run']>[0],
  photo: PhotoSource,
  inversion: InversionData | undefined,
  source: string,
  dir: ModelDir,
) {
  if (o.guidanceRescale)
    throw new UsageError(
      `--guidance-rescale cannot be used for a photo edit: the null-text inversion reconstructs ${photo.path} with plain guidance`,
    );
  const geometry = await modelGeometry(dir);
  if (inversion) {
    const m = inversion.meta;
    const what = `${photo.path} was inverted`;
    if (m.fingerprint !== geometry.fingerprint)
      throw new UsageError(
        `${what} with another model (${m.model || 'unknown'}; fingerprint ${m.fingerprint}, this model ${geometry.fingerprint})`,
      );
    if (o.steps !== undefined && o.steps !== m.steps)
      throw new UsageError(`${what} with ${m.steps} steps; --steps ${o.steps} cannot use it (leave --steps out)`);
    if (o.guidance !== undefined && o.guidance !== m.guidance)
      throw new UsageError(
        `${what} for guidance ${m.guidance}; --guidance ${o.guidance} cannot use it (leave --guidance out)`,
      );
    const so = args.options['steps-offset'];
    if (so !== undefined && so !== m.stepsOffset)
      throw new UsageError(`${what} with steps offset ${m.stepsOffset}; --steps-offset ${String(so)} cannot use it`);
    const { width, height } = inversion.image;
    if ((o.width !== undefined && o.width !== width) || (o.height !== undefined && o.height !== height))
      throw new UsageError(`${what} at ${width}×${height}; leave --width/--height out`);
    if (width % geometry.unit !== 0 || height % geometry.unit !== 0)
      throw new UsageError(
        `${what} at ${width}×${height}, which does not fit this model (multiples of ${geometry.unit})`,
      );
    checkInversionTensors(photo.path, inversion, geometry);
    return { invert: undefined };
  }
  const settings: InversionSettings = inversionSettings(args, photo.path);
  const guidance = o.guidance ?? RUN_DEFAULTS.guidance;
  if (guidance <= 1) throw new UsageError(`--guidance must be above 1 to edit a photo, got ${guidance}`);
  const image: RgbImage = await readPhoto(settings, runSize(o, geometry));
  return {
    invert: {
      image,
      prompt: source,
      steps: o.steps ?? RUN_DEFAULTS.steps,
      guidance,
      stepsOffset: settings.stepsOffset ?? geometry.stepsOffset,
      model: o.model,
      fingerprint: geometry.fingerprint,
      settings,
    },
  };
}

/** The file's tensors against the model and its own settings (a file edited by hand or from a model with the same fingerprint but other shapes). */
function checkInversionTensors(path: string, inv: InversionData, g: ModelGeometry): void {
  const m = inv.meta;
  const latents = [1, g.latentChannels, inv.image.height / g.vaeFactor, inv.image.width / g.vaeFactor];
  const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => v === b[i]);
  if (!same(inv.latents.shape, latents))
    throw new UsageError(
      `${path}: latents [${inv.latents.shape.join(', ')}] do not fit its ${inv.image.width}×${inv.image.height} image on this model (expected [${latents.join(', ')}])`,
    );
  const emb = [m.steps, g.contextLength, g.contextDim];
  if (!same(inv.uncondEmbeddings.shape, emb))
    throw new UsageError(
      `${path}: uncond_embeddings [${inv.uncondEmbeddings.shape.join(', ')}], expected [${emb.join(', ')}] for this model`,
    );
  const scheduler = createScheduler({ ...g.schedulerConfig, steps_offset: m.stepsOffset }, { type: 'ddim' });
  scheduler.setTimesteps(m.steps);
  const want = Array.from(scheduler.timesteps);
  if (!same(inv.timesteps, want))
    throw new UsageError(
      `${path}: timesteps ${inv.timesteps.join(',')} are not this model's DDIM timesteps for ${m.steps} steps with steps offset ${m.stepsOffset} (${want.join(',')})`,
    );
}
