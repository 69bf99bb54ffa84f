/** Shared pieces of the Prompt-to-Prompt tests: the unit fixture file, its meta, the CLIP tokenizer. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ClipTokenizer } from '../../src/models/clip/tokenizer.js';
import type { AttentionContext, Place } from '../../src/nn/attention-control.js';
import { fixture, fixtureTensor, readJson, tinySdDir } from './reference.js';
import type { Tol } from './close.js';

export const G_UNIT = 'p2p/p2p_g_unit.safetensors';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function p2pIndex(): any {
  return readJson('p2p/index.json');
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function unitMeta(): any {
  return p2pIndex().cases.g_unit.meta;
}

/** Unit float tolerance from index.json (atol 1e-6, rtol 1e-5). */
export function unitTol(): Tol {
  const t = p2pIndex().cases.g_unit.tolerance.float_tensors;
  return { atol: t.atol, rtol: t.rtol };
}

let tok: ClipTokenizer | undefined;
/** The real CLIP tokenizer of tiny-sd. */
export function clipTokenizer(): ClipTokenizer {
  tok ??= ClipTokenizer.fromFiles(
    readFileSync(join(tinySdDir, 'tokenizer', 'vocab.json'), 'utf8'),
    readFileSync(join(tinySdDir, 'tokenizer', 'merges.txt'), 'utf8'),
  );
  return tok;
}

/** A float tensor of the unit fixture as data + shape. */
export function unitFloat(name: string) {
  return fixtureTensor(G_UNIT, name);
}

/** A float tensor of the unit fixture as a tf tensor (caller disposes). */
export async function unitTf<R extends tf.Rank>(name: string): Promise<tf.Tensor<R>> {
  const { data, shape } = await unitFloat(name);
  return tf.tensor(data, shape) as unknown as tf.Tensor<R>;
}

/** An integer tensor (I64) of the unit fixture. */
export async function unitInt(name: string): Promise<Int32Array> {
  return (await fixture(G_UNIT)).readInt32(name);
}

/** An attention context for direct controller calls. */
export function ctxOf(p: {
  isCross: boolean;
  step: number;
  batch: number;
  heads: number;
  height: number;
  width: number;
  keys?: number;
  place?: Place;
  layerIndex?: number;
  numLayers?: number;
  /** The model's latent size (default 64×64: the official 512×512 setting). */
  latent?: { height: number; width: number };
}): AttentionContext {
  const queries = p.height * p.width;
  return {
    isCross: p.isCross,
    place: p.place ?? 'up',
    layerIndex: p.layerIndex ?? 7,
    numLayers: p.numLayers ?? 32,
    blockIndex: 1,
    name: `test.${p.isCross ? 'attn2' : 'attn1'}`,
    step: p.step,
    latent: p.latent ?? { height: 64, width: 64 },
    height: p.height,
    width: p.width,
    queries,
    keys: p.keys ?? (p.isCross ? 77 : queries),
    heads: p.heads,
    batch: p.batch,
  };
}
