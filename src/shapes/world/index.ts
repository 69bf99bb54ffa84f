/**
 * The shapes world: seeded scenes of one or two flat shapes on a flat background, their captions
 * (a fixed grammar), an anti-aliased renderer, and the image analysis that scores generations and
 * edits (palette segmentation, a shape test, IoU and change metrics). Platform-neutral: no tfjs,
 * no Node APIs; images are `Uint8Array` RGB.
 *
 * ```ts
 * const rng = new Rng(42);
 * const scene = sampleScene(rng, { twoObjects: 0.5 });
 * const image = renderScene(scene, 64);           // { width: 64, height: 64, data: RGB bytes }
 * captionOf(scene);                                // "a big orange circle on a blue background"
 * generationOk(image, captionOf(scene));           // true
 * ```
 */
export { Rng } from './rng.js';
export * from './palette.js';
export { SHAPE_ASPECT, STAR_INNER_RATIO } from './geometry.js';
export * from './image.js';
export * from './scene.js';
export * from './caption.js';
export * from './render.js';
export {
  connectedComponents,
  componentMask,
  largestComponent,
  fillHoles,
  morph,
  erodeCross,
  type ConnectedComponents,
} from './connected-components.js';
export * from './segment.js';
export * from './shape-test.js';
export * from './metrics.js';
export * from './edit-check.js';
