/** `ptp quality`: scores Prompt-to-Prompt edits of the shapes-world model with the world's own measures. */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from '../command.js';
import { UsageError } from '../args.js';
import { loadPipelineFromDirectory } from '../../node/pipeline.js';
import { demoModelDir } from '../../node/package-files.js';
import { writePng } from '../../node/png.js';
import { DEFAULT_EDIT_SET, qualityEdits, type EditSetSizes } from '../../node/quality/edit-set.js';
import { DEFAULT_QUALITY_SETTINGS, scoreEdit, summarise, type EditScore } from '../../node/quality/score.js';
import { imageGrid } from '../../node/train/grid.js';

const fmt = (x: number | undefined, digits = 3) => (x === undefined ? '–' : x.toFixed(digits));

export const qualityCommand: Command = {
  name: 'quality',
  summary: 'score Prompt-to-Prompt edits of the shapes-world model (colour and shape swaps)',
  description:
    'Runs a fixed, seeded set of edits on a shapes-world model (default: the shipped one): colour swaps of\n' +
    'one object (Replace), of one of two objects and shape swaps of one of two objects (Replace +\n' +
    'LocalBlend), each next to a plain generation of the target from the same initial latent. Objects are\n' +
    'found by their palette colour; shapes by a geometric test. Prints a table per edit and a summary, and\n' +
    'ends with one JSON line.',
  positionals: [],
  options: [
    { name: 'model', short: 'm', type: 'string', valueName: '<dir>', description: 'model directory (default: the shipped demo model)' },
    { name: 'out', short: 'o', type: 'string', valueName: '<dir>', description: 'write source | edit | plain images here (default: none)' },
    { name: 'edits', type: 'string', valueName: '<a,b,c>', description: `colour swaps alone, colour swaps in pairs, shape swaps in pairs (default ${DEFAULT_EDIT_SET.colourSingle},${DEFAULT_EDIT_SET.colourPair},${DEFAULT_EDIT_SET.shapePair})` },
    { name: 'steps', type: 'number', valueName: '<n>', description: `DDIM steps (default ${DEFAULT_QUALITY_SETTINGS.steps})` },
    { name: 'guidance', type: 'number', valueName: '<scale>', description: `guidance (default ${DEFAULT_QUALITY_SETTINGS.guidance})` },
  ],
  examples: ['ptp quality', 'ptp quality --edits 4,2,2 --out out/quality'],
  async run(args, ctx) {
    const o = args.options;
    let sizes: EditSetSizes = DEFAULT_EDIT_SET;
    if (o.edits !== undefined) {
      const n = String(o.edits).split(',').map(Number);
      if (n.length !== 3 || n.some((x) => !Number.isInteger(x) || x < 0)) throw new UsageError(`--edits expects three counts like 30,15,15, got "${o.edits}"`);
      sizes = { colourSingle: n[0], colourPair: n[1], shapePair: n[2] };
    }
    const settings = { ...DEFAULT_QUALITY_SETTINGS };
    if (o.steps !== undefined) {
      if (!Number.isInteger(o.steps) || (o.steps as number) < 1) throw new UsageError(`--steps must be a positive integer, got ${o.steps}`);
      settings.steps = o.steps as number;
    }
    if (o.guidance !== undefined) settings.guidance = o.guidance as number;
    const model = typeof o.model === 'string' ? o.model : demoModelDir();
    const b = await ctx.initBackend();
    ctx.err(`backend: ${b.description}; model ${model}`);
    const pipe = await loadPipelineFromDirectory(model);
    const edits = qualityEdits(sizes);
    const scores: EditScore[] = [];
    const t0 = Date.now();
    try {
      ctx.out(['#', 'kind', 'attr ok', 'IoU p2p', 'IoU plain', 'bg p2p', 'bg plain', 'untouched', 'edit'].join('\t'));
      for (const [i, e] of edits.entries()) {
        const s = await scoreEdit(pipe, e, settings);
        scores.push(s);
        ctx.out([i, e.kind + (e.blend ? '+blend' : ''), s.attributeOk ? 'yes' : 'no', fmt(s.iouP2p), fmt(s.iouPlain), fmt(s.backgroundP2p, 1), fmt(s.backgroundPlain, 1), fmt(s.untouchedIou), `${e.source} → ${e.target}`].join('\t'));
        if (ctx.interactive) process.stderr.write(`\redits: ${i + 1}/${edits.length} (${((Date.now() - t0) / 1000 / (i + 1)).toFixed(1)} s each)\x1b[K`);
      }
      if (ctx.interactive) process.stderr.write('\n');
      if (typeof o.out === 'string') {
        await mkdir(o.out, { recursive: true });
        // Rows of source | Prompt-to-Prompt edit | plain generation of the target, ten edits a file.
        for (let k = 0; k < scores.length; k += 10) {
          const part = scores.slice(k, k + 10);
          const images = part.flatMap((s) => [s.images.source, s.images.p2p, s.images.plain]);
          const labels = part.flatMap((s) => [s.edit.source, `p2p: ${s.edit.target}`, 'plain']);
          await writePng(join(o.out, `edits-${String(k).padStart(3, '0')}.png`), imageGrid(images, 3, labels));
        }
      }
    } finally {
      pipe.dispose();
    }
    const summary = summarise(scores);
    ctx.out('');
    for (const [k, v] of Object.entries(summary)) ctx.out(`${k.padEnd(30)} ${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(3) : v}`);
    ctx.out(JSON.stringify({ ...summary, seconds: Math.round((Date.now() - t0) / 1000), steps: settings.steps, guidance: settings.guidance }));
  },
};
