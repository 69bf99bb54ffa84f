/**
 * Imports run one way. Every module of src/ belongs to a layer, and may import only from its own
 * layer or the layers below it:
 *
 *   util < draw < world < io < backend < nn < models < ptp < pipeline < train < shapes < index (src/index.ts)
 *     < node | browser < cli
 *
 *   util      logging, image types                 src/util
 *   draw      pure drawing: font, lines, labelled grids, plots  src/draw
 *   world     the procedural shapes world (self-contained)  src/shapes/world
 *   io        files, safetensors, model dirs, configs  src/io
 *   backend   backend selection, wasm kernels      src/backend
 *   nn        layers, weights, the attention seam  src/nn
 *   models    CLIP, UNet, VAE, schedulers, random  src/models
 *   ptp       Prompt-to-Prompt controllers         src/ptp
 *   pipeline  sampling, the SD pipeline, loading   src/pipeline
 *   train     training objectives, optimiser, schedules (platform-neutral)  src/train
 *   shapes    the shapes demo model: configs, data, latent pool (platform-neutral)  src/shapes (but src/shapes/world)
 *   index     the platform-neutral entry point     src/index.ts
 *   node, browser  the platform edges (siblings: neither imports the other)  src/node, src/browser
 *   cli       the `ptp` command (may also use weights-tools/)  src/cli
 *
 * Also: only src/node and src/cli import Node built-ins (`node:*`, `fs`, ...) or Node-only packages.
 * The web page (web/page/, outside src/: the top of the stack, next to the cli) imports the library
 * only through its browser-safe entry points src/index.ts and src/browser/index.ts.
 * Imports are read with TypeScript's own pre-processor (static, re-exports, side-effect and dynamic
 * imports; comments ignored).
 */
import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { repoRoot } from './helpers/reference.js';

const LAYERS = [
  'util',
  'draw',
  'world',
  'io',
  'backend',
  'nn',
  'models',
  'ptp',
  'pipeline',
  'train',
  'shapes',
  'index',
  'node',
  'browser',
  'cli',
] as const;
type Layer = (typeof LAYERS)[number];
/** Rank of each layer; node and browser share one (siblings). */
const RANK: Record<Layer, number> = {
  util: 0,
  draw: 1,
  world: 2,
  io: 3,
  backend: 4,
  nn: 5,
  models: 6,
  ptp: 7,
  pipeline: 8,
  train: 9,
  shapes: 10,
  index: 11,
  node: 12,
  browser: 12,
  cli: 13,
};
const NODE_ONLY_PACKAGES = ['pngjs', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'];
const NODE_LAYERS: readonly Layer[] = ['node', 'cli'];

/** Folders whose layer is not their top folder's. */
const NESTED_LAYERS: Readonly<Record<string, Layer>> = { 'shapes/world': 'world' };

/** The layer of a path relative to src/ (posix), or undefined. */
function layerOf(rel: string): Layer | undefined {
  if (rel === 'index.ts') return 'index';
  const nested = Object.keys(NESTED_LAYERS).find((dir) => rel.startsWith(`${dir}/`));
  if (nested) return NESTED_LAYERS[nested];
  const top = rel.split('/')[0];
  const topLayer =
    (LAYERS as readonly string[]).includes(top) &&
    top !== 'index' &&
    !Object.values(NESTED_LAYERS).includes(top as Layer);
  return topLayer ? (top as Layer) : undefined;
}

interface SourceFile {
  /** Path relative to src/, posix separators. */
  path: string;
  imports: string[];
}

/** Whether a bare import names a Node built-in or a Node-only package. */
function isNodeOnly(spec: string): boolean {
  const bare = spec.replace(/^node:/, '');
  return (
    spec.startsWith('node:') ||
    builtinModules.includes(bare.split('/')[0]) ||
    NODE_ONLY_PACKAGES.some((p) => spec === p || spec.startsWith(`${p}/`))
  );
}

/** Every rule violation of `files`, one line each. */
function layerViolations(files: readonly SourceFile[]): string[] {
  const out: string[] = [];
  for (const f of files) {
    const from = layerOf(f.path);
    if (!from) {
      out.push(`${f.path}: not in any layer (${LAYERS.join(', ')})`);
      continue;
    }
    for (const spec of f.imports) {
      if (spec.startsWith('.')) {
        const target = join(dirname(f.path), spec).split('\\').join('/');
        if (target.startsWith('..')) {
          if (from !== 'cli')
            out.push(`${f.path}: imports ${spec}, outside src/ (only the cli may use weights-tools/)`);
          continue;
        }
        const to = layerOf(target);
        if (!to) out.push(`${f.path}: imports ${spec}, which is in no layer`);
        else if (RANK[to] > RANK[from]) out.push(`${f.path} (${from}) imports ${spec} from the layer above it (${to})`);
        else if (RANK[to] === RANK[from] && to !== from)
          out.push(`${f.path} (${from}) imports ${spec} from its sibling layer ${to}`);
        continue;
      }
      if (isNodeOnly(spec) && !NODE_LAYERS.includes(from))
        out.push(`${f.path} (${from}) imports the Node-only module ${spec}`);
    }
  }
  return out;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

function readSources(): SourceFile[] {
  return readSourcesOf(resolve(repoRoot, 'src'));
}

/** Violations of the web page's rule: web/page/ (browser code) uses the library only through its public browser-safe entry points. */
function webPageViolations(files: readonly SourceFile[]): string[] {
  // The probe is an entry point of its own (`tfjs-prompt-to-prompt/browser/webgpu-probe`): it loads
  // no tfjs, so the page's main thread can build its backend menu without the library.
  const entries = ['src/index.ts', 'src/browser/index.ts', 'src/browser/webgpu-probe.ts'];
  const out: string[] = [];
  for (const f of files) {
    for (const spec of f.imports) {
      if (spec.startsWith('.')) {
        const target = join('web/page', dirname(f.path), spec).split('\\').join('/').replace(/\.js$/, '.ts');
        if (!target.startsWith('web/page/') && !entries.includes(target))
          out.push(`web/page/${f.path} imports ${spec}: use the entry points ${entries.join(', ')}`);
        continue;
      }
      if (isNodeOnly(spec)) {
        out.push(`web/page/${f.path} imports the Node-only module ${spec}`);
      }
    }
  }
  return out;
}

function readSourcesOf(dir: string): SourceFile[] {
  return sourceFiles(dir).map((p) => ({
    path: relative(dir, p).split('\\').join('/'),
    imports: ts.preProcessFile(readFileSync(p, 'utf8'), true, true).importedFiles.map((i) => i.fileName),
  }));
}

describe('layering: imports run one way', () => {
  it('no module of src/ imports from a layer above it, a sibling platform, or Node outside src/node and src/cli', () => {
    const files = readSources();
    expect(files.length).to.be.greaterThan(100);
    expect(files.reduce((n, f) => n + f.imports.length, 0)).to.be.greaterThan(400);
    expect(layerViolations(files)).to.deep.equal([]);
  });

  it('the rules catch upward, sibling, outside and Node-only imports (multi-line, re-exports, dynamic)', () => {
    const text = [
      "import {\n  a,\n  b,\n} from '../ptp/store.js';",
      "export { c } from '../pipeline/load.js';",
      "import '../browser/backend.js';",
      "const m = await import('node:fs');",
      "// import { x } from '../cli/cli.js'; (a comment)",
      "import { y } from './norm.js';",
    ].join('\n');
    const imports = ts.preProcessFile(text, true, true).importedFiles.map((i) => i.fileName);
    expect(imports).to.deep.equal([
      '../ptp/store.js',
      '../pipeline/load.js',
      '../browser/backend.js',
      'node:fs',
      './norm.js',
    ]);
    expect(layerViolations([{ path: 'nn/x.ts', imports }])).to.deep.equal([
      'nn/x.ts (nn) imports ../ptp/store.js from the layer above it (ptp)',
      'nn/x.ts (nn) imports ../pipeline/load.js from the layer above it (pipeline)',
      'nn/x.ts (nn) imports ../browser/backend.js from the layer above it (browser)',
      'nn/x.ts (nn) imports the Node-only module node:fs',
    ]);
    expect(
      layerViolations([{ path: 'node/x.ts', imports: ['../browser/backend.js', 'node:fs', 'pngjs'] }]),
    ).to.deep.equal(['node/x.ts (node) imports ../browser/backend.js from its sibling layer browser']);
    expect(
      layerViolations([{ path: 'ptp/x.ts', imports: ['pngjs', 'fs', '../../weights-tools/convert.js'] }]),
    ).to.have.length(3);
    expect(
      layerViolations([{ path: 'shapes/world/x.ts', imports: ['../data.js', '../../draw/font.js', './rng.js'] }]),
    ).to.deep.equal(['shapes/world/x.ts (world) imports ../data.js from the layer above it (shapes)']);
    expect(layerViolations([{ path: 'shapes/x.ts', imports: ['./world/index.js', '../train/ema.js'] }])).to.deep.equal(
      [],
    );
    expect(layerViolations([{ path: 'world/x.ts', imports: [] }])).to.have.length(1);
    expect(layerViolations([{ path: 'extra/x.ts', imports: [] }])).to.deep.equal([
      'extra/x.ts: not in any layer (util, draw, world, io, backend, nn, models, ptp, pipeline, train, shapes, index, node, browser, cli)',
    ]);
  });

  it('the web page (web/page) uses the library only through its entry points (src/index.ts, src/browser/index.ts, the tfjs-free WebGPU probe), and no Node module', () => {
    const files = readSourcesOf(resolve(repoRoot, 'web/page'));
    expect(files.length).to.be.greaterThan(5);
    expect(webPageViolations(files)).to.deep.equal([]);
    expect(
      webPageViolations([
        {
          path: 'x.ts',
          imports: [
            './settings.js',
            '../../src/index.js',
            '../../src/browser/index.js',
            '@tensorflow/tfjs-core',
            '../../src/ptp/store.js',
            '../server.js',
            'node:fs',
            'pngjs',
          ],
        },
      ]),
    ).to.deep.equal([
      'web/page/x.ts imports ../../src/ptp/store.js: use the entry points src/index.ts, src/browser/index.ts, src/browser/webgpu-probe.ts',
      'web/page/x.ts imports ../server.js: use the entry points src/index.ts, src/browser/index.ts, src/browser/webgpu-probe.ts',
      'web/page/x.ts imports the Node-only module node:fs',
      'web/page/x.ts imports the Node-only module pngjs',
    ]);
  });
});
