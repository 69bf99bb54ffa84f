import { expect } from 'chai';
import { Rng } from '../src/shapes/world/rng.js';
import { sampleScene, placeScene } from '../src/shapes/world/scene.js';
import { objectMask, renderScene } from '../src/shapes/world/render.js';
import { captionOf, sceneFromCaption } from '../src/shapes/world/caption.js';
import {
  BACKGROUND_COVER_MIN,
  backgroundFollows,
  changedObjects,
  checkGeneration,
  generationOk,
  iou,
  meanAbsChangeOutside,
  objectHasColour,
  objectHasShape,
  objectIou,
  unionMask,
  untouchedIou,
} from '../src/shapes/world/metrics.js';
import { emptyMask, type Mask } from '../src/shapes/world/image.js';
import { COLOURS, type ColourName } from '../src/shapes/world/palette.js';
import { blur, changed, flood, stripes, withBlob } from './helpers/world.js';

const maskOf = (w: number, h: number, set: number[]): Mask => {
  const m = emptyMask(w, h);
  for (const p of set) m.data[p] = 1;
  return m;
};

describe('world: metrics', () => {
  it('iou on hand-made masks', () => {
    expect(iou(maskOf(2, 2, [0, 1]), maskOf(2, 2, [0, 1]))).to.equal(1);
    expect(iou(maskOf(2, 2, [0, 1]), maskOf(2, 2, [1, 2]))).to.be.closeTo(1 / 3, 1e-12);
    expect(iou(maskOf(2, 2, [0]), maskOf(2, 2, [3]))).to.equal(0);
    expect(iou(emptyMask(2, 2), emptyMask(2, 2))).to.equal(0);
    expect(() => iou(emptyMask(2, 2), emptyMask(3, 2))).to.throw(/iou: sizes differ \(2×2 vs 3×2\)/);
    expect(Array.from(unionMask(2, 2, [maskOf(2, 2, [0]), null, maskOf(2, 2, [3])]).data)).to.deep.equal([1, 0, 0, 1]);
  });

  it('mean absolute change outside a mask', () => {
    const a = { width: 2, height: 1, data: Uint8Array.from([10, 20, 30, 0, 0, 0]) };
    const b = { width: 2, height: 1, data: Uint8Array.from([13, 14, 30, 100, 0, 0]) };
    expect(meanAbsChangeOutside(a, b, emptyMask(2, 1))).to.be.closeTo((3 + 6 + 0 + 100) / 6, 1e-12);
    expect(meanAbsChangeOutside(a, b, maskOf(2, 1, [1]))).to.equal(3);
    expect(meanAbsChangeOutside(a, b, maskOf(2, 1, [0]))).to.be.closeTo(100 / 3, 1e-12);
    expect(() => meanAbsChangeOutside(a, b, maskOf(2, 1, [0, 1]))).to.throw(/the mask covers the whole image/);
    expect(() => meanAbsChangeOutside(a, { ...b, data: new Uint8Array(3) }, emptyMask(2, 1))).to.throw(
      /second image: expected 6 RGB bytes/,
    );
    // a colour swap leaves everything outside the object untouched
    const s = sceneFromCaption('a big red circle and a blue triangle on a white background', new Rng(3));
    const t = changed(s, 0, { colour: 'green' });
    const m = unionMask(64, 64, [objectMask(s, 0, 64), objectMask(t, 0, 64)]);
    const before = renderScene(s, 64),
      after = renderScene(t, 64);
    // anti-aliased edge pixels outside the half-coverage mask change a little: under 1 level on average
    expect(meanAbsChangeOutside(before, after, m)).to.be.below(1);
    expect(meanAbsChangeOutside(before, after, emptyMask(64, 64))).to.be.above(1);
  });

  it('objectHasColour / objectHasShape on renders, and where they must fail', () => {
    const s = sceneFromCaption('a big red star on a white background', new Rng(1));
    const image = renderScene(s, 64);
    const m = objectMask(s, 0, 64);
    expect(objectHasColour(image, m, 'red')).to.equal(true);
    expect(objectHasColour(image, m, 'orange')).to.equal(false);
    expect(objectHasColour(image, m, 'white')).to.equal(false);
    expect(objectHasColour(image, emptyMask(64, 64), 'red')).to.equal(false);
    expect(() => objectHasColour(image, m, 'pink' as ColourName)).to.throw(/"pink" is not a palette colour/);
    expect(objectHasShape(m, 'star')).to.equal(true);
    expect(objectHasShape(m, 'circle')).to.equal(false);
    expect(objectHasShape(emptyMask(64, 64), 'star')).to.equal(false);
  });

  it('generationOk holds for 300 renders of their own captions (64 and 128 px)', () => {
    const rng = new Rng(77);
    for (let i = 0; i < 300; i++) {
      const s = sampleScene(rng);
      const size = i % 2 ? 64 : 128;
      expect(generationOk(renderScene(s, size), captionOf(s)), `${captionOf(s)} at ${size}`).to.equal(true);
    }
  });

  it('generationOk fails for a wrong colour, shape or background, or a missing object', () => {
    const s = sceneFromCaption('a small blue circle and a yellow square on a black background', new Rng(9));
    const image = renderScene(s, 64);
    expect(generationOk(image, 'a small blue circle and a yellow square on a black background')).to.equal(true);
    expect(generationOk(image, 'a blue circle and a big yellow square on a black background')).to.equal(true); // sizes are not judged
    const wrongColour = checkGeneration(image, 'a small green circle and a yellow square on a black background');
    expect(wrongColour.ok).to.equal(false);
    expect(wrongColour.objects[0].found).to.equal(false);
    expect(wrongColour.objects[1]).to.include({ found: true, shapeOk: true, shape: 'square' });
    const wrongShape = checkGeneration(image, 'a small blue circle and a yellow star on a black background');
    expect(wrongShape.ok).to.equal(false);
    expect(wrongShape.objects[1]).to.include({ found: true, shapeOk: false, shape: 'square' });
    const wrongBackground = checkGeneration(image, 'a small blue circle and a yellow square on a white background');
    expect(wrongBackground).to.include({ ok: false, background: 'black', backgroundOk: false });
    const one = renderScene(sceneFromCaption('a yellow square on a black background', new Rng(9)), 64);
    expect(generationOk(one, 'a small blue circle and a yellow square on a black background')).to.equal(false);
    expect(checkGeneration(one, 'a yellow square on a black background').objects[0].extent).to.be.within(0.19, 0.34);
  });

  it('changedObjects, objectIou and untouchedIou on two-object edits', () => {
    const src = 'a red circle and a blue square on a white background';
    const dst = 'a red circle and a blue star on a white background';
    expect(changedObjects(src, dst)).to.deep.equal([1]);
    expect(changedObjects(src, 'a green circle and a blue star on a white background')).to.deep.equal([0, 1]);
    expect(changedObjects(src, src)).to.deep.equal([]);
    expect(() => changedObjects(src, 'a red circle on a white background')).to.throw(
      /names 2 objects but "a red circle on a white background" names 1/,
    );

    const s = sceneFromCaption(src, new Rng(12));
    const before = renderScene(s, 64);
    const kept = renderScene(changed(s, 1, { shape: 'star' }), 64); // the circle stays put
    expect(untouchedIou(before, kept, src, dst)).to.be.greaterThan(0.99);
    const moved = renderScene(changed(changed(s, 1, { shape: 'star' }), 0, { cx: s.objects[0].cx + 0.05 }), 64);
    expect(untouchedIou(before, moved, src, dst)).to.be.below(0.8);
    const gone = renderScene(changed(changed(s, 1, { shape: 'star' }), 0, { colour: 'white' }), 64); // circle painted over
    expect(untouchedIou(before, gone, src, dst)).to.equal(0);
    // the edited object: a colour swap keeps its mask
    const recoloured = renderScene(changed(s, 1, { colour: 'green' }), 64);
    expect(
      objectIou(before, recoloured, src, 'a red circle and a green square on a white background', 1),
    ).to.be.greaterThan(0.95);
    expect(() => untouchedIou(before, kept, src, src)).to.throw(/exactly one changed, got 2 objects with 0 changed/);
    expect(() =>
      untouchedIou(before, kept, 'a red circle on a white background', 'a red star on a white background'),
    ).to.throw(/got 1 objects with 1 changed/);
  });

  it('checkGeneration finds same-colour objects by shape', () => {
    const s = placeScene(
      {
        background: 'purple',
        objects: [
          { colour: 'white', shape: 'triangle' },
          { colour: 'white', shape: 'circle' },
        ],
      },
      new Rng(4),
    );
    const image = renderScene(s, 64);
    const c = checkGeneration(image, captionOf(s));
    expect(c.ok).to.equal(true);
    expect(iou(c.masks[0]!, objectMask(s, 0, 64))).to.be.greaterThan(0.95);
    expect(checkGeneration(image, 'a white triangle and a white square on a purple background').ok).to.equal(false);
  });

  it('generationOk holds for 200 softened renders (Gaussian blur σ = 0.6 px per 64 px, as a generated image)', () => {
    const rng = new Rng(78);
    for (let i = 0; i < 200; i++) {
      const s = sampleScene(rng);
      const size = i % 2 ? 64 : 128;
      const c = checkGeneration(blur(renderScene(s, size), (0.6 * size) / 64), captionOf(s));
      expect(
        c.ok,
        `${captionOf(s)} at ${size}: ${JSON.stringify({ cover: c.backgroundCover, extra: c.extraObjects, objects: c.objects })}`,
      ).to.equal(true);
    }
  });

  it('generation fakes fail: stripes of every colour in a frame of the background, an extra blob, a flood, a missing background', () => {
    for (const bg of COLOURS) {
      const frame = stripes(64, bg);
      for (const colour of COLOURS.filter((c) => c !== bg)) {
        for (const shape of ['square', 'circle'] as const) {
          const caption = `a ${colour} ${shape} on a ${bg} background`.replace(/\ba ([aeiou])/g, 'an $1');
          const c = checkGeneration(frame, caption);
          expect(c.ok, caption).to.equal(false);
          expect(c.backgroundOk, caption).to.equal(false);
          expect(c.backgroundCover, caption).to.be.below(BACKGROUND_COVER_MIN);
        }
      }
    }
    // the right object and background, and a small blue square in a corner that no word names
    const s = sceneFromCaption('a red circle on a white background', new Rng(5));
    expect(generationOk(renderScene(s, 64), 'a red circle on a white background')).to.equal(true);
    const blob = checkGeneration(
      renderScene(withBlob(s, 'blue', 'square', 7 / 64), 64),
      'a red circle on a white background',
    );
    expect(blob).to.include({ ok: false, backgroundOk: false, extraObjects: 1 });
    expect(blob.backgroundCover).to.be.above(BACKGROUND_COVER_MIN); // caught as an object, not by the cover
    // a flood of the object's colour: the object covers everything, no background is left
    expect(checkGeneration(flood(64, 'red'), 'a red square on a white background')).to.include({
      ok: false,
      backgroundOk: false,
    });
    // the object on the wrong background
    const wrong = renderScene(sceneFromCaption('a red circle on a green background', new Rng(5)), 64);
    expect(checkGeneration(wrong, 'a red circle on a white background')).to.include({
      ok: false,
      background: 'green',
      backgroundOk: false,
    });
  });

  it('backgroundFollows: the colour of the border and of half the image, whatever the objects', () => {
    const s = sceneFromCaption('a big red circle and a big blue square on a yellow background', new Rng(2));
    const image = renderScene(s, 64);
    expect(backgroundFollows(image, 'yellow')).to.equal(true);
    expect(backgroundFollows(image, 'red')).to.equal(false);
    // objects of the wrong colour do not change the background's verdict
    expect(backgroundFollows(renderScene(changed(s, 0, { colour: 'purple' }), 64), 'yellow')).to.equal(true);
    expect(backgroundFollows(stripes(64, 'white'), 'white')).to.equal(false); // a frame is not a background
    expect(backgroundFollows(flood(64, 'white'), 'white')).to.equal(true);
    expect(() => backgroundFollows(image, 'pink' as ColourName)).to.throw(/"pink" is not a palette colour/);
  });
});
