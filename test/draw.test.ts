import { expect } from 'chai';
import { blankImage, drawLine, setPixel } from '../src/draw/canvas.js';
import { drawText, GLYPH_ADVANCE, glyphPixel, textWidth } from '../src/draw/font.js';
import { imageGrid, mapGrid } from '../src/draw/grid.js';
import { plotSeries, runningMean } from '../src/draw/plot.js';
import { signedBatchToRgbImages, type RgbImage } from '../src/util/image.js';

const px = (img: RgbImage, x: number, y: number) =>
  Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));

/** Count of non-white pixels in a rectangle. */
function inked(img: RgbImage, x0: number, y0: number, w: number, h: number): number {
  let n = 0;
  for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) if (img.data[(y * img.width + x) * 3] < 128) n++;
  return n;
}

/** A w×h image of one colour. */
const solid = (w: number, h: number, c: number): RgbImage => ({
  width: w,
  height: h,
  data: new Uint8Array(w * h * 3).fill(c),
});

describe('draw: font, lines, grids and plots on RGB images', () => {
  it('font: 95 ASCII glyphs, distinct, unknown characters drawn as "?"', () => {
    const pattern = (ch: string) =>
      Array.from({ length: 35 }, (_, i) => (glyphPixel(ch, i % 5, Math.floor(i / 5)) ? 1 : 0)).join('');
    const all = Array.from({ length: 95 }, (_, i) => pattern(String.fromCharCode(32 + i)));
    expect(new Set(all).size).to.equal(95);
    expect(pattern('é')).to.equal(pattern('?'));
    // 'I' is a vertical bar in the middle column with serifs; 'T' has a full top row.
    expect([0, 1, 2, 3, 4, 5, 6].every((y) => glyphPixel('I', 2, y))).to.equal(true);
    expect([0, 1, 2, 3, 4].every((x) => glyphPixel('T', x, 0))).to.equal(true);
    expect(textWidth('abc', 2)).to.equal((3 * GLYPH_ADVANCE - 1) * 2);
    const img = blankImage(40, 10);
    drawText(img, 1, 1, 'Hi!');
    expect(inked(img, 0, 0, 40, 10)).to.be.greaterThan(10);
    expect(inked(img, 20, 0, 20, 10)).to.equal(0);
  });

  it('canvas: blank images are white; pixels and lines are clipped to the image', () => {
    const img = blankImage(5, 4);
    expect(img.data.length).to.equal(60);
    expect(img.data.every((v) => v === 255)).to.equal(true);
    setPixel(img, -1, 0, [0, 0, 0]);
    setPixel(img, 5, 0, [0, 0, 0]);
    expect(img.data.every((v) => v === 255)).to.equal(true);
    drawLine(img, 0, 0, 9, 0, [1, 2, 3]);
    for (let x = 0; x < 5; x++) expect(px(img, x, 0)).to.deep.equal([1, 2, 3]);
    expect(px(img, 0, 1)).to.deep.equal([255, 255, 255]);
    drawLine(img, 0, 0, 3, 3, [9, 9, 9]);
    for (let i = 0; i < 4; i++) expect(px(img, i, i)).to.deep.equal([9, 9, 9]);
  });

  it('image grid: tiles images with gaps and draws labels under them; rejects mixed sizes', () => {
    const images = [solid(12, 10, 0), solid(12, 10, 100), solid(12, 10, 200)];
    const g = imageGrid(images, 2, ['ab', 'cd', 'ef'], 4);
    expect([g.width, g.height]).to.deep.equal([2 * 12 + 3 * 4, 2 * (10 + 22) + 3 * 4]);
    expect(px(g, 4, 4)).to.deep.equal([0, 0, 0]);
    expect(px(g, 4 + 12 + 4, 4)).to.deep.equal([100, 100, 100]);
    expect(px(g, 4, 4 + 10 + 22 + 4)).to.deep.equal([200, 200, 200]);
    expect(px(g, 2, 2), 'outer gap').to.deep.equal([255, 255, 255]);
    expect(inked(g, 4, 4 + 10, 12, 22), 'label under image 0').to.be.greaterThan(5);
    expect(imageGrid(images, 3).height, 'no label band without labels').to.equal(10 + 2 * 4);
    expect(() => imageGrid([solid(2, 2, 0), solid(3, 2, 0)], 2)).to.throw('imageGrid: images differ in size');
    expect(() => imageGrid([], 2)).to.throw('imageGrid: no images');
  });

  it('map grid: greyscale maps upscaled nearest-neighbour, clamped to 0..255, a label under each', () => {
    const g = mapGrid(
      [
        { label: 'x', value: (r, c) => (r === 0 && c === 1 ? 300 : -5) },
        { label: 'y', value: () => 128 },
      ],
      2,
      2,
      { cell: 8, gap: 2 },
    );
    expect([g.width, g.height]).to.deep.equal([8 * 2 + 2, 8 + 7 + 6]);
    expect(px(g, 4, 0)).to.deep.equal([255, 255, 255]);
    expect(px(g, 3, 0)).to.deep.equal([0, 0, 0]);
    expect(px(g, 4, 4)).to.deep.equal([0, 0, 0]);
    expect(px(g, 10, 7)).to.deep.equal([128, 128, 128]);
    expect(inked(g, 0, 8, 8, g.height - 8)).to.be.greaterThan(3);
  });

  it('plot: a rising series draws a curve from bottom left to top right; running mean over a window', () => {
    const points = Array.from({ length: 50 }, (_, i) => [i, 10 ** (i / 10)] as const);
    const img = plotSeries('loss', [{ label: 'raw', points, colour: [255, 0, 0] }], 320, 200);
    const red = (x0: number, y0: number, w: number, h: number) => {
      let n = 0;
      for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) if (px(img, x, y).join() === '255,0,0') n++;
      return n;
    };
    // The curve is in the lower left and upper right quarters, not the upper left (the red legend starts at x = 148).
    expect(red(56, 100, 100, 72)).to.be.greaterThan(20);
    expect(red(200, 40, 100, 60)).to.be.greaterThan(20);
    expect(red(56, 24, 80, 60)).to.equal(0);
    expect(inked(plotSeries('empty', [], 100, 50), 0, 0, 100, 50), 'only the title').to.be.greaterThan(0);
    expect(
      runningMean(
        [
          [0, 1],
          [1, 3],
          [2, 5],
          [3, 7],
        ],
        2,
      ),
    ).to.deep.equal([
      [0, 1],
      [1, 2],
      [2, 4],
      [3, 6],
    ]);
  });

  it('signed float batches ([−1, 1]) become 8-bit images, clamped and rounded', () => {
    const pixels = Float32Array.from([-1, 0, 1, -2, 0.5, 2, 1, 1, 1, -1, -1, -1]);
    const images = signedBatchToRgbImages(pixels, 4, 1);
    expect(images.map((im) => [im.width, im.height, ...im.data])).to.deep.equal([
      [1, 1, 0, 128, 255],
      [1, 1, 0, 191, 255],
      [1, 1, 255, 255, 255],
      [1, 1, 0, 0, 0],
    ]);
    expect(() => signedBatchToRgbImages(pixels, 2, 2)).to.throw(
      'signedBatchToRgbImages: 12 values for 2 images of 2×2×3',
    );
  });
});
