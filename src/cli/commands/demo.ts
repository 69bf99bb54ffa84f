/**
 * `ptp demo`: what the library does, on the shipped shapes-world model, in about a minute: a
 * generation, a colour swap (Replace), a shape swap that leaves the other object alone
 * (Replace + LocalBlend), a refinement that adds a word, a word reweighted up and down, and the
 * per-token cross-attention maps — each written as a PNG.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from '../command.js';
import { progressPrinter } from '../progress.js';
import { buildEditController, type EditSpec } from '../edit-controller.js';
import { loadPipelineFromDirectory } from '../../node/pipeline.js';
import { demoModelDir } from '../../node/package-files.js';
import { writePng } from '../../node/png.js';
import { writeImagePng } from '../../node/images.js';
import { imageToUint8, sideBySide, type FloatImage } from '../../util/image.js';
import { imageGrid } from '../../draw/grid.js';
import { AttentionStore } from '../../ptp/store.js';
import { blendMapSize } from '../../ptp/resolution.js';
import { crossAttentionGrid, tokenLabels } from '../../ptp/render.js';
import type { StableDiffusionPipeline } from '../../pipeline/pipeline.js';
import { RUN_DEFAULTS } from '../../pipeline/run-plan.js';

/** DDIM steps of every run (the default of --steps). */
export const DEMO_STEPS = 20;
const GUIDANCE = RUN_DEFAULTS.guidance;

/**
 * The demo's edits. Seeds are not picked: every run of the demo takes the seeds 0, 1, 2, … in the
 * order it runs (the generations, then the edits, then the attention maps; see `demoSeed`), so every
 * run draws the same pictures.
 */
export const DEMO_EDITS: { file: string; what: string; spec: Omit<EditSpec, 'cross' | 'self'> }[] = [
  {
    file: 'replace-colour.png',
    what: 'colour swap (Replace)',
    spec: { source: 'a red circle on a white background', targets: ['a blue circle on a white background'] },
  },
  {
    file: 'blend-shape.png',
    what: 'shape swap of one of two objects (Replace + LocalBlend)',
    spec: {
      source: 'a red circle and a blue square on a white background',
      targets: ['a red star and a blue square on a white background'],
      blend: ['circle', 'star'],
    },
  },
  {
    file: 'refine.png',
    what: 'a word added (Refine)',
    spec: { source: 'a red square on a white background', targets: ['a big red square on a white background'] },
  },
  {
    file: 'reweight.png',
    what: 'a word reweighted up and down (Reweight)',
    spec: { source: 'a big orange star on a white background', targets: [], reweight: [{ word: 'big', value: 4 }] },
  },
];

export const DEMO_GENERATIONS = [
  'a red triangle on a white background',
  'an orange star on a white background',
  'a green square on a white background',
  'a blue square on an orange background',
];

export const DEMO_ATTENTION_PROMPT = 'a red circle and a blue square on a white background';

/** The seed of each run, in the order the demo runs them: generation i, edit j, the attention maps. */
export function demoSeed(run: { generation: number } | { edit: number } | 'attention'): number {
  if (run === 'attention') return DEMO_GENERATIONS.length + DEMO_EDITS.length;
  return 'generation' in run ? run.generation : DEMO_GENERATIONS.length + run.edit;
}

/** The cross-attention map of every token of `prompt` at latent/4, as an RGB grid. */
async function attentionMaps(pipe: StableDiffusionPipeline, prompt: string, seed: number, steps: number) {
  const store = new AttentionStore({ numPrompts: 1 });
  try {
    await pipe.generate({
      prompts: [prompt],
      steps,
      guidance: GUIDANCE,
      seed,
      scheduler: 'ddim',
      controller: store,
      decode: false,
    });
    const size = blendMapSize(store.latentSize);
    const t = store.aggregateAttention(size, ['up', 'down'], true, 0);
    const maps = { data: t.dataSync(), height: size.height, width: size.width, channels: t.shape[2] };
    t.dispose();
    return crossAttentionGrid(maps, tokenLabels(pipe.tokenizer, prompt));
  } finally {
    store.dispose();
  }
}

export const demoCommand: Command = {
  name: 'demo',
  summary: 'show generations, Prompt-to-Prompt edits and attention maps of the shipped demo model',
  description:
    'Runs the shipped shapes-world model (or --model) and writes to --out: generate.png, replace-colour.png,\n' +
    'blend-shape.png, refine.png, reweight.png (each source | edit) and attention.png.',
  positionals: [],
  options: [
    {
      name: 'model',
      short: 'm',
      type: 'string',
      valueName: '<dir>',
      description: 'a shapes-world model directory (default: the shipped one)',
    },
    { name: 'out', short: 'o', type: 'string', valueName: '<dir>', description: 'output folder (default out)' },
    {
      name: 'steps',
      type: 'number',
      valueName: '<n>',
      range: { integer: true, min: 1, max: 1000 },
      description: `DDIM steps of every run (default ${DEMO_STEPS})`,
    },
  ],
  examples: ['ptp demo', 'ptp demo --out demo-images'],
  async run(args, ctx) {
    const out = typeof args.options.out === 'string' ? args.options.out : 'out';
    const model = typeof args.options.model === 'string' ? args.options.model : demoModelDir();
    const steps = (args.options.steps as number | undefined) ?? DEMO_STEPS;
    const b = await ctx.initBackend();
    ctx.err(`backend: ${b.description}`);
    await mkdir(out, { recursive: true });
    const t0 = Date.now();
    const pipe = await loadPipelineFromDirectory(model);
    const done = (file: string, what: string) => {
      ctx.out(`wrote ${join(out, file)}: ${what}`);
    };
    try {
      const gens: FloatImage[] = [];
      for (const [i, prompt] of DEMO_GENERATIONS.entries()) {
        gens.push(
          (
            await pipe.generate({
              prompts: [prompt],
              steps,
              guidance: GUIDANCE,
              seed: demoSeed({ generation: i }),
              scheduler: 'ddim',
              onStep: progressPrinter(ctx, 'generate'),
            })
          ).images[0],
        );
      }
      const rgb = gens.map((g) => ({ width: g.width, height: g.height, data: imageToUint8(g) }));
      await writePng(join(out, 'generate.png'), imageGrid(rgb, gens.length, DEMO_GENERATIONS));
      done('generate.png', 'generations of four captions');
      for (const [j, d] of DEMO_EDITS.entries()) {
        const spec: EditSpec = { cross: 0.8, self: 0.4, ...d.spec };
        const built = buildEditController(pipe.tokenizer, spec, () => {});
        const panels: FloatImage[] = [];
        const run = async (controller = built.controller) =>
          (
            await pipe.edit({
              prompts: built.prompts,
              controller,
              steps,
              guidance: GUIDANCE,
              seed: demoSeed({ edit: j }),
              scheduler: 'ddim',
              onStep: progressPrinter(ctx, d.what),
            })
          ).images;
        const [source, edited] = await run();
        panels.push(source, edited);
        if (d.spec.reweight) {
          // Reweighting down as well: the same word with the opposite factor.
          const down = buildEditController(
            pipe.tokenizer,
            { ...spec, reweight: d.spec.reweight.map((r) => ({ ...r, value: -r.value / 2 })) },
            () => {},
          );
          panels.push((await run(down.controller))[1]);
          down.controller.dispose?.();
        }
        built.controller.dispose?.();
        await writeImagePng(join(out, d.file), sideBySide(panels));
        done(
          d.file,
          `${d.what}: ${built.prompts[0]}${d.spec.targets.length ? ` → ${d.spec.targets[0]}` : ` (${d.spec.reweight!.map((r) => `${r.word} ×${r.value}, ×${-r.value / 2}`).join(', ')})`}`,
        );
      }
      await writePng(
        join(out, 'attention.png'),
        await attentionMaps(pipe, DEMO_ATTENTION_PROMPT, demoSeed('attention'), steps),
      );
      done('attention.png', `cross-attention map of every token of "${DEMO_ATTENTION_PROMPT}"`);
    } finally {
      pipe.dispose();
    }
    ctx.out(`demo finished in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  },
};
