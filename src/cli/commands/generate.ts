/** `ptp generate`: text to image. */
import type { Command } from '../command.js';
import { MODEL_OPTIONS, modelRunOptions, PROMPT_OPTION } from '../model-options.js';
import { progressPrinter } from '../progress.js';
import { loadModel, saveRunLatents } from '../run-model.js';
import { writeImagePng } from '../../node/images.js';

export const generateCommand: Command = {
  name: 'generate',
  summary: 'generate an image from a text prompt',
  description:
    'Runs Stable Diffusion (tokenizer → CLIP text encoder → UNet sampling with classifier-free guidance →\n' +
    'VAE decode) and writes a PNG. The same --seed gives the same initial latents as PyTorch\n' +
    '(torch.randn on the CPU), so results are comparable with diffusers.',
  positionals: [],
  options: [
    PROMPT_OPTION,
    { name: 'negative', type: 'string', valueName: '<text>', description: 'negative prompt (default "")' },
    ...MODEL_OPTIONS,
    {
      name: 'out',
      short: 'o',
      type: 'string',
      valueName: '<file.png>',
      required: true,
      output: true,
      description: 'output image',
    },
  ],
  examples: [
    'ptp generate --model ./stable-diffusion-v1-5 --prompt "a photograph of an astronaut riding a horse" --seed 42 --out astronaut.png',
    'ptp generate --model ../shared/reference/tiny-sd --prompt "a cat" --steps 20 --scheduler ddim --height 256 --width 256 --out cat.png',
  ],
  async run(args, ctx) {
    const prompt = args.options.prompt as string;
    const out = args.options.out as string;
    const o = modelRunOptions(args);
    const { pipe, latents } = await loadModel(o, ctx);
    try {
      const r = await pipe.generate({
        prompts: [prompt],
        negativePrompts: args.options.negative !== undefined ? [String(args.options.negative)] : undefined,
        steps: o.steps,
        guidance: o.guidance,
        guidanceRescale: o.guidanceRescale,
        seed: o.seed,
        latents,
        scheduler: o.scheduler,
        height: o.height,
        width: o.width,
        clipSkip: o.clipSkip,
        onStep: progressPrinter(ctx),
      });
      await writeImagePng(out, r.images[0]);
      await saveRunLatents(o, r, { prompt });
      ctx.out(`wrote ${out} (${r.images[0].width}×${r.images[0].height})`);
    } finally {
      pipe.dispose();
    }
  },
};
