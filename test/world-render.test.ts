import { expect } from 'chai';
import { Rng } from '../src/shapes/world/rng.js';
import { placeScene, sampleScene, type Scene } from '../src/shapes/world/scene.js';
import { objectMask, renderScene } from '../src/shapes/world/render.js';
import { STAR_INNER_RATIO } from '../src/shapes/world/geometry.js';
import { PALETTE, type ShapeName } from '../src/shapes/world/palette.js';

/** FNV-1a 32-bit hash of bytes. */
function fnv1a(data: Uint8Array | Uint8ClampedArray): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < data.length; i++) h = Math.imul(h ^ data[i], 0x01000193);
  return h >>> 0;
}

/** One unjittered object on a background, centred. */
function single(shape: ShapeName, extent: number, cx = 0.5, cy = 0.5): Scene {
  const s = placeScene({ background: 'blue', objects: [{ colour: 'yellow', shape }] }, new Rng(0), { jitter: 0 });
  Object.assign(s.objects[0], { extent, cx, cy });
  return s;
}

/** Per pixel, how far the colour is from the background to the object's colour (0–1, least squares). */
function alphas(scene: Scene, size: number): Float64Array {
  const img = renderScene(scene, size);
  const bg = scene.backgroundRgb,
    fg = scene.objects[0].rgb;
  const d0 = fg[0] - bg[0],
    d1 = fg[1] - bg[1],
    d2 = fg[2] - bg[2];
  const len2 = d0 * d0 + d1 * d1 + d2 * d2;
  const out = new Float64Array(size * size);
  for (let p = 0; p < out.length; p++) {
    out[p] =
      ((img.data[3 * p] - bg[0]) * d0 + (img.data[3 * p + 1] - bg[1]) * d1 + (img.data[3 * p + 2] - bg[2]) * d2) / len2;
  }
  return out;
}

const C18 = Math.cos(Math.PI / 10);
/** Shape area over (extent in px)² for the scene's proportions. */
const AREA: Record<ShapeName, number> = {
  circle: Math.PI / 4,
  square: 1,
  triangle: 0.5,
  // pentagram with outer radius R = 1/(2 sin 72°): 10 triangles R·r·sin 36° / 2
  star: 5 * STAR_INNER_RATIO * Math.sin(Math.PI / 5) * (1 / (2 * C18)) ** 2,
};

describe('world: renderer', () => {
  it('is deterministic: same scene, same bytes; pinned checksums of a few renders', () => {
    const rng = new Rng(2024);
    const hashes = Array.from({ length: 4 }, () => {
      const s = sampleScene(rng, { twoObjects: 0.5 });
      expect(renderScene(s, 64).data).to.deep.equal(renderScene(s, 64).data);
      return [fnv1a(renderScene(s, 64).data), fnv1a(renderScene(s, 128).data)];
    });
    // Pinned: a change here changes every training image; update only on purpose.
    expect(hashes).to.deep.equal(PINNED);
  });

  it('fills flat: object and background pixels away from edges are exactly their jittered colours', () => {
    const rng = new Rng(8);
    for (let i = 0; i < 50; i++) {
      const s = sampleScene(rng);
      const size = 128;
      const img = renderScene(s, size);
      const px = (x: number, y: number) => Array.from(img.data.subarray(3 * (y * size + x), 3 * (y * size + x) + 3));
      expect(px(0, 0)).to.deep.equal([...s.backgroundRgb]);
      for (const o of s.objects) {
        // the star's centre, the circle's and square's centre, a point low in the triangle
        const y = o.shape === 'triangle' ? o.cy + o.extent / 4 : o.cy;
        expect(px(Math.floor(o.cx * size), Math.floor(y * size)), `${o.shape} ${JSON.stringify(o)}`).to.deep.equal([
          ...o.rgb,
        ]);
      }
    }
  });

  it('anti-aliases: edge pixels take intermediate values, and coverage sums to the exact area (±1 %)', () => {
    for (const shape of ['circle', 'square', 'triangle', 'star'] as const) {
      for (const [size, extent] of [
        [128, 0.4],
        [64, 0.3],
        [128, 0.137],
      ] as const) {
        const s = single(shape, extent, 0.503, 0.497);
        const a = alphas(s, size);
        const partial = a.filter((v) => v > 0.05 && v < 0.95).length;
        expect(partial, `${shape} at ${size}`).to.be.greaterThan(extent * size); // a ring of edge pixels
        expect(Math.min(...a)).to.be.at.least(-0.01);
        expect(Math.max(...a)).to.be.at.most(1.01);
        const area = a.reduce((x, y) => x + y, 0);
        const want = AREA[shape] * (extent * size) ** 2;
        expect(area / want, `${shape} at ${size}, extent ${extent}`).to.be.within(0.99, 1.01);
      }
    }
  });

  it('draws upright shapes: the triangle is widest at the bottom, the star has its top point centred', () => {
    const size = 128;
    const rowWidths = (s: Scene) => {
      const m = objectMask(s, 0, size);
      return Array.from({ length: size }, (_, y) =>
        m.data.subarray(y * size, (y + 1) * size).reduce((a, v) => a + v, 0),
      ).filter((w) => w > 0);
    };
    const tri = rowWidths(single('triangle', 0.4));
    expect(tri.indexOf(Math.max(...tri))).to.be.at.least(tri.length - 2);
    expect(tri[0]).to.be.at.most(2);
    const a = alphas(single('star', 0.4), size);
    const top = a.findIndex((v) => v > 0.02);
    expect(Math.abs((top % size) + 0.5 - 0.5 * size)).to.be.at.most(1);
    expect(Math.floor(top / size)).to.be.within(39, 40); // box 0.951·extent tall: its top at y = 39.65
  });

  it('objectMask is the set of pixels the render covers at least half', () => {
    for (const shape of ['circle', 'square', 'triangle', 'star'] as const) {
      for (const [size, extent] of [
        [128, 0.4],
        [64, 0.15],
      ] as const) {
        const s = single(shape, extent, 0.51, 0.49);
        const m = objectMask(s, 0, size);
        const a = alphas(s, size);
        let set = 0;
        const wrong: string[] = [];
        a.forEach((v, p) => {
          if (Math.abs(v - 0.5) > 0.02 && m.data[p] !== (v > 0.5 ? 1 : 0))
            wrong.push(`pixel ${p}: alpha ${v}, mask ${m.data[p]}`);
          set += m.data[p];
        });
        expect(wrong, shape).to.deep.equal([]);
        const tol = size === 128 ? 0.05 : 0.2; // whole pixels in or out along a 9.6 px edge
        expect(set / (AREA[shape] * (extent * size) ** 2), shape).to.be.within(1 - tol, 1 + tol);
      }
    }
  });

  it('blends over the background colour with the right per-object colours', () => {
    const s = placeScene(
      {
        background: 'black',
        objects: [
          { colour: 'red', shape: 'square' },
          { colour: 'white', shape: 'circle' },
        ],
      },
      new Rng(1),
      { jitter: 0 },
    );
    const img = renderScene(s, 64);
    const colours = new Set<string>();
    for (let p = 0; p < 64 * 64; p++) colours.add(Array.from(img.data.subarray(3 * p, 3 * p + 3)).join(','));
    for (const c of ['black', 'red', 'white'] as const) expect(colours.has(PALETTE[c].join(','))).to.equal(true);
  });

  it('reports render speed (a log line, not an assertion)', () => {
    const rng = new Rng(3);
    const scenes = Array.from({ length: 500 }, () => sampleScene(rng));
    for (const size of [64, 128]) {
      const t0 = performance.now();
      for (const s of scenes) renderScene(s, size);
      console.log(
        `      render ${size}×${size}: ${((performance.now() - t0) / scenes.length).toFixed(3)} ms per scene`,
      );
    }
  });

  it('rejects bad sizes and object indices with one-line errors', () => {
    const s = single('circle', 0.3);
    expect(() => renderScene(s, 7)).to.throw(/image size must be an integer in 8–4096, got 7/);
    expect(() => renderScene(s, 64.5)).to.throw(/got 64.5/);
    expect(() => objectMask(s, 1, 64)).to.throw(/the scene has no object 1 \(it has 1\)/);
  });
});

const PINNED = [
  [787967941, 24712646],
  [888854964, 436469514],
  [2316833284, 79932468],
  [1467770365, 1844032887],
];
