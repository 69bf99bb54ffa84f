/** The Prompt-to-Prompt pipeline cases of p2p/index.json: their controllers, tolerances and error measures. */
import { expect } from 'chai';
import { AttentionStore } from '../../src/ptp/store.js';
import { AttentionEdit } from '../../src/ptp/edit.js';
import { AttentionReplace } from '../../src/ptp/replace.js';
import { AttentionRefine } from '../../src/ptp/refine.js';
import { AttentionReweight } from '../../src/ptp/reweight.js';
import { LocalBlend } from '../../src/ptp/local-blend.js';
import { getEqualizer } from '../../src/ptp/equalizer.js';
import type { CrossReplaceSteps, StepBounds } from '../../src/ptp/schedule.js';
import type { PromptTokenizer } from '../../src/models/clip/tokenizer.js';
import * as tf from '@tensorflow/tfjs-core';
import { currentBackend } from '../../src/backend/select.js';
import { readJson } from './reference.js';

/** A controller as index.json records it (official constructor arguments). */
export interface ControllerSpec {
  type: 'AttentionStore' | 'AttentionReplace' | 'AttentionRefine' | 'AttentionReweight';
  cross_replace_steps?: number | Record<string, number>;
  self_replace_steps?: number;
  local_blend?: { words: string[]; threshold: number };
  equalizer?: { text: string; words: string[]; values: number[] };
  prev_controller?: ControllerSpec;
}

export interface PipelineCase {
  name: string;
  file: string;
  /** "sdxl" for the SD-XL cases (tiny-sdxl, Euler); absent for the SD-1 cases (tiny-sd, DDIM). */
  pipeline?: string;
  prompts: string[];
  controller: ControllerSpec;
  seed: number;
  steps: number;
  guidance_scale: number;
  extra?: Record<string, unknown>;
  tensors: Record<string, { shape: number[]; dtype: string }>;
}

export interface PipelineTolerance {
  /** max|ours − ref| ≤ latentsRel · max|ref| per tensor. */
  latentsRel: number;
  imageAtol: number;
  u8MaxAbs: number;
  agg: { atol: number; rtol: number };
}

/** The pipeline cases (kind "pipeline") of the SD-1 model (tiny-sd), or of `pipeline` ("sdxl"), in file order. */
export function pipelineCases(pipeline?: 'sdxl'): PipelineCase[] {
  const idx = readJson('p2p/index.json');
  return Object.entries(idx.cases)
    .map(([name, c]) => ({ name, ...(c as Omit<PipelineCase, 'name'> & { kind: string }) }))
    .filter((c) => c.kind === 'pipeline' && c.pipeline === pipeline);
}

/**
 * Tolerances of a case from index.json. c2_replace_localblend_partial has no entry; the README gives
 * the same tolerances for every pipeline case, so those of a_attention_store (the full set) apply.
 */
export function pipelineTolerance(name: string): PipelineTolerance {
  const cases = readJson('p2p/index.json').cases;
  const t = cases[name].tolerance ?? cases.a_attention_store.tolerance;
  const agg = cases.a_attention_store.tolerance['agg_*/avg_*'];
  return {
    latentsRel: t['latents_per_step/final_latents'].max_abs_over_max_ref,
    imageAtol: t.image.atol,
    u8MaxAbs: t.image_u8.max_abs,
    agg: { atol: agg.atol, rtol: agg.rtol },
  };
}

/** Tolerances of an SD-XL case (index.json `cases.sdxl_p2p_*.tolerance`; image, agg and blend maps only where the case has them). */
export interface SdxlTolerance {
  latentsRel: number;
  u8MaxAbs: number;
  conditioningAtol: number;
  imageAtol?: number;
  agg?: { atol: number; rtol: number };
  blendMapsAtol?: number;
}

export function sdxlTolerance(name: string): SdxlTolerance {
  const t = readJson('p2p/index.json').cases[name].tolerance;
  return {
    latentsRel: t['latents_per_step/final_latents'].max_abs_over_max_ref,
    u8MaxAbs: t.image_u8.max_abs,
    conditioningAtol: t['prompt_embeds/pooled_prompt_embeds/add_text_embeds'].atol,
    imageAtol: t.image?.atol,
    agg: t['agg_*'] && { atol: t['agg_*'].atol, rtol: t['agg_*'].rtol },
    blendMapsAtol: t.local_blend_maps16?.atol,
  };
}

/** The official controller of a case (LocalBlend words: one per prompt, as `LocalBlend(prompts, words)`). */
export function buildController(
  tokenizer: PromptTokenizer,
  spec: ControllerSpec,
  prompts: string[],
  numSteps: number,
): AttentionStore {
  if (spec.type === 'AttentionStore') return new AttentionStore({ numPrompts: prompts.length });
  return buildEdit(tokenizer, spec, prompts, numSteps);
}

function buildEdit(
  tokenizer: PromptTokenizer,
  spec: ControllerSpec,
  prompts: string[],
  numSteps: number,
): AttentionEdit {
  const lb = spec.local_blend;
  const common = {
    tokenizer,
    prompts,
    numSteps,
    crossReplaceSteps: spec.cross_replace_steps as CrossReplaceSteps,
    selfReplaceSteps: spec.self_replace_steps as StepBounds,
    localBlend: lb ? new LocalBlend(tokenizer, prompts, lb.words, { threshold: lb.threshold }) : undefined,
  };
  switch (spec.type) {
    case 'AttentionReplace':
      return new AttentionReplace(common);
    case 'AttentionRefine':
      return new AttentionRefine(common);
    case 'AttentionReweight': {
      const eq = spec.equalizer!;
      return new AttentionReweight({
        ...common,
        equalizer: getEqualizer(tokenizer, eq.text, eq.words, eq.values),
        prev: spec.prev_controller ? buildEdit(tokenizer, spec.prev_controller, prompts, numSteps) : undefined,
      });
    }
    default:
      throw new Error(`unknown controller type ${spec.type}`);
  }
}

/** max|a − b| and max|b|. */
export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): { maxAbs: number; maxRef: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs reference ${b.length}`);
  let maxAbs = 0;
  let maxRef = 0;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    maxAbs = d > maxAbs || Number.isNaN(d) ? d : maxAbs;
    maxRef = Math.max(maxRef, Math.abs(b[i]));
  }
  return { maxAbs, maxRef };
}

/** max|a − b| / max|b| of each of `steps` equal parts (e.g. the steps of `latents_per_step`). */
export function perStepRel(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  steps: number,
): { maxAbs: number; maxRef: number; rel: number }[] {
  if (a.length !== b.length || b.length % steps !== 0)
    throw new Error(`length ${a.length} vs reference ${b.length} in ${steps} steps`);
  const per = b.length / steps;
  return Array.from({ length: steps }, (_, s) => {
    const d = maxDiff(
      Array.prototype.slice.call(a, s * per, (s + 1) * per),
      Array.prototype.slice.call(b, s * per, (s + 1) * per),
    );
    return { ...d, rel: d.maxAbs / d.maxRef };
  });
}

/**
 * The latents tolerance for the active backend: the README's CPU level (1e-4 of the max) on the
 * fp32 CPU backends (wasm, cpu, native fp32), the fixture's `fixtureRel` (WebGL-level) elsewhere.
 */
export function cpuLatentsRel(fixtureRel: number): number {
  const b = currentBackend();
  const cpu = ['wasm', 'cpu'].includes(tf.getBackend()) && !/bf16/.test(b?.description ?? '');
  return cpu ? Math.min(fixtureRel, 1e-4) : fixtureRel;
}

/** Per-image HWC float images → one NCHW array (the fixture `image` layout). */
export function imagesToNchw(images: readonly { width: number; height: number; data: Float32Array }[]): Float32Array {
  const { width: w, height: h } = images[0];
  const out = new Float32Array(images.length * 3 * h * w);
  images.forEach((im, n) => {
    for (let p = 0; p < h * w; p++) for (let c = 0; c < 3; c++) out[(n * 3 + c) * h * w + p] = im.data[p * 3 + c];
  });
  return out;
}

/** The controller's mappers, alphas, equalizers and LocalBlend weights equal the stored ones exactly. */
export async function checkControllerTables(
  ctrl: AttentionStore,
  tensors: Record<string, { dtype: string }>,
  floats: (name: string) => Promise<number[]>,
  ints: (name: string) => Promise<number[]>,
): Promise<void> {
  if (!(ctrl instanceof AttentionEdit)) return;
  const has = (n: string) => n in tensors;
  expect(Array.from(ctrl.crossAlpha.data), 'cross_replace_alpha').to.deep.equal(await floats('cross_replace_alpha'));
  const refine = (e: AttentionEdit, mapper: string, alphas: string) => async () => {
    expect(e).to.be.instanceOf(AttentionRefine);
    const maps = (e as AttentionRefine).maps;
    expect(
      maps.flatMap((m) => Array.from(m.mapper)),
      mapper,
    ).to.deep.equal(await ints(mapper));
    expect(
      maps.flatMap((m) => Array.from(m.alphas)),
      alphas,
    ).to.deep.equal(await floats(alphas));
  };
  if (has('mapper') && tensors.mapper.dtype === 'F32') {
    expect(ctrl).to.be.instanceOf(AttentionReplace);
    expect(
      (ctrl as AttentionReplace).mappers.flatMap((m) => Array.from(m)),
      'mapper',
    ).to.deep.equal(await floats('mapper'));
  }
  if (has('mapper') && tensors.mapper.dtype === 'I64') await refine(ctrl, 'mapper', 'refine_alphas')();
  if (has('equalizer')) {
    expect(ctrl).to.be.instanceOf(AttentionReweight);
    expect(
      (ctrl as AttentionReweight).equalizer.flatMap((e) => Array.from(e)),
      'equalizer',
    ).to.deep.equal(await floats('equalizer'));
  }
  if (has('prev_mapper')) await refine((ctrl as AttentionReweight).prev!, 'prev_mapper', 'prev_refine_alphas')();
  if (has('local_blend_alpha_layers')) {
    expect(
      ctrl.localBlend!.alphaLayers.flatMap((a) => Array.from(a)),
      'local_blend_alpha_layers',
    ).to.deep.equal(await floats('local_blend_alpha_layers'));
  }
}
