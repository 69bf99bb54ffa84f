/** Gradients of reductions, matrix products, convolutions and softmax. */
import * as tf from '@tensorflow/tfjs-core';
import { expandReduced, reducedSize, sumToShape, type GradConfig } from './util.js';

type Attrs = Record<string, unknown>;

/** a·b with optional transposes, the product every matmul gradient is made of. */
const mm = (a: tf.Tensor, b: tf.Tensor, ta: boolean, tb: boolean) => tf.matMul(a, b, ta, tb);

export const reduceGradients: GradConfig[] = [
  {
    kernelName: 'Sum',
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => ({
      x: () => expandReduced(dy as tf.Tensor, x.shape, (attrs as Attrs).axis as number[]),
    }),
  },
  {
    kernelName: 'Mean',
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => {
      const axis = (attrs as Attrs).axis as number[];
      return { x: () => expandReduced(tf.div(dy as tf.Tensor, reducedSize(x.shape, axis)), x.shape, axis) };
    },
  },
  {
    kernelName: 'BatchMatMul',
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, [a, b], attrs) => {
      const ta = !!(attrs as Attrs).transposeA;
      const tb = !!(attrs as Attrs).transposeB;
      const g = dy as tf.Tensor;
      // y = op(a)·op(b): the four cases of which operand is transposed.
      const da = () =>
        !ta
          ? !tb
            ? mm(g, b, false, true)
            : mm(g, b, false, false)
          : !tb
            ? mm(b, g, false, true)
            : mm(b, g, true, true);
      const db = () =>
        !ta
          ? !tb
            ? mm(a, g, true, false)
            : mm(g, a, true, false)
          : !tb
            ? mm(a, g, false, false)
            : mm(g, a, true, true);
      return { a: () => sumToShape(da(), a.shape), b: () => sumToShape(db(), b.shape) };
    },
  },
  {
    kernelName: 'Softmax',
    outputsToSave: [true],
    gradFunc: (dy, [y], attrs) => {
      const dim = (attrs as Attrs).dim as number;
      const g = dy as tf.Tensor;
      return { logits: () => tf.mul(y, tf.sub(g, tf.sum(tf.mul(g, y), dim, true))) };
    },
  },
  {
    kernelName: 'Conv2D',
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy, [x, filter], attrs) => {
      const a = attrs as Attrs;
      const dil = a.dilations as number | [number, number] | undefined;
      if (dil !== undefined && !tf.backend_util.eitherStridesOrDilationsAreOne(a.strides as number, dil)) {
        throw new Error('gradient of conv2d with both strides and dilations > 1 is not supported');
      }
      const common = { strides: a.strides, pad: a.pad, dataFormat: a.dataFormat, dimRoundingMode: a.dimRoundingMode };
      return {
        x: () =>
          tf
            .engine()
            .runKernel(
              'Conv2DBackpropInput',
              { dy, filter } as unknown as tf.NamedTensorMap,
              { ...common, inputShape: x.shape } as unknown as tf.NamedAttrMap,
            ) as tf.Tensor,
        filter: () =>
          tf
            .engine()
            .runKernel(
              'Conv2DBackpropFilter',
              { x, dy } as unknown as tf.NamedTensorMap,
              { ...common, filterShape: filter.shape } as unknown as tf.NamedAttrMap,
            ) as tf.Tensor,
      };
    },
  },
];
