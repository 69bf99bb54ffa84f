/**
 * Scenes of the shapes world: one or two flat-coloured shapes on a flat background, and a seeded
 * sampler for them.
 *
 * Coordinates are fractions of the image side (0–1), so one scene renders at any resolution.
 * An object's `extent` is the side of its bounding box (the star's box is `extent` wide and
 * 0.951·`extent` tall); `cx, cy` is the box centre.
 *
 * Extent ranges (fractions of the image side), drawn uniformly:
 * - `small`: 0.12–0.18 (7.7–11.5 px at 64 px)
 * - `big`: 0.34–0.46 (22–29 px at 64 px)
 * - size not named: 0.20–0.32
 * Every object stays at least `EDGE_MARGIN` (0.01) inside the image; two objects' boxes are at least
 * `GAP` (0.04) apart along x or y, so two big objects still fit side by side (2·0.46 + 0.04 + 2·0.01 ≤ 1).
 */
import type { Rng } from './rng.js';
import {
  COLOURS,
  PALETTE,
  SHAPES,
  isColour,
  isShape,
  isSize,
  type ColourName,
  type Rgb,
  type ShapeName,
  type SizeName,
} from './palette.js';

/** What a caption says about one object. */
export interface ObjectDescription {
  colour: ColourName;
  shape: ShapeName;
  /** Named size, or absent when the caption does not name one. */
  size?: SizeName;
}

/** What a caption says: one or two objects and the background colour. */
export interface SceneDescription {
  objects: ObjectDescription[];
  background: ColourName;
}

/** An object placed in the scene, with its jittered fill. */
export interface SceneObject extends ObjectDescription {
  cx: number;
  cy: number;
  extent: number;
  /** The fill actually drawn: the palette colour plus this object's jitter. */
  rgb: Rgb;
}

export interface Scene {
  background: ColourName;
  /** The background fill actually drawn: the palette colour plus its jitter. */
  backgroundRgb: Rgb;
  objects: SceneObject[];
}

/** Extent ranges [min, max) per size (fractions of the image side). */
export const EXTENT_RANGES: Readonly<Record<SizeName | 'unnamed', readonly [number, number]>> = {
  small: [0.12, 0.18],
  big: [0.34, 0.46],
  unnamed: [0.2, 0.32],
};
/** Minimum distance between an object's box and the image border. */
export const EDGE_MARGIN = 0.01;
/** Minimum gap between the boxes of two objects (along x or along y). */
export const GAP = 0.04;
/** Largest colour jitter allowed (per channel, per object and background). */
export const MAX_JITTER = 8;

export interface PlacementOptions {
  /** Colour jitter per channel, drawn once per object and background: an integer in ±jitter. Default 8 (max 8). */
  jitter?: number;
}

export interface SceneOptions extends PlacementOptions {
  /** Probability of a second object. Default 0.5. */
  twoObjects?: number;
  /** Probability, per object, that the caption names its size. Default 0.5. */
  namedSize?: number;
  /** Colours and shapes to draw from. Default: all. */
  colours?: readonly ColourName[];
  shapes?: readonly ShapeName[];
}

/**
 * A random scene: background colour, then one or two objects whose colours differ from the
 * background's (two objects never share both colour and shape), placed without overlap.
 */
export function sampleScene(rng: Rng, options: SceneOptions = {}): Scene {
  const colours = options.colours ?? COLOURS;
  const shapes = options.shapes ?? SHAPES;
  if (colours.length < 2)
    throw new Error(`sampleScene: need at least 2 colours (background + object), got ${colours.length}`);
  if (shapes.length < 1) throw new Error('sampleScene: need at least one shape');
  const background = rng.pick(colours);
  const objectColours = colours.filter((c) => c !== background);
  const count = rng.chance(options.twoObjects ?? 0.5) ? 2 : 1;
  const objects: ObjectDescription[] = [];
  while (objects.length < count) {
    const o: ObjectDescription = { colour: rng.pick(objectColours), shape: rng.pick(shapes) };
    if (rng.chance(options.namedSize ?? 0.5)) o.size = rng.chance(0.5) ? 'small' : 'big';
    if (objects.some((p) => p.colour === o.colour && p.shape === o.shape)) {
      if (objectColours.length * shapes.length < 2)
        throw new Error('sampleScene: two objects need two colour/shape pairs');
      continue;
    }
    objects.push(o);
  }
  return placeScene({ objects, background }, rng, options);
}

/**
 * Places described objects at random: extents from their size ranges, positions uniform over the
 * places where every object fits inside the image and clear of the others.
 */
export function placeScene(description: SceneDescription, rng: Rng, options: PlacementOptions = {}): Scene {
  const { objects, background } = description;
  if (objects.length < 1 || objects.length > 2)
    throw new Error(`placeScene: a scene has 1 or 2 objects, got ${objects.length}`);
  if (!isColour(background))
    throw new Error(`placeScene: unknown background colour "${background}" (${COLOURS.join(', ')})`);
  for (const o of objects) {
    if (!isColour(o.colour)) throw new Error(`placeScene: unknown colour "${o.colour}" (${COLOURS.join(', ')})`);
    if (!isShape(o.shape)) throw new Error(`placeScene: unknown shape "${o.shape}" (${SHAPES.join(', ')})`);
    if (o.size !== undefined && !isSize(o.size)) throw new Error(`placeScene: unknown size "${o.size}" (small, big)`);
    if (o.colour === background)
      throw new Error(`placeScene: a ${o.colour} ${o.shape} on a ${background} background would be invisible`);
  }
  const jitter = options.jitter ?? MAX_JITTER;
  if (!(Number.isInteger(jitter) && jitter >= 0 && jitter <= MAX_JITTER))
    throw new Error(`placeScene: jitter must be an integer in 0–${MAX_JITTER}, got ${jitter}`);
  const extents = objects.map((o) => rng.uniform(...EXTENT_RANGES[o.size ?? 'unnamed']));
  const centres = placeBoxes(extents, rng);
  return {
    background,
    backgroundRgb: jittered(PALETTE[background], jitter, rng),
    objects: objects.map((o, i) => ({
      ...o,
      cx: centres[i][0],
      cy: centres[i][1],
      extent: extents[i],
      rgb: jittered(PALETTE[o.colour], jitter, rng),
    })),
  };
}

/** True when two objects' boxes are at least `GAP` apart along x or along y. */
export function boxesClear(
  a: { cx: number; cy: number; extent: number },
  b: { cx: number; cy: number; extent: number },
  gap = GAP,
): boolean {
  const need = (a.extent + b.extent) / 2 + gap;
  return Math.abs(a.cx - b.cx) >= need || Math.abs(a.cy - b.cy) >= need;
}

/** Box centres for the given extents: uniform by rejection, then a guaranteed side-by-side layout. */
function placeBoxes(extents: number[], rng: Rng): [number, number][] {
  const centre = (e: number) => rng.uniform(EDGE_MARGIN + e / 2, 1 - EDGE_MARGIN - e / 2);
  if (extents.length === 1) return [[centre(extents[0]), centre(extents[0])]];
  const [ea, eb] = extents;
  for (let attempt = 0; attempt < 2000; attempt++) {
    const a = { cx: centre(ea), cy: centre(ea), extent: ea };
    const b = { cx: centre(eb), cy: centre(eb), extent: eb };
    if (boxesClear(a, b))
      return [
        [a.cx, a.cy],
        [b.cx, b.cy],
      ];
  }
  // Rejection almost never gets here (two big objects succeed ~1 % of tries): put them side by side.
  const alongX = rng.chance(0.5),
    aFirst = rng.chance(0.5);
  const lo = (e: number) => EDGE_MARGIN + e / 2;
  const p = aFirst ? lo(ea) : 1 - lo(ea);
  const q = aFirst ? 1 - lo(eb) : lo(eb);
  const ca = centre(ea),
    cb = centre(eb);
  return alongX
    ? [
        [p, ca],
        [q, cb],
      ]
    : [
        [ca, p],
        [cb, q],
      ];
}

function jittered(c: Rgb, jitter: number, rng: Rng): Rgb {
  const j = () => (jitter === 0 ? 0 : rng.int(-jitter, jitter));
  const ch = (v: number) => Math.min(255, Math.max(0, v + j()));
  return [ch(c[0]), ch(c[1]), ch(c[2])];
}
