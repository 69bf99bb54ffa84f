/**
 * Runs the quality report's edits and scores them with the shapes world's measures (palette
 * segmentation, the shape test): for each edit the source, the Prompt-to-Prompt edit and a plain
 * generation of the target from the same initial latent.
 */
import { imageToUint8, type FloatImage, type RgbImage } from '../../util/image.js';
import type { StableDiffusionPipeline } from '../../pipeline/pipeline.js';
import { buildEdit } from '../../ptp/edit-spec.js';
import {
  checkGeneration, meanAbsChangeOutside, objectHasColour, objectHasShape, objectIou, objectMasks, parseCaption, unionMask, untouchedIou,
} from '../../world/index.js';
import type { QualityEdit } from './edit-set.js';

export interface QualitySettings {
  steps: number;
  guidance: number;
  crossReplace: number;
  selfReplace: number;
}

export const DEFAULT_QUALITY_SETTINGS: QualitySettings = { steps: 20, guidance: 7.5, crossReplace: 0.8, selfReplace: 0.4 };

/** What one edit scored. */
export interface EditScore {
  edit: QualityEdit;
  /** The edited object has the target colour/shape (P2P). */
  attributeOk: boolean;
  /** Colour swaps: IoU of the edited object before/after, P2P and plain regeneration. */
  iouP2p?: number;
  iouPlain?: number;
  /**
   * Mean absolute change (0–255) outside the objects, P2P and plain; undefined when the objects'
   * colours cover the whole image (a background painted in an object's colour leaves none).
   */
  backgroundP2p?: number;
  backgroundPlain?: number;
  /** Two-object edits: IoU of the object that was not edited (P2P). */
  untouchedIou?: number;
  /** The source and the plain target show their captions (presence, colour, background; and with shapes). */
  generation: { colours: boolean; shapes: boolean }[];
  images: { source: RgbImage; p2p: RgbImage; plain: RgbImage };
}

const rgb = (im: FloatImage): RgbImage => ({ width: im.width, height: im.height, data: imageToUint8(im) });

function generationFlags(image: RgbImage, caption: string): { colours: boolean; shapes: boolean } {
  const c = checkGeneration(image, caption);
  const colours = c.backgroundOk && c.objects.every((o) => o.found);
  return { colours, shapes: colours && c.objects.every((o) => o.shapeOk) };
}

/** Pixels of any object of either caption, in either image (to measure the background alone). */
function objectsMask(a: RgbImage, b: RgbImage, ca: string, cb: string) {
  return unionMask(a.width, a.height, [...objectMasks(a, ca), ...objectMasks(b, cb), ...objectMasks(a, cb), ...objectMasks(b, ca)]);
}

function backgroundChange(a: RgbImage, b: RgbImage, ca: string, cb: string): number | undefined {
  const mask = objectsMask(a, b, ca, cb);
  return mask.data.every((v) => v) ? undefined : meanAbsChangeOutside(a, b, mask);
}

export async function scoreEdit(pipe: StableDiffusionPipeline, e: QualityEdit, s: QualitySettings): Promise<EditScore> {
  const built = buildEdit(pipe.tokenizer, { source: e.source, targets: [e.target], mode: 'replace', cross: s.crossReplace, self: s.selfReplace, blend: e.blend });
  const common = { steps: s.steps, guidance: s.guidance, seed: e.seed, scheduler: 'ddim' };
  const edited = await pipe.edit({ ...common, prompts: built.prompts, controller: built.controller });
  const plainRun = await pipe.generate({ ...common, prompts: [e.target] });
  const [source, p2p, plain] = [rgb(edited.images[0]), rgb(edited.images[1]), rgb(plainRun.images[0])];
  const target = parseCaption(e.target).objects[e.object];
  // The edited object found (by its new colour) with the new attribute, on the right background.
  const check = checkGeneration(p2p, e.target);
  const editedMask = check.masks[e.object];
  const attributeOk = check.backgroundOk && !!editedMask && (e.kind === 'colour' ? objectHasColour(p2p, editedMask, target.colour) : objectHasShape(editedMask, target.shape));
  const pairs = parseCaption(e.source).objects.length === 2;
  return {
    edit: e,
    attributeOk,
    ...(e.kind === 'colour' ? { iouP2p: objectIou(source, p2p, e.source, e.target, e.object), iouPlain: objectIou(source, plain, e.source, e.target, e.object) } : {}),
    backgroundP2p: backgroundChange(source, p2p, e.source, e.target),
    backgroundPlain: backgroundChange(source, plain, e.source, e.target),
    ...(pairs ? { untouchedIou: untouchedIou(source, p2p, e.source, e.target) } : {}),
    generation: [generationFlags(source, e.source), generationFlags(plain, e.target)],
    images: { source, p2p, plain },
  };
}

export interface QualitySummary {
  edits: number;
  iou_p2p_mean: number;
  iou_plain_mean: number;
  background_change_p2p: number;
  background_change_plain: number;
  attribute_ok_fraction: number;
  generation_ok_fraction: number;
  /** Also with the shape test on every object. */
  generation_shape_ok_fraction: number;
  untouched_iou_mean: number;
}

const defined = (xs: (number | undefined)[]) => xs.filter((x): x is number => x !== undefined);
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

export function summarise(scores: readonly EditScore[]): QualitySummary {
  const colour = scores.filter((s) => s.iouP2p !== undefined);
  const gens = scores.flatMap((s) => s.generation);
  return {
    edits: scores.length,
    iou_p2p_mean: mean(colour.map((s) => s.iouP2p!)),
    iou_plain_mean: mean(colour.map((s) => s.iouPlain!)),
    background_change_p2p: mean(defined(scores.map((s) => s.backgroundP2p))),
    background_change_plain: mean(defined(scores.map((s) => s.backgroundPlain))),
    attribute_ok_fraction: mean(scores.map((s) => (s.attributeOk ? 1 : 0))),
    generation_ok_fraction: mean(gens.map((g) => (g.colours ? 1 : 0))),
    generation_shape_ok_fraction: mean(gens.map((g) => (g.shapes ? 1 : 0))),
    untouched_iou_mean: mean(scores.filter((s) => s.untouchedIou !== undefined).map((s) => s.untouchedIou!)),
  };
}
