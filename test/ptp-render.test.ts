import { expect } from 'chai';
import { principalComponents } from '../src/ptp/principal-components.js';
import { blankImage } from '../src/draw/canvas.js';
import { crossAttentionGrid, selfAttentionComponents, tokenLabels } from '../src/ptp/render.js';
import type { RgbImage } from '../src/util/image.js';
import { decodePng, encodePng } from '../src/node/png.js';
import { clipTokenizer } from './helpers/ptp.js';
import { describeRef } from './helpers/reference.js';

const px = (img: RgbImage, x: number, y: number) => img.data[(y * img.width + x) * 3];

/** Count of non-white pixels in a rectangle. */
function inked(img: RgbImage, x0: number, y0: number, w: number, h: number): number {
  let n = 0;
  for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) if (px(img, x, y) < 128) n++;
  return n;
}

describe('ptp render: attention maps as pixels', () => {
  it('cross-attention grid: a bright square lands where it is, labels are drawn under each map', () => {
    const h = 16,
      w = 16,
      k = 77;
    const data = new Float32Array(h * w * k).fill(0.01);
    // Token 2: a bright square at rows 4-7, columns 8-11; token 1: bright top-left pixel only.
    for (let r = 4; r < 8; r++) for (let c = 8; c < 12; c++) data[(r * w + c) * k + 2] = 0.9;
    data[1] = 0.5;
    const dim = (max: number) => Math.round((Math.fround(0.01) * 255) / Math.fround(max));
    const labels = ['<|startoftext|>', 'a', 'cat', '<|endoftext|>'];
    const img = crossAttentionGrid({ data, height: h, width: w, channels: k }, labels, { cell: 128, gap: 4 });
    expect(img.width).to.equal(4 * 128 + 3 * 4);
    const x0 = 2 * (128 + 4); // third cell
    // Square rows 4..7 → pixels 32..63, columns 8..11 → 64..95 (×8 upscale), at full brightness.
    expect(px(img, x0 + 64, 32)).to.equal(255);
    expect(px(img, x0 + 95, 63)).to.equal(255);
    expect(px(img, x0 + 63, 32), 'left of the square').to.equal(dim(0.9));
    expect(px(img, x0 + 64, 64), 'below the square').to.equal(dim(0.9));
    // Token 1: its maximum is the top-left pixel.
    expect(px(img, 128 + 4, 0)).to.equal(255);
    expect(px(img, 128 + 4 + 8, 0)).to.equal(dim(0.5));
    // Labels: ink below each map, none in the gaps; different words give different ink.
    const labelBand = (i: number) => inked(img, i * 132, 128, 128, img.height - 128);
    for (let i = 0; i < 4; i++) expect(labelBand(i), `label ${i}`).to.be.greaterThan(5);
    expect(labelBand(1)).to.not.equal(labelBand(2));
    expect(inked(img, 128, 128, 4, img.height - 128)).to.equal(0);
  });

  it('principal components recover known singular vectors', () => {
    const n = 64;
    // A = Σ σ_i u_i v_iᵀ with orthonormal cosine vectors (zero mean, so centring keeps them).
    const basis = (f: number) =>
      Float64Array.from({ length: n }, (_, j) => Math.cos((Math.PI * f * (j + 0.5)) / n) * Math.sqrt(2 / n));
    const sig = [9, 5, 2];
    const v = [basis(1), basis(2), basis(3)];
    const u = [basis(4), basis(5), basis(6)];
    const a = new Float64Array(n * n);
    for (let t = 0; t < 3; t++)
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] += sig[t] * u[t][i] * v[t][j];
    const { vectors, values } = principalComponents(a, n, n, 3);
    values.forEach((s, i) => expect(s).to.be.closeTo(sig[i], 1e-6));
    vectors.forEach((x, i) => expect(Math.abs(x.reduce((acc, xi, j) => acc + xi * v[i][j], 0))).to.be.closeTo(1, 1e-6));
  });

  it('self-attention components: two attending regions give a left/right first component', () => {
    const h = 8,
      w = 8,
      n = h * w;
    const data = new Float32Array(n * n);
    // Queries in the left half attend to left-half keys, right to right (plus a little everywhere).
    for (let q = 0; q < n; q++) {
      const left = q % w < w / 2;
      for (let k = 0; k < n; k++) data[q * n + k] = (k % w < w / 2 === left ? 1 : 0.1) / (n / 2 + 0.1 * (n / 2));
    }
    const img = selfAttentionComponents({ data, height: h, width: w, channels: n }, 2, { cell: 64 });
    const lefts = new Set<number>();
    const rights = new Set<number>();
    for (let y = 0; y < 64; y++) for (let x = 0; x < 64; x++) (x < 32 ? lefts : rights).add(px(img, x, y));
    expect(lefts.size).to.equal(1);
    expect(rights.size).to.equal(1);
    expect([...lefts, ...rights].sort((a, b) => a - b)).to.deep.equal([0, 255]);
    expect(inked(img, 0, 64, 64, img.height - 64), 'label "pc 0"').to.be.greaterThan(5);
  });
});

describeRef('ptp render: tokenizer labels and PNG files (node)', () => {
  it('token labels come from the tokenizer', () => {
    expect(tokenLabels(clipTokenizer(), 'a hippopotamus')).to.deep.equal([
      '<|startoftext|>',
      'a',
      'hippo',
      'potam',
      'us',
      '<|endoftext|>',
    ]);
  });

  it('PNG round trip keeps every pixel', () => {
    const img = blankImage(7, 5);
    for (let i = 0; i < img.data.length; i++) img.data[i] = (i * 37) % 256;
    const back = decodePng(encodePng(img));
    expect([back.width, back.height]).to.deep.equal([7, 5]);
    expect(Array.from(back.data)).to.deep.equal(Array.from(img.data));
  });
});
