/** `ptp quality`: scores Prompt-to-Prompt edits and background probes of the shapes-world model with the world's own measures. */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command, CommandContext } from '../command.js';
import { UsageError } from '../args.js';
import { loadPipelineFromDirectory } from '../../node/pipeline.js';
import { demoModelDir } from '../../node/package-files.js';
import { writePng } from '../../node/png.js';
import { DEFAULT_EDIT_SET, qualityEdits, type EditSetSizes } from '../../node/quality/edit-set.js';
import { DEFAULT_QUALITY_SETTINGS, scoreEdit, summarise, type EditScore } from '../../node/quality/score.js';
import {
  DEFAULT_PROBE_SEEDS,
  MAX_PROBE_SEEDS,
  NOISE_MEAN_SCALE,
  runBackgroundProbes,
  summariseProbes,
  type ProbeResult,
} from '../../node/quality/probes.js';
import { QUALITY_TARGETS, meets, missedTargets, type QualityMeasures } from '../../node/quality/targets.js';
import { imageGrid } from '../../draw/grid.js';

const fmt = (x: number | undefined, digits = 3) => (x === undefined || Number.isNaN(x) ? '–' : x.toFixed(digits));

/** Counts among the measures (printed as integers); the rest are fractions and means. */
const COUNTS = new Set(['edits', 'background_change_edits']);

/** The summary lines, each measure with its target (if any) and whether it is met; a target on two measures follows the second. */
function printSummary(ctx: CommandContext, m: QualityMeasures): void {
  const row = (name: string, value: number | undefined) => {
    const t = QUALITY_TARGETS.find((x) => x.name === name);
    const verdict = t ? `target ≥ ${t.min}  ${meets(t, m) ? 'met' : 'MISSED'}` : '';
    ctx.out(`${name.padEnd(34)} ${(COUNTS.has(name) ? String(value) : fmt(value)).padStart(7)}  ${verdict}`.trimEnd());
  };
  for (const [k, v] of Object.entries(m)) {
    if (typeof v === 'number') row(k, v);
    else if (v && typeof v === 'object')
      ctx.out(
        `${k.padEnd(34)} ${Object.entries(v as Record<string, number>)
          .map(([c, x]) => `${c} ${fmt(x, 2)}`)
          .join(', ')}`,
      );
    for (const t of QUALITY_TARGETS) if (!(t.name in m) && t.name.endsWith(` ${k}`)) row(t.name, t.value(m));
  }
  for (const t of QUALITY_TARGETS)
    if (!(t.name in m) && !Object.keys(m).some((k) => t.name.endsWith(` ${k}`))) row(t.name, t.value(m));
}

export const qualityCommand: Command = {
  name: 'quality',
  summary: 'score Prompt-to-Prompt edits and background probes of the shapes-world model against its targets',
  description:
    'Runs a fixed, seeded set of edits on a shapes-world model (default: the shipped one): colour swaps of\n' +
    'one object (Replace), of one of two objects and shape swaps of one of two objects (Replace +\n' +
    'LocalBlend), each next to a plain generation of the target from the same initial latent. Objects are\n' +
    'found by their palette colour; shapes by a geometric test; an edit counts only where it changed the\n' +
    'attribute where the source object was. Then the background probes: for each of the 8 background\n' +
    'colours and fixed seeds, whether the background follows the caption, with plain noise and with the\n' +
    `noise's mean shifted to another colour's latent mean (× ${NOISE_MEAN_SCALE.toFixed(4)}). Prints a table per edit, the\n` +
    'summary with the targets, and ends with one JSON line; --check exits 1 when a target is missed.',
  positionals: [],
  options: [
    {
      name: 'model',
      short: 'm',
      type: 'string',
      valueName: '<dir>',
      description: 'model directory (default: the shipped demo model)',
    },
    {
      name: 'out',
      short: 'o',
      type: 'string',
      valueName: '<dir>',
      description: 'write source | edit | plain images and the probes here (default: none)',
    },
    {
      name: 'edits',
      type: 'string',
      valueName: '<a,b,c>',
      description: `colour swaps alone, colour swaps in pairs, shape swaps in pairs (default ${DEFAULT_EDIT_SET.colourSingle},${DEFAULT_EDIT_SET.colourPair},${DEFAULT_EDIT_SET.shapePair})`,
    },
    {
      name: 'probe-seeds',
      type: 'number',
      range: { integer: true, min: 0, max: MAX_PROBE_SEEDS },
      valueName: '<n>',
      description: `seeds per background colour of the background probes, 0–${MAX_PROBE_SEEDS} (default ${DEFAULT_PROBE_SEEDS})`,
    },
    {
      name: 'steps',
      type: 'number',
      valueName: '<n>',
      range: { integer: true, min: 1 },
      description: `DDIM steps (default ${DEFAULT_QUALITY_SETTINGS.steps})`,
    },
    {
      name: 'guidance',
      type: 'number',
      valueName: '<scale>',
      description: `guidance (default ${DEFAULT_QUALITY_SETTINGS.guidance})`,
    },
    {
      name: 'check',
      type: 'boolean',
      description: 'exit with status 1, one line per target, when a target is missed or not measured',
    },
  ],
  examples: ['ptp quality', 'ptp quality --check', 'ptp quality --edits 4,2,2 --probe-seeds 1 --out out/quality'],
  async run(args, ctx) {
    const o = args.options;
    let sizes: EditSetSizes = DEFAULT_EDIT_SET;
    if (o.edits !== undefined) {
      const n = String(o.edits).split(',').map(Number);
      if (n.length !== 3 || n.some((x) => !Number.isInteger(x) || x < 0))
        throw new UsageError(`--edits expects three counts like 30,15,15, got "${o.edits}"`);
      sizes = { colourSingle: n[0], colourPair: n[1], shapePair: n[2] };
    }
    const probeSeeds = (o['probe-seeds'] as number | undefined) ?? DEFAULT_PROBE_SEEDS;
    const settings = { ...DEFAULT_QUALITY_SETTINGS };
    if (o.steps !== undefined) settings.steps = o.steps as number;
    if (o.guidance !== undefined) settings.guidance = o.guidance as number;
    const model = typeof o.model === 'string' ? o.model : demoModelDir();
    const b = await ctx.initBackend();
    ctx.err(`backend: ${b.description}; model ${model}`);
    const pipe = await loadPipelineFromDirectory(model, { vaeEncoder: probeSeeds > 0 });
    const edits = qualityEdits(sizes);
    const scores: EditScore[] = [];
    const probes: ProbeResult[] = [];
    const t0 = Date.now();
    const progress = (what: string, i: number, n: number) => {
      if (ctx.interactive)
        process.stderr.write(
          `\r${what}: ${i}/${n} (${((Date.now() - t0) / 1000).toFixed(0)} s)\x1b[K${i === n ? '\n' : ''}`,
        );
    };
    try {
      ctx.out(
        ['#', 'kind', 'attr ok', 'IoU p2p', 'IoU plain', 'bg p2p', 'bg plain', 'untouched', 'edit', 'why not'].join(
          '\t',
        ),
      );
      for (const [i, e] of edits.entries()) {
        const s = await scoreEdit(pipe, e, settings);
        scores.push(s);
        ctx.out(
          [
            i,
            e.kind + (e.blend ? '+blend' : ''),
            s.attributeOk ? 'yes' : 'no',
            fmt(s.iouP2p),
            fmt(s.iouPlain),
            fmt(s.backgroundP2p, 1),
            fmt(s.backgroundPlain, 1),
            fmt(s.untouchedIou),
            `${e.source} → ${e.target}`,
            s.check.reason,
          ].join('\t'),
        );
        progress('edits', i + 1, edits.length);
      }
      if (probeSeeds > 0) {
        ctx.out('');
        ctx.out(['background', 'seed', 'follows', 'with noise mean of', 'follows', 'caption'].join('\t'));
        const n = probeSeeds * 8;
        await runBackgroundProbes(pipe, settings, probeSeeds, (r) => {
          probes.push(r);
          ctx.out(
            [
              r.case.background,
              r.case.seed,
              r.plain ? 'yes' : 'no',
              r.case.noiseColour,
              r.shifted ? 'yes' : 'no',
              r.case.caption,
            ].join('\t'),
          );
          progress('background probes', probes.length, n);
        });
      }
      if (typeof o.out === 'string') {
        await mkdir(o.out, { recursive: true });
        // Rows of source | Prompt-to-Prompt edit | plain generation of the target, ten edits a file.
        for (let k = 0; k < scores.length; k += 10) {
          const part = scores.slice(k, k + 10);
          const images = part.flatMap((s) => [s.images.source, s.images.p2p, s.images.plain]);
          const labels = part.flatMap((s) => [s.edit.source, `p2p: ${s.edit.target}`, 'plain']);
          await writePng(join(o.out, `edits-${String(k).padStart(3, '0')}.png`), imageGrid(images, 3, labels));
        }
        // One row per seed: the 8 backgrounds with plain noise, then with the shifted noise mean.
        if (probes.length) {
          const images = [...probes.map((r) => r.images.plain), ...probes.map((r) => r.images.shifted)];
          const labels = [
            ...probes.map((r) => r.case.caption.replace(/^an? /, '')),
            ...probes.map((r) => `noise: ${r.case.noiseColour}`),
          ];
          await writePng(join(o.out, 'background-probes.png'), imageGrid(images, 8, labels));
        }
      }
    } finally {
      pipe.dispose();
    }
    const measures: QualityMeasures = { ...summarise(scores), ...(probes.length ? summariseProbes(probes) : {}) };
    ctx.out('');
    printSummary(ctx, measures);
    ctx.out(
      JSON.stringify({
        ...measures,
        seconds: Math.round((Date.now() - t0) / 1000),
        steps: settings.steps,
        guidance: settings.guidance,
        probe_seeds: probeSeeds,
      }),
    );
    if (o.check) {
      const missed = missedTargets(measures);
      for (const line of missed) ctx.err(`missed: ${line}`);
      if (missed.length) throw new Error(`${missed.length} of ${QUALITY_TARGETS.length} quality targets missed`);
    }
  },
};
