/**
 * Segmentation of shapes-world images (renders or generations) by nearest palette colour.
 *
 * `objectMasks` finds each object a caption names: the 4-connected components of the pixels nearest
 * to its colour, keeping only components with a solid core (pixels whose four neighbours are all
 * that colour: anti-aliasing fringes, one or two pixels wide, have none) and at least `minArea`
 * pixels. The chosen component is then refined to the pixels at least half-way from the measured
 * background colour to the measured object colour, which recovers anti-aliased or blurred edges.
 */
import { componentMask, connectedComponents, erodeCross, morph } from './connected-components.js';
import { checkImage, type Mask, type RgbImage } from './image.js';
import { COLOURS, PALETTE, type ColourName, type ShapeName } from './palette.js';
import { parseCaption } from './caption.js';
import type { SceneDescription } from './scene.js';
import { shapeScores } from './shape-test.js';

/** The palette as flat RGB triples, in `COLOURS` order. */
const FLAT = Int32Array.from(COLOURS.flatMap((c) => [...PALETTE[c]]));

/** Index into `COLOURS` of the palette colour nearest to (r, g, b) (squared RGB distance). */
export function nearestColourIndex(r: number, g: number, b: number): number {
  let best = 0,
    bestD = Infinity;
  for (let k = 0; k < FLAT.length; k += 3) {
    const dr = r - FLAT[k],
      dg = g - FLAT[k + 1],
      db = b - FLAT[k + 2];
    const d = dr * dr + dg * dg + db * db;
    if (d < bestD) {
      bestD = d;
      best = k / 3;
    }
  }
  return best;
}

/** Per pixel, the index into `COLOURS` of its nearest palette colour. */
export function paletteLabels(image: RgbImage): Uint8Array {
  checkImage(image);
  const { data } = image;
  const out = new Uint8Array(image.width * image.height);
  for (let p = 0; p < out.length; p++) out[p] = nearestColourIndex(data[3 * p], data[3 * p + 1], data[3 * p + 2]);
  return out;
}

/** The pixels whose nearest palette colour is `colour` (from `paletteLabels`). */
export function colourMask(labels: Uint8Array, width: number, height: number, colour: ColourName): Mask {
  const k = COLOURS.indexOf(colour);
  const data = new Uint8Array(width * height);
  for (let p = 0; p < data.length; p++) if (labels[p] === k) data[p] = 1;
  return { width, height, data };
}

/** Border pixels (all four edges), as pixel indices. */
function borderPixels(width: number, height: number): number[] {
  const out: number[] = [];
  for (let x = 0; x < width; x++) out.push(x, (height - 1) * width + x);
  for (let y = 1; y < height - 1; y++) out.push(y * width, y * width + width - 1);
  return out;
}

/** The palette colour most border pixels are nearest to. */
export function backgroundColour(image: RgbImage): ColourName {
  const labels = paletteLabels(image);
  const votes = new Array<number>(COLOURS.length).fill(0);
  for (const p of borderPixels(image.width, image.height)) votes[labels[p]]++;
  return COLOURS[votes.indexOf(Math.max(...votes))];
}

export interface SegmentOptions {
  /** Smallest object, as a fraction of the image's pixels. Default 0.0015 (6 px at 64×64). */
  minArea?: number;
}

/** Candidate objects of one colour: solid-cored components, largest first. */
export function colourComponents(
  image: RgbImage,
  labels: Uint8Array,
  colour: ColourName,
  opts: SegmentOptions = {},
): Mask[] {
  const { width: w, height: h } = image;
  const mask = colourMask(labels, w, h, colour);
  const core = erodeCross(mask);
  const comps = connectedComponents(mask, 4);
  const cores = new Array<number>(comps.areas.length).fill(0);
  for (let p = 0; p < core.data.length; p++) if (core.data[p]) cores[comps.labels[p] - 1]++;
  const minArea = (opts.minArea ?? 0.0015) * w * h;
  return comps.areas
    .map((area, i) => ({ k: i + 1, area }))
    .filter(({ k, area }) => cores[k - 1] > 0 && area >= minArea)
    .sort((a, b) => b.area - a.area)
    .map(({ k }) => componentMask(comps, k, w, h));
}

/** Indices of a mask's set pixels. */
function setPixels(mask: Mask): number[] {
  const out: number[] = [];
  for (let p = 0; p < mask.data.length; p++) if (mask.data[p]) out.push(p);
  return out;
}

/** Mean colour of the image over a list of pixel indices (or `fallback` when the list is empty). */
function meanColour(image: RgbImage, pixels: number[], fallback: readonly number[]): number[] {
  if (pixels.length === 0) return [...fallback];
  const s = [0, 0, 0];
  for (const p of pixels) for (let c = 0; c < 3; c++) s[c] += image.data[3 * p + c];
  return s.map((v) => v / pixels.length);
}

/**
 * A component grown (by up to 2 px) or trimmed to the pixels at least half-way from the background
 * colour `bg` to the object's own mean colour (measured on its core), along the bg→object line and
 * not far off it; pixels of `other` (another object of the same colour) are left out.
 */
function refine(image: RgbImage, component: Mask, bg: number[], other: Mask | null): Mask {
  const { width: w, height: h, data } = image;
  // the colour is measured away from the edges: the 3×3 core, or the cross core of thin objects
  let corePixels = setPixels(morph(component, -1));
  if (corePixels.length === 0) corePixels = setPixels(erodeCross(component));
  const obj = meanColour(image, corePixels, bg);
  const d0 = obj[0] - bg[0],
    d1 = obj[1] - bg[1],
    d2 = obj[2] - bg[2];
  const len2 = d0 * d0 + d1 * d1 + d2 * d2;
  if (len2 < 1) return component;
  const reach = morph(component, 2);
  const out = new Uint8Array(w * h);
  for (let p = 0; p < out.length; p++) {
    if (!reach.data[p] || other?.data[p]) continue;
    const v0 = data[3 * p] - bg[0],
      v1 = data[3 * p + 1] - bg[1],
      v2 = data[3 * p + 2] - bg[2];
    const t = (v0 * d0 + v1 * d1 + v2 * d2) / len2;
    const off2 = (v0 - t * d0) ** 2 + (v1 - t * d1) ** 2 + (v2 - t * d2) ** 2;
    if (t >= 0.5 && off2 <= 0.16 * len2) out[p] = 1;
  }
  return { width: w, height: h, data: out };
}

/**
 * The mask of each object a caption names (`null` where it is not found). Two objects of the same
 * colour take that colour's two largest components, matched to their shapes by the shape test.
 */
export function objectMasks(
  image: RgbImage,
  caption: string | SceneDescription,
  opts: SegmentOptions = {},
): (Mask | null)[] {
  const desc = typeof caption === 'string' ? parseCaption(caption) : caption;
  const labels = paletteLabels(image);
  const bgIndex = COLOURS.indexOf(desc.background);
  const bgPixels = borderPixels(image.width, image.height).filter((p) => labels[p] === bgIndex);
  const bg = meanColour(image, bgPixels, PALETTE[desc.background]);
  const out: (Mask | null)[] = desc.objects.map(() => null);
  const byColour = new Map<ColourName, number[]>();
  desc.objects.forEach((o, i) => byColour.set(o.colour, [...(byColour.get(o.colour) ?? []), i]));
  for (const [colour, indices] of byColour) {
    const found = colourComponents(image, labels, colour, opts).slice(0, indices.length);
    const order = matchShapes(
      found,
      indices.map((i) => desc.objects[i].shape),
    );
    order.forEach((c, j) => {
      if (c !== null) out[indices[j]] = refine(image, found[c], bg, found.length > 1 ? found[1 - c] : null);
    });
  }
  return out;
}

/**
 * For each wanted shape, the index of the component given to it, or null: the assignment where the
 * shape test names more of the wanted shapes, ties broken by the total template score.
 */
function matchShapes(components: Mask[], shapes: ShapeName[]): (number | null)[] {
  if (shapes.length === 1 || components.length === 0) return shapes.map((_, j) => (j < components.length ? j : null));
  const scored = components.map((c) => shapeScores(c));
  const fit = (k: number, shape: ShapeName) => (scored[k].best === shape ? 10 : 0) + scored[k].scores[shape];
  if (components.length === 1) return fit(0, shapes[0]) >= fit(0, shapes[1]) ? [0, null] : [null, 0];
  return fit(0, shapes[0]) + fit(1, shapes[1]) >= fit(0, shapes[1]) + fit(1, shapes[0]) ? [0, 1] : [1, 0];
}
