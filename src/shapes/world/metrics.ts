/**
 * Image measures for the quality report: mask overlap, change outside objects, and whether an image
 * shows what its caption says. Pure functions on `RgbImage` / `Mask`.
 */
import { connectedComponents, erodeCross, largestComponent, morph } from './connected-components.js';
import { captionOf, parseCaption } from './caption.js';
import { checkImage, checkSameSize, maskArea, type Mask, type RgbImage } from './image.js';
import { COLOURS, type ColourName, type ShapeName } from './palette.js';
import type { ObjectDescription, SceneDescription } from './scene.js';
import { backgroundColour, nearestColourIndex, objectMasks, paletteLabels } from './segment.js';
import { classifyShape, maskBox } from './shape-test.js';

/** Intersection over union of two masks of the same size; two empty masks give 0 (a missing object never scores). */
export function iou(a: Mask, b: Mask): number {
  checkSameSize('iou', a, b);
  let inter = 0,
    union = 0;
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
  let sum = 0,
    n = 0;
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
  let hit = 0,
    n = 0;
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

/**
 * Share of "the rest" (the pixels outside every found object, each grown by its fringe) that must be
 * nearest to the caption's background colour. Not the most common colour: the background must fill
 * the image around the objects (a frame of it around stripes or a flood of another colour fails).
 */
export const BACKGROUND_COVER_MIN = 0.95;
/**
 * Smallest blob of non-background colour in the rest (fraction of the image's pixels) that counts as
 * an object the caption does not name: about half the smallest named object (a small star, extent
 * 0.12, covers 0.38 · 0.12² · 0.95 ≈ 0.53 % of the image); 12 px at 64×64, 49 px at 128×128.
 */
export const EXTRA_OBJECT_MIN_AREA = 0.003;

/** Pixels an object's fringe may reach beyond its mask: 1 per 32 px of image side (anti-aliasing, the VAE's blur). */
const fringe = (w: number, h: number) => Math.max(1, Math.round(Math.max(w, h) / 32));

export interface BackgroundCheck {
  /** The palette colour of most of the rest (null when the objects cover the whole image). */
  colour: ColourName | null;
  /** Share of the rest nearest to the wanted colour (0 when there is no rest). */
  cover: number;
  /** Blobs of other colours in the rest (solid-cored, at least `EXTRA_OBJECT_MIN_AREA`): objects nobody asked for. */
  extraObjects: number;
}

/** How far `colour` fills the image outside the found objects, and what else is there. */
export function checkBackground(
  image: RgbImage,
  colour: ColourName,
  objects: (Mask | null)[],
  labels = paletteLabels(image),
): BackgroundCheck {
  const { width: w, height: h } = image;
  const k = COLOURS.indexOf(colour);
  if (k < 0) throw new Error(`checkBackground: "${colour}" is not a palette colour (${COLOURS.join(', ')})`);
  const grown = morph(unionMask(w, h, objects), fringe(w, h));
  const votes = new Array<number>(COLOURS.length).fill(0);
  const other = new Uint8Array(w * h);
  let rest = 0;
  for (let p = 0; p < other.length; p++) {
    if (grown.data[p]) continue;
    rest++;
    votes[labels[p]]++;
    if (labels[p] !== k) other[p] = 1;
  }
  if (rest === 0) return { colour: null, cover: 0, extraObjects: 0 };
  const strays = { width: w, height: h, data: other };
  const core = erodeCross(strays);
  const comps = connectedComponents(strays, 4);
  const cored = new Uint8Array(comps.areas.length);
  for (let p = 0; p < core.data.length; p++) if (core.data[p]) cored[comps.labels[p] - 1] = 1;
  const extraObjects = comps.areas.filter((a, i) => cored[i] && a >= EXTRA_OBJECT_MIN_AREA * w * h).length;
  return { colour: COLOURS[votes.indexOf(Math.max(...votes))], cover: votes[k] / rest, extraObjects };
}

export interface GenerationCheck {
  /** Every object found in its colour with its shape, and the background colour filling the rest with nothing else in it. */
  ok: boolean;
  /** The palette colour of most of the image outside the found objects (null when they cover it all). */
  background: ColourName | null;
  /** The caption's background colour covers at least `BACKGROUND_COVER_MIN` of the rest and no extra object is there. */
  backgroundOk: boolean;
  /** Share of the rest nearest to the caption's background colour. */
  backgroundCover: number;
  /** Blobs in the rest that no caption word names. */
  extraObjects: number;
  objects: ObjectCheck[];
  /** The object masks (null where not found). */
  masks: (Mask | null)[];
}

/**
 * Whether an image shows its caption: each named object found by its colour (solid, large enough)
 * with the shape the geometric test gives it, and the background colour filling the rest of the image
 * (at least `BACKGROUND_COVER_MIN` of the pixels outside the objects' fringes, no blob of another
 * colour there). Sizes are not judged.
 */
export function checkGeneration(image: RgbImage, caption: string | SceneDescription): GenerationCheck {
  const desc = typeof caption === 'string' ? parseCaption(caption) : caption;
  const labels = paletteLabels(image);
  const masks = objectMasks(image, desc);
  const objects = masks.map((m, i): ObjectCheck => {
    const box = m && maskBox(m);
    if (!m || !box) return { found: false, shape: null, shapeOk: false, extent: 0 };
    const shape = classifyShape(largestComponent(m));
    const extent = Math.max(box.x1 - box.x0, box.y1 - box.y0) / Math.max(image.width, image.height);
    return { found: true, shape, shapeOk: shape === desc.objects[i].shape, extent };
  });
  const bg = checkBackground(image, desc.background, masks, labels);
  const backgroundOk = bg.cover >= BACKGROUND_COVER_MIN && bg.extraObjects === 0;
  return {
    ok: backgroundOk && objects.every((o) => o.found && o.shapeOk),
    background: bg.colour,
    backgroundOk,
    backgroundCover: bg.cover,
    extraObjects: bg.extraObjects,
    objects,
    masks,
  };
}

/** True when every named object is present in its colour and shape and the named background fills the rest. */
export function generationOk(image: RgbImage, caption: string | SceneDescription): boolean {
  return checkGeneration(image, caption).ok;
}

/**
 * Whether an image's background is `colour`, judged without the objects: the nearest palette colour
 * of most border pixels and of at least half of all pixels (the named objects of a scene cover at
 * most a third of it). For the background probes, where the object may be wrong and the background right.
 */
export function backgroundFollows(image: RgbImage, colour: ColourName): boolean {
  const k = COLOURS.indexOf(colour);
  if (k < 0) throw new Error(`backgroundFollows: "${colour}" is not a palette colour (${COLOURS.join(', ')})`);
  if (backgroundColour(image) !== colour) return false;
  const labels = paletteLabels(image);
  let n = 0;
  for (const l of labels) if (l === k) n++;
  return 2 * n >= labels.length;
}

const sameObject = (a: ObjectDescription, b: ObjectDescription) =>
  a.colour === b.colour && a.shape === b.shape && a.size === b.size;

/** Indices of the objects two captions describe differently (they must name as many objects). */
export function changedObjects(a: string | SceneDescription, b: string | SceneDescription): number[] {
  const da = typeof a === 'string' ? parseCaption(a) : a;
  const db = typeof b === 'string' ? parseCaption(b) : b;
  if (da.objects.length !== db.objects.length) {
    throw new Error(
      `changedObjects: "${captionOf(da)}" names ${da.objects.length} objects but "${captionOf(db)}" names ${db.objects.length}`,
    );
  }
  return da.objects.flatMap((o, i) => (sameObject(o, db.objects[i]) ? [] : [i]));
}

/**
 * IoU of object `index` as found in `before` (by `captionBefore`) and in `after` (by
 * `captionAfter`), each found by its own colour; 0 when it is missing from either.
 */
export function objectIou(
  before: RgbImage,
  after: RgbImage,
  captionBefore: string | SceneDescription,
  captionAfter: string | SceneDescription,
  index: number,
): number {
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
    throw new Error(
      `untouchedIou: needs two objects with exactly one changed, got ${count} objects with ${changed.length} changed ("${captionBefore}" → "${captionAfter}")`,
    );
  }
  return objectIou(before, after, captionBefore, captionAfter, 1 - changed[0]);
}
