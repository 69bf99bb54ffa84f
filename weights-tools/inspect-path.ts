/**
 * `inspect` on a path (Node): a `.safetensors` file, a diffusers model directory (with
 * model_index.json), or one component folder (config.json + weights). Loads through the same
 * code real pipelines use (openModelDir / SafetensorsFile), so a clean inspect means loadable.
 */
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { ModelDirError } from '../src/io/model-dir.js';
import { isPickleName, pickleError } from '../src/io/pickle.js';
import { SafetensorsFile } from '../src/io/safetensors.js';
import { findWeightFiles } from '../src/io/weight-files.js';
import { SafetensorsWeightSource } from '../src/io/weights.js';
import { NodeFileStore } from '../src/node/file-store.js';
import { FileByteSource } from '../src/node/file-source.js';
import { openModelDirectory } from '../src/node/model-dir.js';
import { checkWeights, type CheckResult } from './check.js';
import { makeGroup, summarizeFile, summarizeModelDir, type Summary } from './inspect.js';

export interface InspectPathOptions {
  /** Preferred weights variant in model directories (e.g. "fp16"). */
  variant?: string;
  /** Also read every tensor and look for non-finite values. */
  check?: boolean;
}

export interface InspectPathResult {
  summary: Summary;
  checks?: CheckResult[];
}

async function inspectFile(path: string, opts: InspectPathOptions): Promise<InspectPathResult> {
  if (isPickleName(path)) throw pickleError(path);
  const file = await SafetensorsFile.open(await FileByteSource.open(path));
  try {
    const summary = summarizeFile(file);
    const checks = opts.check ? [await checkWeights(path, new SafetensorsWeightSource([file]))] : undefined;
    return { summary, checks };
  } finally {
    await file.close();
  }
}

async function inspectModelDir(path: string, opts: InspectPathOptions): Promise<InspectPathResult> {
  // Notes are part of the summary; do not log them a second time.
  const dir = await openModelDirectory(path, { variant: opts.variant, onNote: () => {} });
  try {
    const summary = summarizeModelDir(dir);
    const checks: CheckResult[] = [];
    if (opts.check) for (const c of dir.weightComponents()) checks.push(await checkWeights(c, dir.weights(c)));
    return { summary, checks: opts.check ? checks : undefined };
  } finally {
    await dir.close();
  }
}

async function inspectComponentDir(path: string, opts: InspectPathOptions): Promise<InspectPathResult> {
  const store = new NodeFileStore(path);
  const found = await findWeightFiles(store, '', opts.variant);
  if (!found.files) {
    throw new ModelDirError(store.name, [
      'missing: model_index.json (not a diffusers pipeline folder)',
      ...found.problems.map((p) => `${p} (not a component folder either)`),
    ]);
  }
  const files: SafetensorsFile[] = [];
  try {
    for (const f of found.files.files) files.push(await SafetensorsFile.open(await store.openBytes(f)));
    const src = new SafetensorsWeightSource(files);
    const rows = files
      .flatMap((f) => summarizeFile(f).groups.flatMap((g) => g.tensors))
      .sort((a, b) => (a.key < b.key ? -1 : 1));
    const group = makeGroup(basename(path), [...found.files.files], rows, found.files.variant);
    const summary: Summary = {
      kind: 'model-dir',
      root: store.name,
      groups: [group],
      notes: found.notes,
      tensorCount: rows.length,
      params: group.params,
      bytes: group.bytes,
    };
    return { summary, checks: opts.check ? [await checkWeights(group.name, src)] : undefined };
  } finally {
    for (const f of files) await f.close();
  }
}

/** Summarises (and optionally checks) what is at `path`. */
export async function inspectPath(path: string, opts: InspectPathOptions = {}): Promise<InspectPathResult> {
  let isDir: boolean;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch (e) {
    throw new Error(`${path}: cannot inspect (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (!isDir) return inspectFile(path, opts);
  if (await new NodeFileStore(path).exists('model_index.json')) return inspectModelDir(path, opts);
  return inspectComponentDir(path, opts);
}
