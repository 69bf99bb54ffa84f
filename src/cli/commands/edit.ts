/** `ptp edit`: Prompt-to-Prompt editing of a generated image (source and edits side by side). */
import type { Command } from '../command.js';
import { UsageError } from '../args.js';
import { modelRunOptions } from '../model-options.js';
import { ptpModelOptions } from '../ptp-options.js';
import { progressPrinter } from '../progress.js';
import { loadModel, saveRunLatents } from '../run-model.js';
import { parseCross, parseFraction, parseWordFactors, parseWords } from '../edit-args.js';
import { buildEditController, type EditMode } from '../edit-controller.js';
import { writeImagePng } from '../../node/images.js';
import { sideBySide } from '../../util/image.js';
import { loadClipTokenizer } from '../../node/clip-tokenizer.js';
import type { PromptTokenizer } from '../../models/clip/tokenizer.js';
import { join } from 'node:path';

export const editCommand: Command = {
  name: 'edit',
  summary: 'Prompt-to-Prompt: edit a generated image by editing its prompt',
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
    '(noted on stderr); reweight when only --reweight is given.',
  positionals: [],
  options: [
    { name: 'source', short: 's', type: 'string', valueName: '<text>', description: 'the source prompt (required)' },
    { name: 'target', short: 't', type: 'string', valueName: '<text>', multiple: true, description: 'an edited prompt' },
    { name: 'mode', type: 'string', valueName: '<mode>', choices: ['replace', 'refine', 'reweight'], description: 'replace|refine|reweight (default: see above)' },
    { name: 'cross', type: 'string', valueName: '<f>', description: 'fraction of the steps with cross-attention replaced (default 0.8); per word: 1,dog=0.2' },
    { name: 'self', type: 'string', valueName: '<f>', description: 'fraction of the steps with self-attention replaced (default 0.4)' },
    { name: 'blend', type: 'string', valueName: '<words>', description: 'local blend: only the region of these words changes, e.g. cat,dog' },
    { name: 'blend-threshold', type: 'string', valueName: '<t>', description: 'local blend mask threshold in [0, 1] (default 0.3)' },
    { name: 'reweight', type: 'string', valueName: '<w=c,...>', description: 'attention factors per word, e.g. bicycle=2 or bicycle=-1,cat=3' },
    ...ptpModelOptions(),
    { name: 'out', short: 'o', type: 'string', valueName: '<file.png>', output: true, description: 'output image: source | edited ... (required)' },
  ],
  examples: [
    'ptp edit --model ./sd-v1-5 --source "a cat riding a bicycle" --target "a dog riding a bicycle" --seed 8888 --out cat-dog.png',
    'ptp edit --model ./sd-v1-5 --source "a cat riding a bicycle" --target "a dog riding a bicycle" --blend cat,dog --out blend.png',
    'ptp edit --model ./sd-v1-5 --source "a cat riding a bicycle" --target "a fluffy cat riding a red bicycle" --out refine.png',
    'ptp edit --model ./sd-v1-5 --source "a cat riding a bicycle" --reweight bicycle=-2 --out less-bicycle.png',
  ],
  async run(args, ctx) {
    const opt = args.options;
    const source = opt.source;
    const out = opt.out;
    if (typeof source !== 'string') throw new UsageError('--source <text> is required');
    if (typeof out !== 'string') throw new UsageError('--out <file.png> is required');
    const targets = (opt.target as readonly string[] | undefined) ?? [];
    const cross = parseCross(opt.cross === undefined ? '0.8' : String(opt.cross));
    const self = parseFraction(opt.self ?? 0.4, 'self');
    const blend = opt.blend === undefined ? undefined : parseWords(String(opt.blend), 'blend');
    const blendThreshold = opt['blend-threshold'] === undefined ? undefined : parseFraction(opt['blend-threshold'], 'blend-threshold');
    if (blendThreshold !== undefined && !blend) throw new UsageError('--blend-threshold needs --blend <words>');
    const reweight = opt.reweight === undefined ? undefined : parseWordFactors(String(opt.reweight), 'reweight');
    const o = modelRunOptions(args);
    const spec = { source, targets, mode: opt.mode as EditMode | undefined, cross, self, blend, blendThreshold, reweight };
    // The controller is built once: before the weights load, with the model's tokenizer files, so
    // bad words are reported first; when those cannot be read, loading the model reports what is
    // wrong with the directory, or the controller is built with the loaded pipeline's tokenizer.
    const notes: string[] = [];
    const build = (tokenizer: PromptTokenizer) => {
      const built = buildEditController(tokenizer, spec, (n) => notes.push(n));
      for (const n of notes.splice(0)) ctx.err(n);
      return built;
    };
    const fileTokenizer = await loadClipTokenizer(join(o.model, 'tokenizer')).catch(() => undefined);
    let edit = fileTokenizer && build(fileTokenizer);

    const { pipe, latents } = await loadModel(o, ctx, { prompts: edit?.prompts.length });
    try {
      edit ??= build(pipe.tokenizer);
      const r = await pipe.edit({
        prompts: edit.prompts,
        steps: o.steps ?? 50,
        guidance: o.guidance,
        seed: o.seed,
        latents,
        scheduler: o.scheduler ?? 'ddim',
        height: o.height,
        width: o.width,
        clipSkip: o.clipSkip,
        controller: edit.controller,
        onStep: progressPrinter(ctx, edit.description),
      });
      edit.controller.dispose();
      const grid = sideBySide(r.images);
      await writeImagePng(out, grid);
      await saveRunLatents(o, r, { prompts: JSON.stringify(edit.prompts), edit: edit.description });
      ctx.out(`wrote ${out} (${grid.width}×${grid.height}: ${edit.prompts.map((p) => `"${p}"`).join(' | ')}, ${edit.description})`);
    } finally {
      pipe.dispose();
    }
  },
};
