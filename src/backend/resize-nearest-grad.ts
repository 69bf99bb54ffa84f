/**
 * ResizeNearestNeighborGrad for the cpu backend. tfjs-backend-cpu's kernel (4.22) reads `dy` at
 * the images' batch offset (b·H·W·C of the input instead of b·H'·W'·C of `dy`), so for batch > 1
 * every item after the first gets the gradient of the wrong pixels — every UNet gradient above
 * an upsampler was wrong on cpu; it also ignores `halfPixelCenters`. Ours scatters each `dy`
 * pixel onto the source pixel the forward kernel read (the same index arithmetic), for any batch.
 */
import * as tf from '@tensorflow/tfjs-core';
import { withHostIO } from './host-io.js';

const KERNEL = 'ResizeNearestNeighborGrad';

interface Attrs {
  alignCorners?: boolean;
  halfPixelCenters?: boolean;
}

/** The source row (or column) the forward kernel reads for output index `i`. */
function sourceIndex(
  i: number,
  inSize: number,
  outSize: number,
  alignCorners: boolean,
  halfPixelCenters: boolean,
): number {
  const ratio = alignCorners && outSize > 1 ? (inSize - 1) / (outSize - 1) : inSize / outSize;
  const frac = halfPixelCenters ? ratio * (i + 0.5) : ratio * i;
  const near = Math.min(inSize - 1, alignCorners ? Math.round(frac) : Math.floor(frac));
  return halfPixelCenters ? Math.max(0, near) : near;
}

/**
 * dx [B, H, W, C] of y = resizeNearestNeighbor(x) [B, H', W', C]: each dy pixel added to the
 * pixel it was copied from.
 */
export function resizeNearestNeighborBackward(
  dy: Float32Array,
  dyShape: readonly number[],
  xShape: readonly number[],
  attrs: Attrs,
  dx: Float32Array,
): void {
  const [b, h, w, c] = xShape;
  const [, oh, ow] = dyShape;
  const align = !!attrs.alignCorners;
  const half = !!attrs.halfPixelCenters;
  const rows = Array.from({ length: oh }, (_, i) => sourceIndex(i, h, oh, align, half));
  const cols = Array.from({ length: ow }, (_, i) => sourceIndex(i, w, ow, align, half));
  dx.fill(0);
  for (let n = 0; n < b; n++) {
    for (let y = 0; y < oh; y++) {
      const rowBase = (n * h + rows[y]) * w;
      for (let x = 0; x < ow; x++) {
        const o = (rowBase + cols[x]) * c;
        const i = ((n * oh + y) * ow + x) * c;
        for (let k = 0; k < c; k++) dx[o + k] += dy[i + k];
      }
    }
  }
}

function kernelFunc({
  inputs,
  attrs,
  backend,
}: {
  inputs: Record<string, tf.TensorInfo>;
  attrs: Attrs;
  backend: unknown;
}): tf.TensorInfo {
  const { images, dy } = inputs;
  if (
    images.shape.length !== 4 ||
    dy.shape.length !== 4 ||
    images.shape[0] !== dy.shape[0] ||
    images.shape[3] !== dy.shape[3]
  ) {
    throw new Error(
      `${KERNEL}: images [${images.shape}] and dy [${dy.shape}] must be [batch, height, width, channels] with the same batch and channels`,
    );
  }
  return withHostIO('resize nearest neighbour gradient', 'cpu', backend, [dy], [images.shape], ([d], [dx]) =>
    resizeNearestNeighborBackward(d!, dy.shape, images.shape, attrs, dx),
  )[0];
}

/** Registers our kernel over the cpu backend's (idempotent; again after a later import of the backend replaced it). */
export function installCpuResizeNearestGrad(): void {
  const current = tf.getKernel(KERNEL, 'cpu');
  if (current?.kernelFunc === (kernelFunc as unknown as tf.KernelFunc)) return;
  if (current) tf.unregisterKernel(KERNEL, 'cpu');
  tf.registerKernel({ kernelName: KERNEL, backendName: 'cpu', kernelFunc: kernelFunc as unknown as tf.KernelFunc });
}
