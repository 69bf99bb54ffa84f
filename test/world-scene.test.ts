import { expect } from 'chai';
import { Rng } from '../src/shapes/world/rng.js';
import {
  boxesClear,
  EDGE_MARGIN,
  EXTENT_RANGES,
  placeScene,
  sampleScene,
  type Scene,
} from '../src/shapes/world/scene.js';
import { COLOURS, PALETTE, SHAPES } from '../src/shapes/world/palette.js';

describe('world: scenes', () => {
  const scenes: Scene[] = [];
  before(() => {
    const rng = new Rng(7);
    for (let i = 0; i < 10000; i++) scenes.push(sampleScene(rng));
  });

  it('10k sampled scenes: objects never overlap, stay inside, never share the background colour', () => {
    const bad: string[] = [];
    const eps = 1e-12;
    for (const s of scenes) {
      const why: string[] = [];
      if (s.objects.length < 1 || s.objects.length > 2) why.push(`${s.objects.length} objects`);
      for (const o of s.objects) {
        if (o.colour === s.background) why.push(`${o.colour} object on ${s.background}`);
        const half = o.extent / 2;
        if (Math.min(o.cx, o.cy) - half < EDGE_MARGIN - eps || Math.max(o.cx, o.cy) + half > 1 - EDGE_MARGIN + eps)
          why.push('outside');
        const [lo, hi] = EXTENT_RANGES[o.size ?? 'unnamed'];
        if (o.extent < lo || o.extent >= hi) why.push(`extent ${o.extent} for ${o.size}`);
      }
      if (s.objects.length === 2) {
        const [a, b] = s.objects;
        if (!boxesClear(a, b)) why.push('overlap');
        if (a.colour === b.colour && a.shape === b.shape) why.push('two identical objects');
      }
      if (why.length) bad.push(`${why.join(', ')}: ${JSON.stringify(s)}`);
    }
    expect(bad).to.deep.equal([]);
  });

  it('10k sampled scenes: jitter within ±8 per channel, drawn per object (not all equal)', () => {
    const offsets = new Set<string>();
    let worst = 0;
    for (const s of scenes) {
      for (const [name, rgb] of [
        [s.background, s.backgroundRgb],
        ...s.objects.map((o) => [o.colour, o.rgb] as const),
      ] as const) {
        const off = rgb.map((v, c) => v - PALETTE[name][c]);
        for (const [c, d] of off.entries()) {
          if (!Number.isInteger(rgb[c])) throw new Error(`fractional colour ${rgb}`);
          worst = Math.max(worst, Math.abs(d));
        }
        offsets.add(off.join(','));
      }
    }
    expect(worst).to.equal(8);
    expect(offsets.size).to.be.greaterThan(1000);
    const rng = new Rng(1);
    const flat = sampleScene(rng, { jitter: 0, twoObjects: 1 });
    expect(flat.backgroundRgb).to.deep.equal(PALETTE[flat.background]);
    for (const o of flat.objects) expect(o.rgb).to.deep.equal(PALETTE[o.colour]);
  });

  it('draws every colour, shape, size and object count; options steer the probabilities', () => {
    expect(new Set(scenes.map((s) => s.background)).size).to.equal(COLOURS.length);
    expect(new Set(scenes.flatMap((s) => s.objects.map((o) => o.shape))).size).to.equal(SHAPES.length);
    const two = scenes.filter((s) => s.objects.length === 2).length / scenes.length;
    expect(two).to.be.within(0.47, 0.53);
    const objs = scenes.flatMap((s) => s.objects);
    expect(objs.filter((o) => o.size === 'small').length / objs.length).to.be.within(0.22, 0.28);
    expect(objs.filter((o) => o.size === 'big').length / objs.length).to.be.within(0.22, 0.28);
    const rng = new Rng(3);
    for (let i = 0; i < 200; i++) {
      const s = sampleScene(rng, { twoObjects: 1, namedSize: 0, colours: ['red', 'blue', 'green'], shapes: ['star'] });
      expect(s.objects.length).to.equal(2);
      expect(s.objects.every((o) => o.size === undefined && o.shape === 'star' && o.colour !== s.background)).to.equal(
        true,
      );
    }
  });

  it('two big objects always fit (side by side when random placement fails)', () => {
    const rng = new Rng(11);
    for (let i = 0; i < 300; i++) {
      const s = placeScene(
        {
          background: 'white',
          objects: [
            { colour: 'red', shape: 'square', size: 'big' },
            { colour: 'blue', shape: 'circle', size: 'big' },
          ],
        },
        rng,
      );
      expect(boxesClear(s.objects[0], s.objects[1])).to.equal(true);
      for (const o of s.objects) expect(Math.min(o.cx, o.cy) - o.extent / 2).to.be.at.least(EDGE_MARGIN - 1e-12);
    }
  });

  it('same seed, same scenes', () => {
    const a = new Rng(99),
      b = new Rng(99);
    for (let i = 0; i < 100; i++) expect(sampleScene(a)).to.deep.equal(sampleScene(b));
  });

  it('rejects impossible scenes with one-line errors', () => {
    const rng = new Rng(1);
    expect(() => placeScene({ background: 'red', objects: [{ colour: 'red', shape: 'star' }] }, rng)).to.throw(
      /red star on a red background would be invisible/,
    );
    expect(() => placeScene({ background: 'red', objects: [] }, rng)).to.throw(/1 or 2 objects, got 0/);
    expect(() =>
      placeScene({ background: 'red', objects: [{ colour: 'blue', shape: 'star' }] }, rng, { jitter: 9 }),
    ).to.throw(/jitter must be an integer in 0–8, got 9/);
    expect(() => sampleScene(rng, { colours: ['red'] })).to.throw(/at least 2 colours/);
    expect(() =>
      placeScene({ background: 'red', objects: [{ colour: 'blue', shape: 'hexagon' as 'star' }] }, rng),
    ).to.throw(/unknown shape "hexagon"/);
    expect(() =>
      placeScene({ background: 'pink' as 'red', objects: [{ colour: 'blue', shape: 'star' }] }, rng),
    ).to.throw(/unknown background colour "pink"/);
    expect(() => sampleScene(rng, { colours: ['red', 'blue'], shapes: ['star'], twoObjects: 1 })).to.throw(
      /two objects need two colour.shape pairs/,
    );
  });
});
