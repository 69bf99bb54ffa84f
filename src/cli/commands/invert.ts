/** `ptp invert`: null-text inversion of a photo, for editing it with `ptp edit --inversion`. */
import type { Command } from '../command.js';
import { UsageError } from '../args.js';
import { MODEL_OPTIONS, modelRunOptions } from '../model-options.js';
import {
  INVERSION_OPTIONS,
  invertPhoto,
  inversionSettings,
  modelGeometry,
  readPhoto,
  runSize,
  type ModelGeometry,
} from '../inversion.js';
import { writeInversionFile } from '../../node/inversion-file.js';
import { writePng } from '../../node/png.js';
import { loadModel, openModel } from '../run-model.js';
import type { StableDiffusionPipeline } from '../../pipeline/pipeline.js';
import type { RgbImage } from '../../util/image.js';
import { RUN_DEFAULTS } from '../../pipeline/run-plan.js';

/** Model options that make sense for a photo: no seed, initial latents or scheduler choice (DDIM). */
export const PHOTO_MODEL_OPTIONS = MODEL_OPTIONS.filter(
  (o) => !['seed', 'latents', 'scheduler', 'save-latents'].includes(o.name),
);

export const invertCommand: Command = {
  name: 'invert',
  summary: 'null-text inversion of a photo (then edit it with ptp edit --inversion)',
  description:
    'Encodes the photo (PNG or JPEG, centre-cropped and resized to the model size like the null-text\n' +
    "notebook's load_512) with the VAE, inverts DDIM with the prompt (guidance 1), then optimises the\n" +
    'unconditional embedding of every step (Adam, --inner-steps iterations at most) so that guided\n' +
    'sampling from the inverted latents retraces the inversion. Writes x_T, the per-step embeddings,\n' +
    'the timesteps, the input image and the settings to --out, and prints the PSNR of the\n' +
    'reconstruction against the input.',
  positionals: [],
  options: [
    {
      name: 'image',
      short: 'i',
      type: 'string',
      valueName: '<photo>',
      required: true,
      description: 'the photo, PNG or JPEG',
    },
    {
      name: 'prompt',
      short: 'p',
      type: 'string',
      valueName: '<text>',
      required: true,
      description: 'a caption of the photo',
    },
    ...INVERSION_OPTIONS,
    ...PHOTO_MODEL_OPTIONS,
    {
      name: 'out',
      short: 'o',
      type: 'string',
      valueName: '<file.safetensors>',
      output: true,
      required: true,
      description: 'the inversion',
    },
    {
      name: 'reconstruction',
      type: 'string',
      valueName: '<file.png>',
      description: 'also write the reconstructed image',
    },
  ],
  examples: [
    'ptp invert --image examples/shapes-scene.png --prompt "a big black square on a blue background" --out scene-inv.safetensors',
    'ptp edit --inversion scene-inv.safetensors --target "a big red square on a blue background" --out scene-red.png',
    'ptp invert --model ./sd15 --image cat.jpg --prompt "a cat sitting next to a mirror" --out cat-inv.safetensors --reconstruction cat-rec.png',
    'ptp edit --model ./sd15 --inversion cat-inv.safetensors --target "a tiger sitting next to a mirror" --out tiger.png',
  ],
  async run(args, ctx) {
    const opt = args.options;
    const [image, prompt, out] = [opt.image, opt.prompt, opt.out] as string[];
    const rec = opt.reconstruction as string | undefined;
    const o = modelRunOptions(args);
    const guidance = o.guidance ?? RUN_DEFAULTS.guidance;
    if (guidance <= 1) throw new UsageError(`--guidance must be above 1 for null-text inversion, got ${guidance}`);
    const settings = inversionSettings(args, image);
    const steps = o.steps ?? RUN_DEFAULTS.steps;
    // The model directory is read once: its sizes and fingerprint, then the weights.
    const dir = await openModel(o, true);
    let geometry: ModelGeometry, photo: RgbImage, pipe: StableDiffusionPipeline;
    try {
      geometry = await modelGeometry(dir);
      photo = await readPhoto(settings, runSize(o, geometry));
      ({ pipe } = await loadModel(o, ctx, { vaeEncoder: true }, dir));
    } finally {
      await dir.close();
    }
    try {
      const { data, reconstruction } = await invertPhoto(pipe, ctx, {
        image: photo,
        prompt,
        steps,
        guidance,
        stepsOffset: settings.stepsOffset ?? geometry.stepsOffset,
        model: o.model,
        fingerprint: geometry.fingerprint,
        settings,
      });
      await writeInversionFile(out, data);
      if (rec) await writePng(rec, reconstruction);
      ctx.out(`wrote ${out}${rec ? ` and ${rec}` : ''} (${photo.width}×${photo.height}, ${steps} steps)`);
    } finally {
      pipe.dispose();
    }
  },
};
