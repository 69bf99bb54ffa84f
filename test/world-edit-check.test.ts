import { expect } from 'chai';
import { Rng } from '../src/shapes/world/rng.js';
import { renderScene } from '../src/shapes/world/render.js';
import { sceneFromCaption } from '../src/shapes/world/caption.js';
import { checkEdit, EDIT_IOU_MIN, SOURCE_LEFT_MAX } from '../src/shapes/world/edit-check.js';
import { blur, changed, flood, withBlob } from './helpers/world.js';

describe('world: edit check (an attribute counts only where the source object was)', () => {
  const one = 'a red circle on a white background';
  const oneBlue = 'a blue circle on a white background';
  const two = 'a red circle and a yellow square on a black background';
  const twoGreen = 'a green circle and a yellow square on a black background';
  const twoStar = 'a red star and a yellow square on a black background';

  it('an ideal colour or shape edit passes, also softened like a generated image', () => {
    for (let seed = 0; seed < 20; seed++) {
      const s = sceneFromCaption(one, new Rng(seed));
      const source = renderScene(s, 64),
        edited = renderScene(changed(s, 0, { colour: 'blue' }), 64);
      const c = checkEdit(source, edited, one, oneBlue, 0);
      expect(c.ok, `seed ${seed}: ${c.reason}`).to.equal(true);
      expect(c.iou).to.be.above(0.95);
      expect(c.sourceLeft).to.equal(0);
      expect(checkEdit(blur(source, 0.6), blur(edited, 0.6), one, oneBlue, 0).ok, `seed ${seed} blurred`).to.equal(
        true,
      );
      const p = sceneFromCaption(two, new Rng(seed));
      const ps = renderScene(p, 64);
      expect(
        checkEdit(ps, renderScene(changed(p, 0, { colour: 'green' }), 64), two, twoGreen, 0).ok,
        `seed ${seed} pair colour`,
      ).to.equal(true);
      const star = checkEdit(ps, renderScene(changed(p, 0, { shape: 'star' }), 64), two, twoStar, 0);
      expect(star.ok, `seed ${seed} pair shape: ${star.reason}`).to.equal(true);
      expect(star.overlap).to.be.above(0.9);
      expect(star.sourceLeft).to.equal(null);
    }
  });

  it('a red circle left as it was and a small blue square (or circle) in a corner fails', () => {
    const s = sceneFromCaption(one, new Rng(3));
    for (const shape of ['square', 'circle'] as const) {
      const fake = renderScene(withBlob(s, 'blue', shape, 7 / 64), 64);
      const c = checkEdit(renderScene(s, 64), fake, one, oneBlue, 0);
      expect(c).to.include({ ok: false, iou: 0, reason: 'the blue circle is not where the red one was (IoU 0.00)' });
      expect(c.sourceLeft).to.be.above(0.99);
    }
    // a blue circle of the same size elsewhere fails too
    const elsewhere = renderScene(
      changed(changed(s, 0, { colour: 'blue' }), 0, { cx: s.objects[0].cx > 0.5 ? 0.2 : 0.8 }),
      64,
    );
    const e = checkEdit(renderScene(s, 64), elsewhere, one, oneBlue, 0);
    expect(e.ok).to.equal(false);
    expect(e.iou).to.be.below(EDIT_IOU_MIN);
    expect(e.reason).to.match(/not where the red one was/);
  });

  it('an editor that changes nothing fails (colour and shape edits)', () => {
    const s = sceneFromCaption(one, new Rng(4));
    const image = renderScene(s, 64);
    expect(checkEdit(image, image, one, oneBlue, 0)).to.include({
      ok: false,
      reason: 'no blue object in the edit',
      sourceLeft: 1,
    });
    const p = renderScene(sceneFromCaption(two, new Rng(4)), 64);
    expect(checkEdit(p, p, two, twoStar, 0)).to.include({
      ok: false,
      reason: 'the red object is a circle, not a star',
    });
  });

  it('a flood of the target colour fails', () => {
    const source = renderScene(sceneFromCaption(one, new Rng(5)), 64);
    expect(checkEdit(source, flood(64, 'blue'), one, oneBlue, 0)).to.include({ ok: false, overlap: 1, sourceLeft: 0 });
    expect(checkEdit(source, flood(64, 'blue'), one, oneBlue, 0).reason).to.match(
      /^the blue circle is not where the red one was \(IoU 0\.0\d\)$/,
    );
    const p = renderScene(sceneFromCaption(two, new Rng(5)), 64);
    expect(checkEdit(p, flood(64, 'red'), two, twoStar, 0)).to.include({ ok: false, overlap: 1 });
    expect(checkEdit(p, flood(64, 'red'), two, twoStar, 0).reason).to.match(
      /^the star is \d+\.\d\d× the area of the circle$/,
    );
  });

  it('the attribute given to the other object fails', () => {
    for (let seed = 0; seed < 10; seed++) {
      const p = sceneFromCaption(two, new Rng(seed));
      const source = renderScene(p, 64);
      // the square turns green, the circle stays red
      const swapped = checkEdit(source, renderScene(changed(p, 1, { colour: 'green' }), 64), two, twoGreen, 0);
      expect(swapped, `seed ${seed}`).to.include({ ok: false, iou: 0 });
      expect(swapped.sourceLeft).to.be.above(0.95);
      // a green circle drawn in the square's place instead of it, the red circle gone
      const circle = changed(p, 0, { colour: 'green', cx: p.objects[1].cx }).objects[0];
      const onto = { ...p, objects: [{ ...circle, cy: p.objects[1].cy }] };
      expect(checkEdit(source, renderScene(onto, 64), two, twoGreen, 0).reason, `seed ${seed} onto`).to.match(
        /not where the red one was/,
      );
      // the square turns into a red star, the circle stays
      const moved = renderScene(changed(changed(p, 1, { shape: 'star', colour: 'red' }), 0, { colour: 'yellow' }), 64);
      expect(checkEdit(source, moved, two, twoStar, 0).reason, `seed ${seed} shape`).to.match(
        /^the star is not where the circle was/,
      );
    }
  });

  it('a recoloured object that keeps a thick ring of its old colour fails; a background painted over fails', () => {
    const s = sceneFromCaption('a big red square on a white background', new Rng(6));
    const source = renderScene(s, 64);
    // the new colour only in the middle third: most of the old square stays red
    const inner = {
      ...s,
      objects: [s.objects[0], { ...changed(s, 0, { colour: 'blue' }).objects[0], extent: s.objects[0].extent / 2 }],
    };
    const ring = checkEdit(
      source,
      renderScene(inner, 64),
      'a big red square on a white background',
      'a big blue square on a white background',
      0,
    );
    expect(ring.ok).to.equal(false);
    expect(ring.sourceLeft).to.be.above(SOURCE_LEFT_MAX);
    // the new colour over most of the old square but a red ring left around it: fails by the ring alone
    const thick = {
      ...s,
      objects: [s.objects[0], { ...changed(s, 0, { colour: 'blue' }).objects[0], extent: s.objects[0].extent * 0.8 }],
    };
    const left = checkEdit(
      source,
      renderScene(thick, 64),
      'a big red square on a white background',
      'a big blue square on a white background',
      0,
    );
    expect(left.iou).to.be.above(EDIT_IOU_MIN);
    expect(left.reason).to.match(/^3\d % of the object is still red$/);
    const painted = renderScene({ ...changed(s, 0, { colour: 'blue' }), backgroundRgb: [0x1a, 0x1a, 0x1a] }, 64);
    expect(
      checkEdit(source, painted, 'a big red square on a white background', 'a big blue square on a white background', 0)
        .reason,
    ).to.match(/background is not white/);
  });

  it('rejects captions that do not differ in the named object only', () => {
    const image = renderScene(sceneFromCaption(two, new Rng(1)), 64);
    expect(() => checkEdit(image, image, two, twoGreen, 1)).to.throw(/differ in object 1 only, they differ in \[0\]/);
    expect(() => checkEdit(image, image, two, two, 0)).to.throw(/they differ in \[\]/);
  });
});
