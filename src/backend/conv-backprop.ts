/**
 * The two backward kernels of a 2-D convolution (NHWC, no dilation), written as compositions of
 * fast forward kernels. tfjs-backend-wasm has no Conv2DBackpropFilter at all, and its
 * Conv2DBackpropInput is a scalar loop (~2 GFLOP/s) while its forward Conv2D runs through
 * XNNPACK at full GEMM speed:
 *  - input gradient: dy with stride−1 zeros inserted between its pixels, padded, convolved
 *    ('valid') with the filter flipped in space and transposed in/out;
 *  - filter gradient: the correlation of x with dy, as one forward convolution with the roles
 *    swapped: batch ↔ channels of x, dy as a (dilated) oh×ow filter.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelRunner } from './kernel-runner.js';

interface ConvAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function convInfo(inputShape: number[], filterShape: number[], a: ConvAttrs) {
  if (a.dataFormat === 'NCHW') throw new Error('conv2d backward: only NHWC is supported');
  return tf.backend_util.computeConv2DInfo(
    inputShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    a.strides,
    1,
    a.pad,
    a.dimRoundingMode,
  );
}

/** Pads (positive) or crops (negative) dims 1 and 2 of an NHWC tensor. */
function padOrCrop(
  r: KernelRunner,
  x: tf.TensorInfo,
  top: number,
  bottom: number,
  left: number,
  right: number,
): tf.TensorInfo {
  let t = x;
  if (top > 0 || bottom > 0 || left > 0 || right > 0) {
    t = r.run(
      'PadV2',
      { x: t },
      {
        paddings: [
          [0, 0],
          [Math.max(0, top), Math.max(0, bottom)],
          [Math.max(0, left), Math.max(0, right)],
          [0, 0],
        ],
        constantValue: 0,
      },
    );
  }
  if (top < 0 || bottom < 0 || left < 0 || right < 0) {
    const [n, h, w, c] = t.shape;
    const cropT = Math.max(0, -top);
    const cropL = Math.max(0, -left);
    const s = r.run(
      'Slice',
      { x: t },
      { begin: [0, cropT, cropL, 0], size: [n, h - cropT - Math.max(0, -bottom), w - cropL - Math.max(0, -right), c] },
    );
    if (t !== x) r.free(t);
    t = s;
  }
  return t;
}

/** dy [n, oh, ow, c] with s−1 zeros after every pixel → [n, oh·sh, ow·sw, c]. */
function dilate(r: KernelRunner, dy: tf.TensorInfo, sh: number, sw: number): tf.TensorInfo {
  if (sh === 1 && sw === 1) return dy;
  const [n, oh, ow, c] = dy.shape;
  const six = r.run('Reshape', { x: dy }, { shape: [n, oh, 1, ow, 1, c] });
  const padded = r.run(
    'PadV2',
    { x: six },
    {
      paddings: [
        [0, 0],
        [0, 0],
        [0, sh - 1],
        [0, 0],
        [0, sw - 1],
        [0, 0],
      ],
      constantValue: 0,
    },
  );
  r.free(six);
  const out = r.run('Reshape', { x: padded }, { shape: [n, oh * sh, ow * sw, c] });
  r.free(padded);
  return out;
}

/** dx of conv2d(x, filter) given dy: inputs {dy, filter}, attrs + inputShape. */
export function conv2dBackpropInput(
  r: KernelRunner,
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  attrs: ConvAttrs & { inputShape: number[] },
): tf.TensorInfo {
  const info = convInfo(attrs.inputShape, filter.shape, attrs);
  const { padInfo, strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, inHeight, inWidth } = info;
  const dil = dilate(r, dy, sh, sw);
  const [, dh, dw] = dil.shape;
  // dx[i] = Σ_k dyd[i + top − k]·w[k]: a 'valid' correlation over dyd padded by kh−1−top in front
  // and to a total length of H + kh − 1.
  const top = kh - 1 - padInfo.top;
  const left = kw - 1 - padInfo.left;
  const padded = padOrCrop(r, dil, top, inHeight + kh - 1 - top - dh, left, inWidth + kw - 1 - left - dw);
  if (dil !== dy && padded !== dil) r.free(dil);
  const flipped = r.run('Reverse', { x: filter }, { dims: [0, 1] });
  const swapped = r.run('Transpose', { x: flipped }, { perm: [0, 1, 3, 2] });
  r.free(flipped);
  const dx = r.run(
    'Conv2D',
    { x: padded, filter: swapped },
    { strides: 1, pad: 'valid', dataFormat: 'NHWC', dilations: 1 },
  );
  r.free(swapped);
  if (padded !== dy) r.free(padded);
  return dx;
}

/** dfilter of conv2d(x, filter) given dy: inputs {x, dy}, attrs + filterShape. */
export function conv2dBackpropFilter(
  r: KernelRunner,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  attrs: ConvAttrs & { filterShape: number[] },
): tf.TensorInfo {
  const info = convInfo(x.shape, attrs.filterShape, attrs);
  const {
    padInfo,
    strideHeight: sh,
    strideWidth: sw,
    filterHeight: kh,
    filterWidth: kw,
    outHeight: oh,
    outWidth: ow,
  } = info;
  const [, h, w] = x.shape;
  // The padded input must cover (oh−1)·s + kh rows: pad (or crop) to exactly that.
  const needH = (oh - 1) * sh + kh;
  const needW = (ow - 1) * sw + kw;
  const xp = padOrCrop(r, x, padInfo.top, needH - h - padInfo.top, padInfo.left, needW - w - padInfo.left);
  // x as a batch of Cin one-"channel"-per-item images with N channels: [Cin, Hp, Wp, N].
  const xt = r.run('Transpose', { x: xp }, { perm: [3, 1, 2, 0] });
  if (xp !== x) r.free(xp);
  // dy as an oh×ow filter from N channels to Cout: [oh, ow, N, Cout].
  const ft = r.run('Transpose', { x: dy }, { perm: [1, 2, 0, 3] });
  // out[ci, ky, kx, co] = Σ_{oy,ox,n} x[n, ky + oy·sh, kx + ox·sw, ci]·dy[n, oy, ox, co]
  const corr = r.run(
    'Conv2D',
    { x: xt, filter: ft },
    { strides: 1, pad: 'valid', dataFormat: 'NHWC', dilations: [sh, sw] },
  );
  r.free(xt, ft);
  const dw = r.run('Transpose', { x: corr }, { perm: [1, 2, 0, 3] });
  r.free(corr);
  return dw;
}
