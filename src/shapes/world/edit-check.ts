/**
 * Whether an edit changed the attribute its captions name, where the source image had the object:
 * the edited object found in the edited image by its target colour, with its target shape, lying
 * where the source object was, the source colour gone from there, and the target background filling
 * the rest with nothing new in it. A blob of the target colour elsewhere, an editor that changes
 * nothing, a flood of the target colour, or the attribute given to the other object all fail.
 */
import { maskArea, type Mask, type RgbImage } from './image.js';
import { parseCaption } from './caption.js';
import { COLOURS } from './palette.js';
import type { SceneDescription } from './scene.js';
import { objectMasks, paletteLabels } from './segment.js';
import { changedObjects, checkGeneration, iou } from './metrics.js';

/** Colour edits (same shape): IoU of the object's masks in the source and the edit, at least. */
export const EDIT_IOU_MIN = 0.5;
/**
 * Shape edits: the overlap of the two masks over the smaller one, at least (a star drawn in a circle's
 * box lies inside it: overlap ≈ 1, IoU ≈ 0.5 only) …
 */
export const EDIT_OVERLAP_MIN = 0.5;
/** … and the larger mask's area over the smaller's, at most (a star fills 0.38 of its box, a square all of it). */
export const EDIT_AREA_RATIO_MAX = 4;
/** Colour edits: share of the source object's pixels still nearest to the source colour in the edit, at most. */
export const SOURCE_LEFT_MAX = 0.25;

export interface EditCheck {
  ok: boolean;
  /** The first condition that failed ('' when ok). */
  reason: string;
  /** IoU of the edited object's masks, source vs edit (0 when either is missing). */
  iou: number;
  /** Their overlap over the smaller mask (0 when either is missing). */
  overlap: number;
  /** Colour edits: share of the source object's pixels still nearest to the source colour (null for shape edits or when the source object is missing). */
  sourceLeft: number | null;
}

const overlapCoefficient = (a: Mask, b: Mask) => {
  let inter = 0;
  for (let i = 0; i < a.data.length; i++) inter += a.data[i] & b.data[i];
  const small = Math.min(maskArea(a), maskArea(b));
  return small > 0 ? inter / small : 0;
};

/**
 * Judges the edit of object `index` from `captionSource` (shown by `source`) to `captionTarget`
 * (`edited`). The captions must differ in that object only, by its colour, its shape or both.
 */
export function checkEdit(
  source: RgbImage,
  edited: RgbImage,
  captionSource: string | SceneDescription,
  captionTarget: string | SceneDescription,
  index: number,
): EditCheck {
  const ds = typeof captionSource === 'string' ? parseCaption(captionSource) : captionSource;
  const dt = typeof captionTarget === 'string' ? parseCaption(captionTarget) : captionTarget;
  const changed = changedObjects(ds, dt);
  if (changed.length !== 1 || changed[0] !== index)
    throw new Error(
      `checkEdit: the captions must differ in object ${index} only, they differ in [${changed.join(', ')}]`,
    );
  const [from, to] = [ds.objects[index], dt.objects[index]];
  const colourEdit = from.colour !== to.colour,
    shapeEdit = from.shape !== to.shape;
  const result = (reason: string, o: Partial<EditCheck> = {}): EditCheck => ({
    ok: reason === '',
    reason,
    iou: 0,
    overlap: 0,
    sourceLeft: null,
    ...o,
  });

  const before = objectMasks(source, ds)[index];
  if (!before) return result(`the source shows no ${from.colour} ${from.shape}`);
  const check = checkGeneration(edited, dt);
  const after = check.masks[index];
  let sourceLeft: number | null = null;
  if (colourEdit) {
    const labels = paletteLabels(edited),
      k = COLOURS.indexOf(from.colour);
    let left = 0;
    for (let p = 0; p < labels.length; p++) if (before.data[p] && labels[p] === k) left++;
    sourceLeft = left / maskArea(before);
  }
  if (!after) return result(`no ${to.colour} object in the edit`, { sourceLeft });
  const measured = { iou: iou(before, after), overlap: overlapCoefficient(before, after), sourceLeft };
  if (shapeEdit) {
    const [a, b] = [maskArea(before), maskArea(after)];
    if (measured.overlap < EDIT_OVERLAP_MIN)
      return result(
        `the ${to.shape} is not where the ${from.shape} was (overlap ${measured.overlap.toFixed(2)})`,
        measured,
      );
    if (Math.max(a, b) > EDIT_AREA_RATIO_MAX * Math.min(a, b))
      return result(`the ${to.shape} is ${(b / a).toFixed(2)}× the area of the ${from.shape}`, measured);
  } else if (measured.iou < EDIT_IOU_MIN) {
    return result(
      `the ${to.colour} ${to.shape} is not where the ${from.colour} one was (IoU ${measured.iou.toFixed(2)})`,
      measured,
    );
  }
  if (sourceLeft !== null && sourceLeft > SOURCE_LEFT_MAX)
    return result(`${(100 * sourceLeft).toFixed(0)} % of the object is still ${from.colour}`, measured);
  const shape = check.objects[index].shape;
  if (shape !== to.shape) return result(`the ${to.colour} object is a ${shape}, not a ${to.shape}`, measured);
  if (!check.backgroundOk) {
    return result(
      `the background is not ${dt.background} around the objects (${(100 * check.backgroundCover).toFixed(0)} %, ${check.extraObjects} extra objects)`,
      measured,
    );
  }
  return result('', measured);
}
