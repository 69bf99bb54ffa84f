/**
 * The fixed set of edits the quality report scores, drawn from a fixed seed (the same list every
 * run): colour swaps of one object (alone, or one of two with LocalBlend) and shape swaps of one
 * of two objects with LocalBlend.
 */
import {
  COLOURS,
  Rng,
  SHAPES,
  captionOf,
  sampleScene,
  type ObjectDescription,
  type SceneDescription,
} from '../../shapes/world/index.js';

export type EditKind = 'colour' | 'shape';

export interface QualityEdit {
  kind: EditKind;
  source: string;
  target: string;
  /** Index of the edited object. */
  object: number;
  /** LocalBlend words (absent: a plain Replace). */
  blend?: string[];
  /** Seed of the shared initial latent. */
  seed: number;
}

export interface EditSetSizes {
  /** Colour swaps of a single object (Replace). */
  colourSingle: number;
  /** Colour swaps of one of two objects (Replace + LocalBlend on its shape word). */
  colourPair: number;
  /** Shape swaps of one of two objects (Replace + LocalBlend on both shape words). */
  shapePair: number;
}

export const DEFAULT_EDIT_SET: EditSetSizes = { colourSingle: 30, colourPair: 15, shapePair: 15 };

/**
 * A random scene of one or two objects. Two objects differ in colour (each is found by its
 * colour) and in shape (so a shape word names one object for LocalBlend).
 */
function scene(rng: Rng, objects: 1 | 2): SceneDescription {
  for (;;) {
    const s = sampleScene(rng, { twoObjects: objects === 2 ? 1 : 0 });
    if (objects === 2 && (s.objects[0].colour === s.objects[1].colour || s.objects[0].shape === s.objects[1].shape))
      continue;
    return {
      background: s.background,
      objects: s.objects.map(({ colour, shape, size }) => ({ colour, shape, ...(size ? { size } : {}) })),
    };
  }
}

function with_(d: SceneDescription, i: number, o: Partial<ObjectDescription>): SceneDescription {
  return { ...d, objects: d.objects.map((x, k) => (k === i ? { ...x, ...o } : x)) };
}

/** The edit set for `sizes`, from `seed` (deterministic). */
export function qualityEdits(sizes: EditSetSizes = DEFAULT_EDIT_SET, seed = 2024): QualityEdit[] {
  const rng = new Rng(seed);
  const out: QualityEdit[] = [];
  const colourSwap = (d: SceneDescription, i: number) => {
    const used = new Set([d.background, ...d.objects.map((o) => o.colour)]);
    const colour = rng.pick(COLOURS.filter((c) => !used.has(c)));
    return with_(d, i, { colour });
  };
  for (let n = 0; n < sizes.colourSingle; n++) {
    const d = scene(rng, 1);
    out.push({
      kind: 'colour',
      source: captionOf(d),
      target: captionOf(colourSwap(d, 0)),
      object: 0,
      seed: rng.int(0, 1e6),
    });
  }
  for (let n = 0; n < sizes.colourPair; n++) {
    const d = scene(rng, 2);
    const i = rng.int(0, 1);
    out.push({
      kind: 'colour',
      source: captionOf(d),
      target: captionOf(colourSwap(d, i)),
      object: i,
      blend: [d.objects[i].shape],
      seed: rng.int(0, 1e6),
    });
  }
  for (let n = 0; n < sizes.shapePair; n++) {
    const d = scene(rng, 2);
    const i = rng.int(0, 1);
    const taken = new Set(d.objects.map((o) => o.shape));
    const free = SHAPES.filter((s) => !taken.has(s));
    const shape = rng.pick(free);
    out.push({
      kind: 'shape',
      source: captionOf(d),
      target: captionOf(with_(d, i, { shape })),
      object: i,
      blend: [d.objects[i].shape, shape],
      seed: rng.int(0, 1e6),
    });
  }
  return out;
}
