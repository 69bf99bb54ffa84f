/**
 * Image measures for the quality report: mask overlap, change outside objects, and whether an image
 * shows what its caption says. Pure functions on `RgbImage` / `Mask`.
 */
import { largestComponent } from './components.js';
import { captionOf, parseCaption } from './caption.js';
import { checkImage, checkSameSize, maskArea, type Mask, type RgbImage } from './image.js';
import { COLOURS, type ColourName, type ShapeName } from './palette.js';
import type { ObjectDescription, SceneDescription } from './scene.js';
import { backgroundColour, nearestColourIndex, objectMasks } from './segment.js';
import { classifyShape, maskBox } from './shape-test.js';

/** Intersection over union of two masks of the same size; two empty masks give 0 (a missing object never scores). */
export function iou(a: Mask, b: Mask): number {
  checkSameSize('iou', a, b);
  let inter = 0, union = 0;
  for (let i = 0; i < a.data.length; i++) {
    inter += a.data[i] & b.data[i];
    union += a.data[i] | b.data[i];
  }
  return union > 0 ? inter / union : 0;
}

/** The union of masks of the same size (`null` entries are skipped). */
export function unionMask(width: number, height: number, masks: (Mask | null)[]): Mask {
  const data = new Uint8Array(width * height);
  for (const m of masks) {
    if (!m) continue;
    checkSameSize('unionMask', { width, height }, m);
    for (let i = 0; i < data.length; i++) data[i] |= m.data[i];
  }
  return { width, height, data };
}

/** Mean absolute change per channel (0–255) between two images over the pixels outside `mask`. */
export function meanAbsChangeOutside(a: RgbImage, b: RgbImage, mask: Mask): number {
  checkImage(a, 'meanAbsChangeOutside: first image');
  checkImage(b, 'meanAbsChangeOutside: second image');
  checkSameSize('meanAbsChangeOutside', a, b, mask);
  let sum = 0, n = 0;
  for (let p = 0; p < mask.data.length; p++) {
    if (mask.data[p]) continue;
    for (let c = 0; c < 3; c++) sum += Math.abs(a.data[3 * p + c] - b.data[3 * p + c]);
    n++;
  }
  if (n === 0) throw new Error('meanAbsChangeOutside: the mask covers the whole image');
  return sum / (3 * n);
}

/** True when most (over half) of the mask's pixels are nearest to `colour`; false for an empty mask. */
export function objectHasColour(image: RgbImage, mask: Mask, colour: ColourName): boolean {
  checkImage(image, 'objectHasColour');
  checkSameSize('objectHasColour', image, mask);
  const k = COLOURS.indexOf(colour);
  if (k < 0) throw new Error(`objectHasColour: "${colour}" is not a palette colour (${COLOURS.join(', ')})`);
  let hit = 0, n = 0;
  for (let p = 0; p < mask.data.length; p++) {
    if (!mask.data[p]) continue;
    n++;
    if (nearestColourIndex(image.data[3 * p], image.data[3 * p + 1], image.data[3 * p + 2]) === k) hit++;
  }
  return n > 0 && hit * 2 > n;
}

/** True when the shape test calls the mask's largest component `shape`; false for an empty mask. */
export function objectHasShape(mask: Mask, shape: ShapeName): boolean {
  const main = largestComponent(mask);
  return maskArea(main) > 0 && classifyShape(main) === shape;
}

export interface ObjectCheck {
  /** A component of the named colour was found. */
  found: boolean;
  /** What the shape test says of it (null when not found). */
  shape: ShapeName | null;
  shapeOk: boolean;
  /** Its bounding-box side (the larger one) as a fraction of the image side (0 when not found). */
  extent: number;
}

export interface GenerationCheck {
  /** Background right and every object found in its colour with its shape. */
  ok: boolean;
  background: ColourName;
  backgroundOk: boolean;
  objects: ObjectCheck[];
  /** The object masks (null where not found). */
  masks: (Mask | null)[];
}

/** How far an image shows its caption: background colour, each object's presence (by colour) and shape. */
export function checkGeneration(image: RgbImage, caption: string | SceneDescription): GenerationCheck {
  const desc = typeof caption === 'string' ? parseCaption(caption) : caption;
  const background = backgroundColour(image);
  const masks = objectMasks(image, desc);
  const objects = masks.map((m, i): ObjectCheck => {
    const box = m && maskBox(m);
    if (!m || !box) return { found: false, shape: null, shapeOk: false, extent: 0 };
    const shape = classifyShape(largestComponent(m));
    const extent = Math.max(box.x1 - box.x0, box.y1 - box.y0) / Math.max(image.width, image.height);
    return { found: true, shape, shapeOk: shape === desc.objects[i].shape, extent };
  });
  const backgroundOk = background === desc.background;
  return { ok: backgroundOk && objects.every((o) => o.found && o.shapeOk), background, backgroundOk, objects, masks };
}

/** True when every named object is present in its colour and shape on the named background. */
export function generationOk(image: RgbImage, caption: string | SceneDescription): boolean {
  return checkGeneration(image, caption).ok;
}

const sameObject = (a: ObjectDescription, b: ObjectDescription) => a.colour === b.colour && a.shape === b.shape && a.size === b.size;

/** Indices of the objects two captions describe differently (they must name as many objects). */
export function changedObjects(a: string | SceneDescription, b: string | SceneDescription): number[] {
  const da = typeof a === 'string' ? parseCaption(a) : a;
  const db = typeof b === 'string' ? parseCaption(b) : b;
  if (da.objects.length !== db.objects.length) {
    throw new Error(`changedObjects: "${captionOf(da)}" names ${da.objects.length} objects but "${captionOf(db)}" names ${db.objects.length}`);
  }
  return da.objects.flatMap((o, i) => (sameObject(o, db.objects[i]) ? [] : [i]));
}

/**
 * IoU of object `index` as found in `before` (by `captionBefore`) and in `after` (by
 * `captionAfter`), each found by its own colour; 0 when it is missing from either.
 */
export function objectIou(before: RgbImage, after: RgbImage, captionBefore: string | SceneDescription, captionAfter: string | SceneDescription, index: number): number {
  const a = objectMasks(before, captionBefore)[index];
  const b = objectMasks(after, captionAfter)[index];
  if (a === undefined || b === undefined) throw new Error(`objectIou: the captions have no object ${index}`);
  return a && b ? iou(a, b) : 0;
}

/**
 * For a two-object edit that changes exactly one object: the IoU of the other object before and
 * after (found in both images by its colour). Throws unless exactly one of two objects changed.
 */
export function untouchedIou(before: RgbImage, after: RgbImage, captionBefore: string, captionAfter: string): number {
  const changed = changedObjects(captionBefore, captionAfter);
  const count = parseCaption(captionBefore).objects.length;
  if (count !== 2 || changed.length !== 1) {
    throw new Error(`untouchedIou: needs two objects with exactly one changed, got ${count} objects with ${changed.length} changed ("${captionBefore}" → "${captionAfter}")`);
  }
  return objectIou(before, after, captionBefore, captionAfter, 1 - changed[0]);
}
