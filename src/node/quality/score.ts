/**
 * Runs the quality report's edits and scores them with the shapes world's measures (palette
 * segmentation, the shape test): for each edit the source, the Prompt-to-Prompt edit and a plain
 * generation of the target from the same initial latent. An edit counts only where it changed the
 * attribute where the source object was (shapes/world/edit-check.ts); the background's change is reported
 * over those edits only, next to the plain regeneration's, so an editor that changes nothing cannot
 * look good.
 */
import { imageToUint8, type FloatImage, type RgbImage } from '../../util/image.js';
import type { StableDiffusionPipeline } from '../../pipeline/pipeline.js';
import { buildEdit } from '../../ptp/edit-spec.js';
import {
  checkEdit,
  checkGeneration,
  meanAbsChangeOutside,
  objectIou,
  objectMasks,
  parseCaption,
  unionMask,
  untouchedIou,
  type EditCheck,
} from '../../shapes/world/index.js';
import type { QualityEdit } from './edit-set.js';
import { RUN_DEFAULTS } from '../../pipeline/run-plan.js';

export interface QualitySettings {
  steps: number;
  guidance: number;
  crossReplace: number;
  selfReplace: number;
}

export const DEFAULT_QUALITY_SETTINGS: QualitySettings = {
  steps: 20,
  guidance: RUN_DEFAULTS.guidance,
  crossReplace: 0.8,
  selfReplace: 0.4,
};

/** What one edit scored. */
export interface EditScore {
  edit: QualityEdit;
  /** The attribute changed where the source object was, and nowhere else (P2P; `check` says why not). */
  attributeOk: boolean;
  check: EditCheck;
  /** Colour swaps: IoU of the edited object before/after, P2P and plain regeneration. */
  iouP2p?: number;
  iouPlain?: number;
  /**
   * Mean absolute change (0–255) outside the objects, P2P and plain; undefined when the objects'
   * colours cover the whole image (a background painted in an object's colour leaves none). The
   * summary averages them over the edits whose attribute changed only.
   */
  backgroundP2p?: number;
  backgroundPlain?: number;
  /** Two-object edits: IoU of the object that was not edited (P2P). */
  untouchedIou?: number;
  /** The source and the plain target each show their caption (world `checkGeneration`: objects in colour and shape, background filling the rest). */
  generation: { ok: boolean; backgroundOk: boolean }[];
  images: { source: RgbImage; p2p: RgbImage; plain: RgbImage };
}

const rgb = (im: FloatImage): RgbImage => ({ width: im.width, height: im.height, data: imageToUint8(im) });

function generationFlags(image: RgbImage, caption: string): { ok: boolean; backgroundOk: boolean } {
  const c = checkGeneration(image, caption);
  return { ok: c.ok, backgroundOk: c.backgroundOk };
}

/** Pixels of any object of either caption, in either image (to measure the background alone). */
function objectsMask(a: RgbImage, b: RgbImage, ca: string, cb: string) {
  return unionMask(a.width, a.height, [
    ...objectMasks(a, ca),
    ...objectMasks(b, cb),
    ...objectMasks(a, cb),
    ...objectMasks(b, ca),
  ]);
}

function backgroundChange(a: RgbImage, b: RgbImage, ca: string, cb: string): number | undefined {
  const mask = objectsMask(a, b, ca, cb);
  return mask.data.every((v) => v) ? undefined : meanAbsChangeOutside(a, b, mask);
}

export async function scoreEdit(pipe: StableDiffusionPipeline, e: QualityEdit, s: QualitySettings): Promise<EditScore> {
  const built = buildEdit(pipe.tokenizer, {
    source: e.source,
    targets: [e.target],
    mode: 'replace',
    cross: s.crossReplace,
    self: s.selfReplace,
    blend: e.blend,
  });
  const common = { steps: s.steps, guidance: s.guidance, seed: e.seed, scheduler: 'ddim' };
  const edited = await pipe.edit({ ...common, prompts: built.prompts, controller: built.controller });
  const plainRun = await pipe.generate({ ...common, prompts: [e.target] });
  const [source, p2p, plain] = [rgb(edited.images[0]), rgb(edited.images[1]), rgb(plainRun.images[0])];
  const check = checkEdit(source, p2p, e.source, e.target, e.object);
  const pairs = parseCaption(e.source).objects.length === 2;
  return {
    edit: e,
    attributeOk: check.ok,
    check,
    ...(e.kind === 'colour'
      ? {
          iouP2p: objectIou(source, p2p, e.source, e.target, e.object),
          iouPlain: objectIou(source, plain, e.source, e.target, e.object),
        }
      : {}),
    backgroundP2p: backgroundChange(source, p2p, e.source, e.target),
    backgroundPlain: backgroundChange(source, plain, e.source, e.target),
    ...(pairs ? { untouchedIou: untouchedIou(source, p2p, e.source, e.target) } : {}),
    generation: [generationFlags(source, e.source), generationFlags(plain, e.target)],
    images: { source, p2p, plain },
  };
}

export interface QualitySummary {
  edits: number;
  /** Source and plain-target images that show their captions (objects in colour and shape, background filling the rest). */
  generation_ok_fraction: number;
  /** The same images with the background alone right: the caption's colour filling the rest (diagnostic). */
  generation_background_ok_fraction: number;
  /** Edits whose attribute changed where the source object was (world `checkEdit`). */
  attribute_ok_fraction: number;
  iou_p2p_mean: number;
  iou_plain_mean: number;
  untouched_iou_mean: number;
  /** Mean change outside the objects over the edits with attribute_ok only (NaN when none): P2P, and the plain regeneration of the same edits. */
  background_change_p2p: number;
  background_change_plain: number;
  /** How many edits those two means are over. */
  background_change_edits: number;
}

const defined = (xs: (number | undefined)[]) => xs.filter((x): x is number => x !== undefined);
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
const fraction = (xs: boolean[]) => mean(xs.map((x) => (x ? 1 : 0)));

export function summarise(scores: readonly EditScore[]): QualitySummary {
  const colour = scores.filter((s) => s.iouP2p !== undefined);
  const gens = scores.flatMap((s) => s.generation);
  // An edit that did not change its attribute says nothing about keeping the background (an editor
  // that changes nothing would keep it perfectly).
  const done = scores.filter((s) => s.attributeOk && s.backgroundP2p !== undefined && s.backgroundPlain !== undefined);
  return {
    edits: scores.length,
    generation_ok_fraction: fraction(gens.map((g) => g.ok)),
    generation_background_ok_fraction: fraction(gens.map((g) => g.backgroundOk)),
    attribute_ok_fraction: fraction(scores.map((s) => s.attributeOk)),
    iou_p2p_mean: mean(colour.map((s) => s.iouP2p!)),
    iou_plain_mean: mean(colour.map((s) => s.iouPlain!)),
    untouched_iou_mean: mean(defined(scores.map((s) => s.untouchedIou))),
    background_change_p2p: mean(done.map((s) => s.backgroundP2p!)),
    background_change_plain: mean(done.map((s) => s.backgroundPlain!)),
    background_change_edits: done.length,
  };
}
