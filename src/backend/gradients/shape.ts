/** Gradients of the kernels that move data without arithmetic (reshape, slice, concat, pad, gather, ...). */
import * as tf from '@tensorflow/tfjs-core';
import type { GradConfig } from './util.js';
import { installCpuResizeNearestGrad } from '../resize-nearest-grad.js';

type Attrs = Record<string, unknown>;

export const shapeGradients: GradConfig[] = [
  {
    kernelName: 'Reshape',
    inputsToSave: ['x'],
    gradFunc: (dy, [x]) => ({ x: () => tf.reshape(dy as tf.Tensor, x.shape) }),
  },
  { kernelName: 'Identity', gradFunc: (dy) => ({ x: () => (dy as tf.Tensor).clone() }) },
  {
    kernelName: 'Transpose',
    gradFunc: (dy, _s, attrs) => {
      const perm = (attrs as Attrs).perm as number[];
      return { x: () => tf.transpose(dy as tf.Tensor, tf.backend_util.getUndoAxesPermutation(perm)) };
    },
  },
  {
    kernelName: 'Slice',
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => {
      const a = attrs as Attrs;
      const [begin, size] = tf.slice_util.parseSliceParams(x, a.begin as number[], a.size as number[]);
      return {
        x: () =>
          tf.pad(
            dy as tf.Tensor,
            x.shape.map((d, i) => [begin[i], d - begin[i] - size[i]] as [number, number]),
          ),
      };
    },
  },
  {
    kernelName: 'Concat',
    saveAllInputs: true,
    gradFunc: (dy, saved, attrs) => {
      const axis = tf.util.parseAxisParam((attrs as Attrs).axis as number, saved[0].shape)[0];
      const parts = tf.split(
        dy as tf.Tensor,
        saved.map((t) => t.shape[axis]),
        axis,
      );
      return Object.fromEntries(parts.map((p, i) => [i, () => p]));
    },
  },
  {
    kernelName: 'SplitV',
    inputsToSave: ['x'],
    gradFunc: (dys, [x], attrs) => {
      const axis = tf.util.parseAxisParam((attrs as Attrs).axis as number, x.shape)[0];
      return { x: () => tf.concat(dys as tf.Tensor[], axis) };
    },
  },
  {
    kernelName: 'Pack',
    saveAllInputs: true,
    gradFunc: (dy, saved, attrs) => {
      const parts = tf.unstack(dy as tf.Tensor, (attrs as Attrs).axis as number);
      return Object.fromEntries(saved.map((_, i) => [i, () => parts[i]]));
    },
  },
  {
    kernelName: 'Unpack',
    gradFunc: (dys, _s, attrs) => ({ value: () => tf.stack(dys as tf.Tensor[], (attrs as Attrs).axis as number) }),
  },
  {
    kernelName: 'PadV2',
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => {
      const pads = (attrs as Attrs).paddings as [number, number][];
      return {
        x: () =>
          tf.slice(
            dy as tf.Tensor,
            pads.map((p) => p[0]),
            x.shape,
          ),
      };
    },
  },
  {
    kernelName: 'Tile',
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => {
      const reps = (attrs as Attrs).reps as number[];
      // [r0·d0, r1·d1, ...] → [r0, d0, r1, d1, ...], summed over the repeat axes.
      const split = x.shape.flatMap((d, i) => [reps[i], d]);
      return {
        x: () =>
          tf.sum(
            tf.reshape(dy as tf.Tensor, split),
            reps.map((_, i) => 2 * i),
          ),
      };
    },
  },
  {
    kernelName: 'ResizeNearestNeighbor',
    inputsToSave: ['images'],
    gradFunc: (dy, [images], attrs) => ({
      images: () => {
        // The cpu backend's own kernel is wrong for batch > 1; ours replaces it (again, should
        // the backend have been imported after registerGradients()).
        if (tf.getBackend() === 'cpu') installCpuResizeNearestGrad();
        return tf
          .engine()
          .runKernel('ResizeNearestNeighborGrad', { images, dy } as unknown as tf.NamedTensorMap, attrs) as tf.Tensor;
      },
    }),
  },
  {
    kernelName: 'GatherV2',
    inputsToSave: ['x', 'indices'],
    gradFunc: (dy, [x, indices], attrs) => {
      const a = attrs as Attrs;
      const axis = tf.util.parseAxisParam(a.axis as number, x.shape)[0];
      if (((a.batchDims as number | undefined) ?? 0) !== 0)
        throw new Error('gradient of gather with batchDims is not supported');
      return { x: () => gatherGrad(dy as tf.Tensor, x.shape, indices, axis), indices: () => tf.zerosLike(indices) };
    },
  },
];

/**
 * Scatter-add of `dy` rows back into a zero tensor of `shape` along `axis` (ScatterNd sums
 * duplicate indices; unlike UnsortedSegmentSum it exists on every backend we use).
 */
function gatherGrad(dy: tf.Tensor, shape: readonly number[], indices: tf.Tensor, axis: number): tf.Tensor {
  const n = indices.size;
  const outer = shape.slice(0, axis);
  const inner = shape.slice(axis + 1);
  // dy: [...outer, ...indices.shape, ...inner] → [n, ...outer, ...inner]
  const flat = tf.reshape(dy, [...outer, n, ...inner]);
  const toFront = [outer.length, ...outer.map((_, i) => i), ...inner.map((_, i) => outer.length + 1 + i)];
  const updates = axis === 0 ? flat : tf.transpose(flat, toFront);
  const idx = tf.reshape(tf.cast(indices, 'int32'), [n, 1]);
  const scattered = tf.scatterND(idx, updates, [shape[axis], ...outer, ...inner]);
  return axis === 0 ? scattered : tf.transpose(scattered, tf.backend_util.getUndoAxesPermutation(toFront));
}
