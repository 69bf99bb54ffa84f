import { expect } from 'chai';
import { Rng } from '../src/shapes/world/rng.js';
import { placeScene, sampleScene } from '../src/shapes/world/scene.js';
import { objectMask, renderScene } from '../src/shapes/world/render.js';
import {
  backgroundColour,
  colourMask,
  nearestColourIndex,
  objectMasks,
  paletteLabels,
} from '../src/shapes/world/segment.js';
import { connectedComponents, fillHoles, largestComponent, morph } from '../src/shapes/world/connected-components.js';
import { iou } from '../src/shapes/world/metrics.js';
import { captionOf } from '../src/shapes/world/caption.js';
import { COLOURS, PALETTE } from '../src/shapes/world/palette.js';
import type { Mask } from '../src/shapes/world/image.js';
import { blur } from './helpers/world.js';

/** A mask from rows of '#' and '.'. */
function maskOf(...rows: string[]): Mask {
  return {
    width: rows[0].length,
    height: rows.length,
    data: Uint8Array.from(rows.join(''), (c) => (c === '#' ? 1 : 0)),
  };
}
const rowsOf = (m: Mask) =>
  Array.from({ length: m.height }, (_, y) =>
    Array.from(m.data.subarray(y * m.width, (y + 1) * m.width), (v) => (v ? '#' : '.')).join(''),
  );

describe('world: segmentation', () => {
  it('nearest palette colour: each palette colour maps to itself, jittered ones too', () => {
    COLOURS.forEach((c, k) => {
      const [r, g, b] = PALETTE[c];
      expect(nearestColourIndex(r, g, b)).to.equal(k);
      for (const d of [-8, 8])
        expect(nearestColourIndex(Math.max(0, r + d), Math.max(0, g - d), Math.min(255, b + d)), c).to.equal(k);
    });
  });

  it('connected components: 4- vs 8-connectivity, areas, largest component, holes, morphology', () => {
    const m = maskOf('##..#', '##.#.', '.....', '..###');
    expect(connectedComponents(m, 4).areas).to.deep.equal([4, 1, 1, 3]);
    expect(connectedComponents(m, 8).areas).to.deep.equal([4, 2, 3]);
    expect(rowsOf(largestComponent(m))).to.deep.equal(['##...', '##...', '.....', '.....']);
    expect(rowsOf(fillHoles(maskOf('#####', '#..#.', '#####', '.....')))).to.deep.equal([
      '#####',
      '####.',
      '#####',
      '.....',
    ]);
    expect(rowsOf(fillHoles(maskOf('.###.', '.#.#.', '.#...')))).to.deep.equal(['.###.', '.#.#.', '.#...']); // open to the border
    const block = maskOf('.....', '.###.', '.###.', '.###.', '.....');
    expect(rowsOf(morph(block, -1))).to.deep.equal(['.....', '.....', '..#..', '.....', '.....']);
    expect(rowsOf(morph(morph(block, -1), 1))).to.deep.equal(rowsOf(block));
  });

  it('estimates the background colour from the border', () => {
    const rng = new Rng(21);
    for (let i = 0; i < 100; i++) {
      const s = sampleScene(rng);
      expect(backgroundColour(renderScene(s, 64))).to.equal(s.background);
    }
  });

  it('recovers the object masks of 300 renders at 64 and 128 px with IoU > 0.95 (clean); blurred: > 0.7 (8 px stars lose their points), mean > 0.9', () => {
    for (const size of [64, 128]) {
      const rng = new Rng(size);
      let worst = 1,
        worstBlurred = 1,
        sumBlurred = 0,
        nBlurred = 0;
      for (let i = 0; i < 300; i++) {
        const s = sampleScene(rng);
        const image = renderScene(s, size);
        const masks = objectMasks(image, captionOf(s));
        const blurred = i < 100 ? objectMasks(blur(image, (0.6 * size) / 64), s) : [];
        s.objects.forEach((_, k) => {
          const truth = objectMask(s, k, size);
          expect(masks[k], `${captionOf(s)}: object ${k} not found`).to.not.equal(null);
          worst = Math.min(worst, iou(masks[k]!, truth));
          if (blurred[k] !== undefined) {
            const v = blurred[k] ? iou(blurred[k]!, truth) : 0;
            worstBlurred = Math.min(worstBlurred, v);
            sumBlurred += v;
            nBlurred++;
          }
        });
      }
      const meanBlurred = sumBlurred / nBlurred;
      console.log(
        `      ${size} px: worst IoU ${worst.toFixed(3)} clean; blurred (σ = ${(0.6 * size) / 64} px) worst ${worstBlurred.toFixed(3)}, mean ${meanBlurred.toFixed(3)}`,
      );
      expect(worst).to.be.greaterThan(0.95);
      expect(worstBlurred).to.be.greaterThan(0.7);
      expect(meanBlurred).to.be.greaterThan(0.9);
    }
  });

  it('tells two objects of the same colour apart by their shapes', () => {
    const rng = new Rng(5);
    for (let i = 0; i < 60; i++) {
      const s = sampleScene(rng, { twoObjects: 1, colours: ['white', 'green'] });
      const masks = objectMasks(renderScene(s, 64), s);
      s.objects.forEach((o, k) =>
        expect(iou(masks[k]!, objectMask(s, k, 64)), `${captionOf(s)}: ${o.shape}`).to.be.greaterThan(0.95),
      );
    }
  });

  it('finds no object where the colour is missing, nor in the anti-aliasing fringe of another', () => {
    // red on blue: the mixed edge pixels are nearest to purple
    const s = placeScene(
      { background: 'blue', objects: [{ colour: 'red', shape: 'circle', size: 'big' }] },
      new Rng(2),
    );
    const image = renderScene(s, 128);
    const purple = colourMask(paletteLabels(image), 128, 128, 'purple');
    expect(purple.data.reduce((a, v) => a + v, 0)).to.be.greaterThan(20); // the fringe exists
    const masks = objectMasks(image, 'a red circle and a purple square on a blue background');
    expect(masks[0]).to.not.equal(null);
    expect(masks[1]).to.equal(null);
    expect(objectMasks(image, 'a green star on a blue background')).to.deep.equal([null]);
  });

  it('rejects malformed images and captions with one-line errors', () => {
    expect(() => paletteLabels({ width: 4, height: 4, data: new Uint8Array(10) })).to.throw(
      /expected 48 RGB bytes for 4×4, got 10/,
    );
    expect(() => objectMasks(renderScene(sampleScene(new Rng(1)), 64), 'a red thing on a blue background')).to.throw(
      /"thing" \(word 3\) is not a shape/,
    );
  });
});
