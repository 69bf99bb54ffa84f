/**
 * Captions of the shapes world, from this grammar only:
 *
 *   a|an [small|big] <colour> <shape> [and a|an [small|big] <colour> <shape>] on a|an <colour> background
 *
 * "an" comes before a vowel sound ("an orange circle", "a big orange circle", "on an orange
 * background"). Parsing is strict about words and articles; it only forgives case and extra spaces.
 */
import type { Rng } from './rng.js';
import { COLOURS, SHAPES, SIZES, isColour, isShape, isSize } from './palette.js';
import {
  placeScene,
  type ObjectDescription,
  type PlacementOptions,
  type Scene,
  type SceneDescription,
} from './scene.js';

/** "a" or "an" for the word that follows. */
export function article(next: string): 'a' | 'an' {
  return /^[aeiou]/.test(next) ? 'an' : 'a';
}

function objectPhrase(o: ObjectDescription): string {
  const words: string[] = o.size ? [o.size, o.colour, o.shape] : [o.colour, o.shape];
  return `${article(words[0])} ${words.join(' ')}`;
}

/** The caption of a scene (or of a parsed description). */
export function captionOf(scene: SceneDescription): string {
  const things = scene.objects.map(objectPhrase).join(' and ');
  return `${things} on ${article(scene.background)} ${scene.background} background`;
}

/**
 * The structured description of a caption. Throws a one-line error naming the offending word for
 * anything outside the grammar, or when an object has the background's colour.
 */
export function parseCaption(text: string): SceneDescription {
  const words = text
    .trim()
    .toLowerCase()
    .split(/\s+/)
    .filter((w) => w.length > 0);
  let i = 0;
  const fail = (why: string): never => {
    throw new Error(`caption ${JSON.stringify(text)}: ${why}`);
  };
  const at = (k: number) => (k < words.length ? `"${words[k]}" (word ${k + 1})` : 'the end of the caption');
  const expectWord = (wanted: string) => {
    if (words[i] !== wanted) fail(`expected "${wanted}" but found ${at(i)}`);
    i++;
  };
  const expectArticle = () => {
    const w = words[i];
    if (w !== 'a' && w !== 'an') fail(`expected "a" or "an" but found ${at(i)}`);
    const next = words[i + 1];
    if (next !== undefined && w !== article(next))
      fail(`"${w}" (word ${i + 1}) should be "${article(next)}" before "${next}"`);
    i++;
  };
  const object = (): ObjectDescription => {
    expectArticle();
    const o: Partial<ObjectDescription> = {};
    if (isSize(words[i] ?? '')) o.size = words[i++] as ObjectDescription['size'];
    const colour = words[i] ?? '';
    if (!isColour(colour))
      fail(
        `${at(i)} is not a ${o.size ? '' : 'size or '}colour (${[...(o.size ? [] : SIZES), ...COLOURS].join(', ')})`,
      );
    i++;
    const shape = words[i] ?? '';
    if (!isShape(shape)) fail(`${at(i)} is not a shape (${SHAPES.join(', ')})`);
    i++;
    return { colour: colour as ObjectDescription['colour'], shape: shape as ObjectDescription['shape'], ...o };
  };
  if (words.length === 0) fail('empty caption');
  const objects = [object()];
  if (words[i] === 'and') {
    i++;
    objects.push(object());
  }
  if (words[i] !== 'on') fail(`expected ${objects.length === 1 ? '"and" or ' : ''}"on" but found ${at(i)}`);
  i++;
  expectArticle();
  const background = words[i] ?? '';
  if (!isColour(background)) fail(`${at(i)} is not a background colour (${COLOURS.join(', ')})`);
  i++;
  expectWord('background');
  if (i < words.length) fail(`unexpected ${at(i)} after "background"`);
  for (const o of objects) {
    if (o.colour === background)
      fail(`"${o.colour}" is the background's colour too: an object never has the background's colour`);
  }
  return { objects, background: background as SceneDescription['background'] };
}

/** A scene matching the caption, with the described objects placed at random (see `placeScene`). */
export function sceneFromCaption(text: string, rng: Rng, options: PlacementOptions = {}): Scene {
  return placeScene(parseCaption(text), rng, options);
}
