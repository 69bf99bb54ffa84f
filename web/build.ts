/**
 * Builds the web page into a folder of static files (Node, esbuild):
 *   index.html, style.css, app.js (the page), worker.js (the model worker), tfjs-wasm/*.wasm,
 *   and models/shapes/ (the shipped demo model, copied when it exists).
 * Any static server that answers HTTP range requests can host the folder; with the COOP/COEP
 * headers the wasm backend uses threads (web/serve.ts sends them).
 */
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { demoModelDir, packageRoot } from '../src/node/package-files.js';

/** Where `npm run web` builds to. */
export const defaultOutDir = join(packageRoot(), 'dist', 'web-app');

/**
 * esbuild options for the library bundled for browsers (also used by test/browser.test.ts):
 * tfjs' wasm backend mentions Node built-ins on code paths the browser never takes.
 */
export const browserBundleOptions: esbuild.BuildOptions = {
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  logLevel: 'error',
  external: ['fs', 'path', 'os', 'worker_threads', 'perf_hooks', 'crypto', 'util'],
};

export interface BuildOptions {
  /** Output folder (emptied first). Default dist/web-app. */
  outDir?: string;
  /** Copy the demo model into models/shapes/ (default true; skipped with a note when it is missing). */
  copyModel?: boolean;
  /** Minify the scripts (default true). */
  minify?: boolean;
}

export interface BuildResult {
  outDir: string;
  /** Whether models/shapes/ was copied. */
  model: boolean;
}

/** Builds the page; returns where it is. */
export async function buildPage(opts: BuildOptions = {}): Promise<BuildResult> {
  const outDir = resolve(opts.outDir ?? defaultOutDir);
  const page = join(packageRoot(), 'web', 'page');
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(join(outDir, 'tfjs-wasm'), { recursive: true });
  await esbuild.build({
    ...browserBundleOptions,
    entryPoints: { app: join(page, 'main.ts'), worker: join(page, 'worker.ts') },
    outdir: outDir,
    minify: opts.minify ?? true,
    sourcemap: 'linked',
  });
  for (const f of ['index.html', 'style.css']) copyFileSync(join(page, f), join(outDir, f));
  const wasmDir = join(packageRoot(), 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist');
  for (const f of readdirSync(wasmDir).filter((n) => n.endsWith('.wasm')))
    copyFileSync(join(wasmDir, f), join(outDir, 'tfjs-wasm', f));
  const model = (opts.copyModel ?? true) && existsSync(join(demoModelDir(), 'model_index.json'));
  if (model) cpSync(demoModelDir(), join(outDir, 'models', 'shapes'), { recursive: true });
  return { outDir, model };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = process.argv[2];
  buildPage({ outDir: out }).then(
    (r) =>
      console.log(
        `built the page in ${r.outDir}${r.model ? ' (with models/shapes)' : '; models/shapes is missing: the default model will not load until it is there'}`,
      ),
    (e: Error) => {
      console.error(`web build failed: ${e.message.split('\n')[0]}`);
      process.exit(1);
    },
  );
}
