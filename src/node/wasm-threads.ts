/**
 * The multi-threaded SIMD build of tfjs-backend-wasm in Node.
 *
 * The package turns threads off in Node (WASM_HAS_MULTITHREAD_SUPPORT is false there), starts
 * its pthread workers and main script from Blob URLs that Node's worker_threads cannot load,
 * and its C++ side caps the thread count at "logical cores / 2". This module evaluates a copy
 * of the package's Node bundle with three text edits:
 *  1. the pthread worker source is written to a temp file whose path `locateFile` returns;
 *  2. the main script handed to the workers is a temp file that defines the bundler-scoped
 *     names the factory uses (require$$0…4, commonjsGlobal, __dirname) before the factory;
 *  3. the core count the C++ side sees is 2 × the wanted threads, so setThreadsCount(n) gives n;
 *  4. a worker running a pthread is not ref'd: XNNPACK's pool threads run for the life of
 *     the backend and would otherwise keep the process from exiting;
 * then forces the threads flag. The edits match tfjs-backend-wasm 4.22.0 exactly; any other
 * version, or any pattern not found, is an error (the caller falls back to single-threaded).
 */
import { createRequire } from 'node:module';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import vm from 'node:vm';

/** The tfjs-backend-wasm version the patches are written against. */
export const PINNED_WASM_VERSION = '4.22.0';

/** What the callers use of the backend package's exports. */
export interface WasmPackage {
  setThreadsCount(n: number): void;
  getThreadsCount(): number;
  version_wasm: string;
}

export interface ThreadedBundleOptions {
  /** Threads XNNPACK should use. */
  threads: number;
  /** Overrides the resolved bundle (tests). */
  bundlePath?: string;
  /** Overrides the pinned version (tests). */
  expectVersion?: string;
}

const require = createRequire(import.meta.url);

function replaceOnce(src: string, what: string, pattern: RegExp, replacement: string): string {
  const matches = src.match(
    new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : pattern.flags + 'g'),
  );
  if (!matches || matches.length !== 1) {
    throw new Error(`cannot patch tfjs-backend-wasm (${what}): expected 1 match, found ${matches?.length ?? 0}`);
  }
  // A function replacement: '$$' in a string replacement would turn into '$'.
  return src.replace(pattern, () => replacement);
}

let tempDir: string | undefined;
function tempFile(name: string, text: string): string {
  if (!tempDir) {
    tempDir = mkdtempSync(join(tmpdir(), 'ptp-wasm-threads-'));
    const dir = tempDir;
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  const path = join(tempDir, name);
  writeFileSync(path, text);
  return path;
}

/**
 * Evaluates the patched Node bundle and returns its exports (it registers the 'wasm' backend
 * and its kernels with tfjs-core, as importing the package would). Throws, before evaluating
 * anything, when the installed version or the bundle text is not the expected one.
 */
export function loadThreadedWasmBundle(opts: ThreadedBundleOptions): WasmPackage {
  const pkgPath = require.resolve('@tensorflow/tfjs-backend-wasm/package.json');
  const version = (JSON.parse(readFileSync(pkgPath, 'utf8')) as { version: string }).version;
  const expect = opts.expectVersion ?? PINNED_WASM_VERSION;
  if (version !== expect)
    throw new Error(`tfjs-backend-wasm ${version} is installed; the thread patches are for ${expect}`);
  const bundlePath = opts.bundlePath ?? join(dirname(pkgPath), 'dist', 'tf-backend-wasm.node.js');
  let src = readFileSync(bundlePath, 'utf8');

  src = replaceOnce(
    src,
    'pthread worker loader',
    /var response = wasmWorkerContents\.replace\(\/\\n\/g, '\\\\n'\);\s*var blob = new Blob\(\[response\], \{ type: 'application\/javascript' \}\);\s*return URL\.createObjectURL\(blob\);/,
    'return __ptpWorkerFile(wasmWorkerContents);',
  );
  src = replaceOnce(
    src,
    'main script for the workers',
    /factoryConfig\.mainScriptUrlOrBlob = new Blob\(\["var WasmBackendModuleThreadedSimd = " \+\s*wasmFactoryThreadedSimd\.toString\(\)\], \{ type: 'text\/javascript' \}\);/,
    'factoryConfig.mainScriptUrlOrBlob = __ptpMainScript(wasmFactoryThreadedSimd.toString());',
  );
  src = replaceOnce(src, 'logical core count', /return require\$\$4\.cpus\(\)\.length;/, 'return __ptpLogicalCores;');
  src = replaceOnce(
    src,
    'pthread keep-alive',
    /worker\.runPthread = function \(\) \{ if \(ENVIRONMENT_IS_NODE\) \{\s*worker\.ref\(\);\s*\}/,
    'worker.runPthread = function () {',
  );

  const distDir = dirname(bundlePath);
  const logicalCores = 2 * opts.threads;
  const workerFile = (contents: string) => tempFile('tfjs-wasm-pthread.worker.cjs', contents.replace(/\n/g, '\\n'));
  const mainScript = (factory: string) =>
    tempFile(
      'tfjs-wasm-threaded-main.cjs',
      [
        "var require$$0 = require('fs');",
        "var require$$1 = require('path');",
        "var require$$3 = require('perf_hooks');",
        "var require$$4 = require('os');",
        'var commonjsGlobal = globalThis;',
        `var __dirname = ${JSON.stringify(distDir)};`,
        `var __ptpLogicalCores = ${logicalCores};`,
        `var WasmBackendModuleThreadedSimd = ${factory}`,
      ].join('\n'),
    );

  const params = [
    'exports',
    'require',
    'module',
    '__filename',
    '__dirname',
    '__ptpWorkerFile',
    '__ptpMainScript',
    '__ptpLogicalCores',
  ];
  const fn = vm.compileFunction(src, params, { filename: bundlePath });
  const mod = { exports: {} as WasmPackage };
  fn.call(
    mod.exports,
    mod.exports,
    createRequire(bundlePath),
    mod,
    bundlePath,
    distDir,
    workerFile,
    mainScript,
    logicalCores,
  );
  return mod.exports;
}
