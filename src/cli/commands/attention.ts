/** `ptp attention`: generate with an AttentionStore and draw the per-token cross-attention maps. */
import type { Command } from '../command.js';
import { UsageError } from '../args.js';
import { modelRunOptions, PROMPT_OPTION } from '../model-options.js';
import { ptpModelOptions } from '../ptp-options.js';
import { progressPrinter } from '../progress.js';
import { loadModel, saveRunLatents } from '../run-model.js';
import type { Place } from '../../nn/attention-control.js';
import { AttentionStore, storeKey } from '../../ptp/store.js';
import { blendMapSize, type MapSize } from '../../ptp/resolution.js';
import { crossAttentionGrid, selfAttentionComponents, tokenLabels } from '../../ptp/render.js';
import { writeImagePng } from '../../node/images.js';
import { writePng } from '../../node/png.js';
import { RUN_DEFAULTS } from '../../pipeline/run-plan.js';

const PLACES: readonly Place[] = ['down', 'mid', 'up'];

function parsePlaces(raw: string): Place[] {
  const parts = raw.split(',').map((s) => s.trim());
  for (const p of parts)
    if (!(PLACES as readonly string[]).includes(p))
      throw new UsageError(`--from: "${p}" is not one of ${PLACES.join(', ')} (e.g. --from up,down)`);
  return [...new Set(parts)] as Place[];
}

/** Sizes of the stored maps of the given kind and places, largest first, e.g. ["16×16", "8×8"]. */
function storedSizes(store: AttentionStore, from: readonly Place[], isCross: boolean): string[] {
  const maps = from
    .flatMap((p) => store.summedMaps(storeKey(p, isCross)))
    .sort((a, b) => b.height * b.width - a.height * a.width);
  return [...new Set(maps.map((m) => `${m.height}×${m.width}`))];
}

export const attentionCommand: Command = {
  name: 'attention',
  summary: 'draw the cross-attention map of every prompt token (and self-attention components)',
  description:
    'Generates the prompt with an AttentionStore (maps averaged over the steps) and writes one map per\n' +
    'token, labelled, averaged over the heads and the layers of one resolution (the official\n' +
    '`show_cross_attention`). --self-components n also writes the n leading principal components of\n' +
    'the self-attention maps of that resolution (`show_self_attention_comp`).',
  positionals: [],
  options: [
    PROMPT_OPTION,
    {
      name: 'res',
      type: 'number',
      valueName: '<n>',
      range: { integer: true, min: 1 },
      description: 'map resolution (default latent/4: 16 at 512×512)',
    },
    {
      name: 'from',
      type: 'string',
      valueName: '<places>',
      description: 'UNet places to average: up,down,mid (default up,down)',
    },
    {
      name: 'self-components',
      type: 'number',
      range: { integer: true, min: 1 },
      valueName: '<n>',
      description: 'also write n self-attention principal components',
    },
    {
      name: 'self-out',
      type: 'string',
      valueName: '<file.png>',
      output: true,
      description: 'file of the self-attention components (default <out>-self.png)',
    },
    {
      name: 'image',
      type: 'string',
      valueName: '<file.png>',
      output: true,
      description: 'also write the generated image',
    },
    ...ptpModelOptions(),
    {
      name: 'out',
      short: 'o',
      type: 'string',
      valueName: '<file.png>',
      required: true,
      output: true,
      description: 'output image of the token maps',
    },
  ],
  examples: [
    'ptp attention --model ./sd-v1-5 --prompt "a cat riding a bicycle" --seed 8888 --out maps.png',
    'ptp attention --model ./sd-v1-5 --prompt "a cat riding a bicycle" --res 16 --from up,down --self-components 6 --out maps.png',
  ],
  async run(args, ctx) {
    const opt = args.options;
    const prompt = opt.prompt as string;
    const out = opt.out as string;
    const from = parsePlaces(opt.from === undefined ? 'up,down' : String(opt.from));
    const res = opt.res as number | undefined;
    const components = (opt['self-components'] as number | undefined) ?? 0;
    const selfOut = typeof opt['self-out'] === 'string' ? opt['self-out'] : out.replace(/(\.png)?$/i, '-self.png');
    const o = modelRunOptions(args);

    const { pipe, latents } = await loadModel(o, ctx);
    // Self-attention maps (large at SD-XL sizes) are kept only when their components are asked for.
    const store = new AttentionStore({ numPrompts: 1, kinds: components > 0 ? 'all' : 'cross' });
    try {
      const r = await pipe.generate({
        prompts: [prompt],
        steps: o.steps ?? RUN_DEFAULTS.steps,
        guidance: o.guidance,
        guidanceRescale: o.guidanceRescale,
        seed: o.seed,
        latents,
        scheduler: o.scheduler ?? 'ddim',
        height: o.height,
        width: o.width,
        clipSkip: o.clipSkip,
        controller: store,
        decode: typeof opt.image === 'string',
        onStep: progressPrinter(ctx),
      });
      const size: MapSize = res !== undefined ? { height: res, width: res } : blendMapSize(store.latentSize);
      const mapsOf = (isCross: boolean) => {
        const available = storedSizes(store, from, isCross);
        if (!available.includes(`${size.height}×${size.width}`)) {
          throw new UsageError(
            `--res: no ${isCross ? 'cross' : 'self'}-attention maps of ${size.height}×${size.width} in ${from.join(', ')} at this image size (stored: ${available.join(', ') || 'none'})`,
          );
        }
        const t = store.aggregateAttention(size, from, isCross, 0);
        const data = t.dataSync();
        const channels = t.shape[2];
        t.dispose();
        return { data, height: size.height, width: size.width, channels };
      };
      const labels = tokenLabels(pipe.tokenizer, prompt);
      const grid = crossAttentionGrid(mapsOf(true), labels);
      await writePng(out, grid);
      ctx.out(
        `wrote ${out} (${grid.width}×${grid.height}: ${labels.length} tokens, ${size.height}×${size.width} maps from ${from.join(', ')})`,
      );
      if (components > 0) {
        const comps = selfAttentionComponents(mapsOf(false), components);
        await writePng(selfOut, comps);
        ctx.out(`wrote ${selfOut} (${comps.width}×${comps.height}: ${components} self-attention components)`);
      }
      if (typeof opt.image === 'string') {
        await writeImagePng(opt.image, r.images[0]);
        ctx.out(`wrote ${opt.image} (${r.images[0].width}×${r.images[0].height})`);
      }
      await saveRunLatents(o, r, { prompt });
    } finally {
      store.dispose();
      pipe.dispose();
    }
  },
};
