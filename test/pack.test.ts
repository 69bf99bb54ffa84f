/**
 * The published package: `npm pack`, installed into a temp project offline, used the way a consumer
 * uses it — (a) an ESM script imports `tfjs-prompt-to-prompt` and `tfjs-prompt-to-prompt/node` and
 * generates 2 steps with the tiny model (the same latents as the sources), (b) `tsc --noEmit` checks
 * a consumer .ts file against the shipped .d.ts, (c) esbuild bundles `tfjs-prompt-to-prompt/browser`
 * (with the platform-neutral entry) for the browser and no `node:` import is left in the bundle.
 *
 * Offline install: the temp project gets a package-lock.json whose entries for the dependencies are
 * copied from this repo's lock (same versions, resolved URLs and integrity hashes) plus the packed
 * tarball as a `file:` dependency, and `npm ci --offline` installs it. npm then takes every
 * dependency tarball from its cache by integrity — the cache that `npm ci` / `npm install` of this
 * repo filled (`.ci/run` runs `npm ci` right before the tests) — and never asks the registry
 * (a plain `npm install --offline` would, for the package metadata, which `npm ci` does not cache).
 * Optional dependencies (tfjs-node) are omitted and install scripts are not run.
 *
 * The package is packed from dist/ as built (`npm test` builds first; run `npm run build` before
 * running this file alone).
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as esbuild from 'esbuild';
import { loadPipelineFromDirectory } from '../src/node/pipeline.js';
import { describeRef, repoRoot, tinySdDir } from './helpers/reference.js';
import { tempDirForSuite } from './helpers/tmp.js';
import { expectClose } from './helpers/close.js';

const run = promisify(execFile);
const NAME = 'tfjs-prompt-to-prompt';
const GENERATE = {
  prompts: ['a cat riding a bicycle'],
  steps: 2,
  seed: 8888,
  height: 64,
  width: 64,
  scheduler: 'ddim',
};

/** Runs a command; on failure the error carries its stderr. */
async function sh(cmd: string, args: string[], cwd: string, timeout = 120_000): Promise<string> {
  try {
    return (
      await run(cmd, args, {
        cwd,
        timeout,
        maxBuffer: 64 * 2 ** 20,
        env: { ...process.env, npm_config_update_notifier: 'false' },
      })
    ).stdout;
  } catch (e) {
    const x = e as Error & { stdout?: string; stderr?: string };
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}: ${x.message}\n${x.stdout ?? ''}\n${x.stderr ?? ''}`);
  }
}

/** Newest modification time of the .ts files under `dir`. */
function newestTs(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newestTs(p));
    else if (e.name.endsWith('.ts')) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

/** package.json + package-lock.json of a consumer project that depends on the tarball only. */
function writeConsumerProject(dir: string, tarball: string): void {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));
  const repoLock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8'));
  const spec = `file:../${tarball}`;
  const integrity = `sha512-${createHash('sha512')
    .update(readFileSync(join(dir, '..', tarball)))
    .digest('base64')}`;
  const packages: Record<string, unknown> = {
    '': { name: 'consumer', version: '1.0.0', dependencies: { [NAME]: spec } },
    [`node_modules/${NAME}`]: {
      version: pkg.version,
      resolved: spec,
      integrity,
      license: pkg.license,
      engines: pkg.engines,
      bin: pkg.bin,
      dependencies: pkg.dependencies,
      optionalDependencies: pkg.optionalDependencies,
    },
  };
  // The dependencies' entries (production and optional, not dev) as this repo resolved them.
  for (const [path, entry] of Object.entries(repoLock.packages as Record<string, Record<string, unknown>>)) {
    if (path && !entry.dev && !entry.link) packages[path] = { ...entry, devOptional: undefined };
  }
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify(
      { name: 'consumer', version: '1.0.0', private: true, type: 'module', dependencies: { [NAME]: spec } },
      null,
      2,
    ),
  );
  writeFileSync(
    join(dir, 'package-lock.json'),
    JSON.stringify({ name: 'consumer', version: '1.0.0', lockfileVersion: 3, requires: true, packages }, null, 2),
  );
}

const GENERATE_SCRIPT = `
import { setLogLevel, StableDiffusionPipeline } from '${NAME}';
import { initNodeBackend, loadPipelineFromDirectory } from '${NAME}/node';
setLogLevel('warn');
await initNodeBackend('wasm');
const pipe = await loadPipelineFromDirectory(process.argv[2]);
if (!(pipe instanceof StableDiffusionPipeline)) throw new Error('two copies of the pipeline class');
const r = await pipe.generate(${JSON.stringify(GENERATE)});
pipe.dispose();
console.log(JSON.stringify({ shape: r.latents.shape, latents: Array.from(r.latents.data) }));
`;

const CONSUMER_TS = `
import { AttentionReplace, HttpFileStore, loadPipeline, type GenerateResult, type StableDiffusionPipeline } from '${NAME}';
import { initNodeBackend, loadPipelineFromDirectory, writeImagePng } from '${NAME}/node';
import { initBrowserBackend } from '${NAME}/browser';

export async function edit(dir: string): Promise<GenerateResult> {
  await initNodeBackend('wasm');
  const pipe: StableDiffusionPipeline = await loadPipelineFromDirectory(dir, { variant: 'fp16', attentionSlice: 1024 });
  const prompts = ['a cat riding a bicycle', 'a dog riding a bicycle'];
  const controller = new AttentionReplace({ tokenizer: pipe.tokenizer, prompts, crossReplaceSteps: 0.8, selfReplaceSteps: 0.4 });
  const r = await pipe.edit({ prompts, steps: 2, controller, onStep: (s) => console.log(s.step, s.itPerSec) });
  await writeImagePng('edit.png', r.images[0]);
  // @ts-expect-error the shipped declarations type the options: prompts is a list
  await pipe.generate({ prompts: 'a cat' });
  return r;
}

export async function inBrowser(url: string): Promise<number> {
  const backend = await initBrowserBackend('auto', { wasmPaths: '/tfjs-wasm/' });
  const pipe = await loadPipeline(new HttpFileStore(url));
  return backend.name.length + pipe.defaultSize;
}
`;

const BROWSER_ENTRY = `
import { initBrowserBackend } from '${NAME}/browser';
import { HttpFileStore, loadPipeline } from '${NAME}';
export async function start(url: string) {
  await initBrowserBackend('auto');
  return loadPipeline(new HttpFileStore(url));
}
`;

describeRef('the packed package, installed offline into a temp project', function () {
  this.timeout(240_000);
  const tmp = tempDirForSuite('pack');
  let proj = '';

  before(async function () {
    this.timeout(120_000);
    const built = join(repoRoot, 'dist', 'src', 'index.js');
    let builtAt = 0;
    try {
      builtAt = statSync(built).mtimeMs;
    } catch {
      throw new Error(`${built} does not exist: run \`npm run build\` first (npm test does)`);
    }
    expect(builtAt, 'dist/ is older than src/: run `npm run build` first (npm test does)').to.be.at.least(
      newestTs(join(repoRoot, 'src')),
    );
    const out = await sh('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp()], repoRoot);
    const tarball = (JSON.parse(out) as { filename: string }[])[0].filename;
    proj = join(tmp(), 'consumer');
    mkdirSync(proj);
    writeConsumerProject(proj, tarball);
    await sh('npm', ['ci', '--offline', '--omit=optional', '--ignore-scripts', '--no-audit', '--no-fund'], proj);
  });

  it('ships the built library, its declarations, the bundled configs, the demo model and the native sources its install script builds', () => {
    const root = join(proj, 'node_modules', NAME);
    expect(readdirSync(root).sort()).to.deep.equal([
      'README.md',
      'dist',
      'examples',
      'models',
      'native',
      'package.json',
      'weights-tools',
    ]);
    // `npm install` runs native/install.mjs: it and what it builds from must be in the package.
    expect(readdirSync(join(root, 'native')).sort()).to.deep.equal(['binding.gyp', 'install.mjs', 'src']);
    expect(statSync(join(root, 'models', 'shapes', 'model_index.json')).isFile()).to.equal(true);
    for (const set of ['sd15', 'sd21', 'sd21-base', 'sdxl'])
      expect(statSync(join(root, 'weights-tools', `${set}-config`, 'model_index.json')).isFile(), set).to.equal(true);
    expect(statSync(join(root, 'weights-tools', 'sdxl-config', 'text_encoder_2', 'config.json')).isFile()).to.equal(
      true,
    );
    expect(readdirSync(join(root, 'dist')).sort()).to.deep.equal(['src', 'weights-tools']);
    for (const f of ['index', 'node/index', 'browser/index']) {
      expect(statSync(join(root, 'dist', 'src', `${f}.js`)).isFile(), f).to.equal(true);
      expect(statSync(join(root, 'dist', 'src', `${f}.d.ts`)).isFile(), f).to.equal(true);
    }
  });

  it('(a) an ESM script imports "." and "./node" and generates 2 steps: the latents of the sources', async () => {
    writeFileSync(join(proj, 'generate.mjs'), GENERATE_SCRIPT);
    const got = JSON.parse(await sh(process.execPath, ['generate.mjs', tinySdDir], proj)) as {
      shape: number[];
      latents: number[];
    };
    const pipe = await loadPipelineFromDirectory(tinySdDir);
    const want = await pipe.generate(GENERATE);
    pipe.dispose();
    expect(got.shape).to.deep.equal([1, 4, 8, 8]).and.deep.equal(want.latents.shape);
    const [a, b] = [tf.tensor(got.latents), tf.tensor(want.latents.data)];
    expectClose(a, b, { atol: 1e-5, rtol: 1e-5 }, 'packaged vs source latents');
    tf.dispose([a, b]);
    const help = await sh(join(proj, 'node_modules', '.bin', 'ptp'), ['--help'], proj);
    expect(help).to.contain('edit');
  });

  it('(b) a consumer .ts file type-checks against the shipped .d.ts (and a type error in it is caught)', async () => {
    writeFileSync(join(proj, 'consumer.ts'), CONSUMER_TS);
    const tsconfig = {
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        lib: ['ES2022', 'DOM'],
        skipLibCheck: true,
        types: ['node'],
        typeRoots: [join(repoRoot, 'node_modules', '@types')],
      },
      files: ['consumer.ts'],
    };
    writeFileSync(join(proj, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
    const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
    await sh(process.execPath, [tsc, '-p', 'tsconfig.json'], proj);
    // The same file without the expected error must fail: the declarations are really checked.
    writeFileSync(join(proj, 'consumer.ts'), CONSUMER_TS.replace('// @ts-expect-error', '//'));
    const failed = await sh(process.execPath, [tsc, '-p', 'tsconfig.json'], proj).then(
      () => '',
      (e: Error) => e.message,
    );
    expect(failed).to.match(/consumer\.ts\(\d+,\d+\): error TS2322/);
  });

  it('(c) "./browser" and "." bundle for the browser with no node: import left', async () => {
    writeFileSync(join(proj, 'browser-entry.ts'), BROWSER_ENTRY);
    const r = await esbuild.build({
      absWorkingDir: proj,
      entryPoints: ['browser-entry.ts'],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      logLevel: 'silent',
      // tfjs-backend-wasm's emscripten glue requires these only when it runs in Node (as in test/browser.test.ts).
      external: ['fs', 'path', 'os', 'worker_threads', 'perf_hooks', 'crypto', 'util'],
    });
    const code = r.outputFiles[0].text;
    expect(code.length).to.be.greaterThan(100_000);
    expect(code).to.contain('initBrowserBackend');
    expect(code.match(/(?:from|import|require)\s*\(?\s*["']node:[^"']*["']/g) ?? []).to.deep.equal([]);
  });
});
