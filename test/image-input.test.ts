/**
 * Photo input: PNG and JPEG decoding, and the null-text notebook's load_512 (margins, centre
 * square, Pillow's default bicubic resize; for other sizes the centred window of their aspect
 * ratio), against outputs of Pillow 9.4 (test/data).
 */
import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeImage, decodeJpeg, imageFormat, readImageFile } from '../src/node/images.js';
import { encodePng } from '../src/node/png.js';
import { fitImage, resizeBicubic } from '../src/util/resize.js';
import type { RgbImage } from '../src/util/image.js';
import { repoRoot } from './helpers/reference.js';
import { tempDirForSuite } from './helpers/tmp.js';
import { expectReject } from './helpers/reject.js';

const ref = JSON.parse(readFileSync(join(repoRoot, 'test', 'data', 'pillow-reference.json'), 'utf8')) as Record<
  string,
  number[] | string
>;

/** The pattern the reference images were made from. */
function pattern(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 3; c++) data[(y * width + x) * 3 + c] = (x * 37 + y * 91 + c * 53 + ((x * y) % 7) * 19) % 256;
  return { width, height, data };
}

describe('photo input: decoding and load_512-style cropping', () => {
  const tmp = tempDirForSuite('image-input');
  it('resizes exactly as Pillow (bicubic; shrinking widens the filter; horizontal then vertical pass)', () => {
    expect(Array.from(resizeBicubic(pattern(13, 9), 5, 14).data)).to.deep.equal(ref.down_x_up_y);
    expect(Array.from(resizeBicubic(pattern(6, 4), 11, 8).data)).to.deep.equal(ref.up);
    const same = resizeBicubic(pattern(6, 4), 6, 4);
    expect(Array.from(same.data)).to.deep.equal(Array.from(pattern(6, 4).data));
  });

  it('fitImage to a square = load_512: margins cut, the longer side centre-cropped, resized', () => {
    const out = fitImage(pattern(20, 12), 8, 8, { left: 3, right: 1, top: 2, bottom: 0 });
    expect([out.width, out.height]).to.deep.equal([8, 8]);
    expect(Array.from(out.data)).to.deep.equal(ref.square8);
    // Offsets are clamped so that a pixel stays; bad values are errors.
    expect(fitImage(pattern(20, 12), 4, 4, { left: 100, top: 100 }).width).to.equal(4);
    expect(() => fitImage(pattern(20, 12), 4, 4, { left: -1 })).to.throw(
      'crop offset left must be a non-negative integer',
    );
    // Other aspect ratios: the centred window of that shape (here 20×10 of the 20×12 image, rows 1–10).
    const wide = fitImage(pattern(20, 12), 20, 10);
    expect(Array.from(wide.data)).to.deep.equal(Array.from(pattern(20, 12).data.subarray(20 * 3, 11 * 20 * 3)));
  });

  it('decodes JPEG (jpeg-js) within ±3 of Pillow/libjpeg, and PNG exactly; tells the format by signature', () => {
    const bytes = Buffer.from(ref.jpeg_b64 as string, 'base64');
    expect(imageFormat(bytes)).to.equal('jpeg');
    const img = decodeJpeg(bytes);
    expect([img.width, img.height]).to.deep.equal([16, 16]);
    const want = ref.jpeg_decoded as number[];
    const worst = Math.max(...Array.from(img.data, (v, i) => Math.abs(v - want[i])));
    expect(worst, 'max |jpeg-js − libjpeg|').to.be.at.most(3);
    const png = encodePng(pattern(7, 5));
    expect(imageFormat(png)).to.equal('png');
    expect(Array.from(decodeImage(png).data)).to.deep.equal(Array.from(pattern(7, 5).data));
  });

  it('reads files; unreadable or foreign files are one-line errors naming the file', async () => {
    const dir = tmp();
    const jpg = join(dir, 'photo.jpg');
    writeFileSync(jpg, Buffer.from(ref.jpeg_b64 as string, 'base64'));
    expect((await readImageFile(jpg)).width).to.equal(16);
    const txt = join(dir, 'notes.txt');
    writeFileSync(txt, 'hello');
    await expectReject(readImageFile(txt), `${txt}: not a PNG or JPEG file`);
    await expectReject(readImageFile(join(dir, 'missing.png')), 'missing.png: cannot read the image (no such file)');
    const cut = join(dir, 'cut.jpg');
    writeFileSync(cut, Buffer.from(ref.jpeg_b64 as string, 'base64').subarray(0, 200));
    await expectReject(readImageFile(cut), `${cut}: cannot decode the JPEG data`);
  });
});
