/** Access to ../shared/reference (the PyTorch reference fixtures) for parity tests. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { FileByteSource } from '../../src/node/file-source.js';
import { describeNeeding } from './requirement.js';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The reference folder: PTP_REFERENCE_DIR or ../shared/reference beside the repo. */
export const referenceDir = process.env.PTP_REFERENCE_DIR ?? resolve(repoRoot, '..', 'shared', 'reference');
export const hasReference = existsSync(join(referenceDir, 'README.md'));
export const tinySdDir = join(referenceDir, 'tiny-sd');

/** Why the reference fixtures cannot be used, or undefined when they can. */
export const referenceMissing = hasReference
  ? undefined
  : `the reference fixtures (${referenceDir}/README.md not found)`;

/**
 * `describe` for suites that read the reference fixtures: skipped loudly when they are missing,
 * a failure instead when PTP_REQUIRE_REFERENCE is set (as in CI).
 */
export function describeRef(title: string, fn: (this: Mocha.Suite) => void): void {
  describeNeeding(title, referenceMissing, 'PTP_REQUIRE_REFERENCE', fn);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the fixtures' JSON, read untyped by most suites
export function readJson<T = any>(rel: string): T {
  return JSON.parse(readFileSync(join(referenceDir, rel), 'utf8')) as T;
}

const opened = new Map<string, Promise<SafetensorsFile>>();
/** Opens a fixture safetensors file (path relative to the reference dir), cached. */
export function fixture(rel: string): Promise<SafetensorsFile> {
  let f = opened.get(rel);
  if (!f) {
    f = FileByteSource.open(join(referenceDir, rel)).then((s) => SafetensorsFile.open(s));
    opened.set(rel, f);
  }
  return f;
}

export interface Fixture {
  data: Float32Array;
  shape: number[];
}

/** One tensor of a fixture file as float32 + shape. */
export async function fixtureTensor(rel: string, name: string): Promise<Fixture> {
  const f = await fixture(rel);
  return { data: await f.readFloat32(name), shape: [...f.info(name).shape] };
}

/** One tensor of a fixture file as a tf tensor (caller disposes). */
export async function fixtureTf(rel: string, name: string): Promise<tf.Tensor> {
  const { data, shape } = await fixtureTensor(rel, name);
  return tf.tensor(data, shape);
}

/** NCHW fixture → NHWC tensor. */
export async function fixtureNhwc(rel: string, name: string): Promise<tf.Tensor4D> {
  const t = (await fixtureTf(rel, name)) as tf.Tensor4D;
  const out = tf.transpose(t, [0, 2, 3, 1]);
  t.dispose();
  return out;
}

/** Tolerance recorded in cases/index.json for one output. */
export function caseTolerance(caseName: string, output: string): { atol: number; rtol: number } {
  const idx = readJson('cases/index.json');
  const t = idx.cases[caseName]?.tolerance?.[output];
  if (!t) throw new Error(`no tolerance for ${caseName}.${output} in cases/index.json`);
  return { atol: t.atol, rtol: t.rtol };
}

/**
 * The README's tolerance rule ("Numerical noise and suggested tolerances": atol = max(20 × the
 * fp32-vs-fp64 error, 1e-5, 1e-4 × max|value|), rtol = 1e-4) for a fixture tensor that
 * index.json gives no tolerance for, applied to the tensor's own values. The fp32-vs-fp64 term
 * is not recorded for such intermediates; `fp32Error` supplies an estimate when it matters.
 */
export function ruleTolerance(values: ArrayLike<number>, fp32Error = 0): { atol: number; rtol: number } {
  let max = 0;
  for (let i = 0; i < values.length; i++) max = Math.max(max, Math.abs(values[i]));
  return { atol: Math.max(20 * fp32Error, 1e-5, 1e-4 * max), rtol: 1e-4 };
}
