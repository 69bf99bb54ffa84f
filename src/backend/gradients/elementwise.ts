/** Gradients of the element-wise kernels the models use (broadcasting reduced back to each input). */
import * as tf from '@tensorflow/tfjs-core';
import { sumToShape, type GradConfig } from './util.js';

const binary = (
  kernelName: string,
  da: (dy: tf.Tensor, a: tf.Tensor, b: tf.Tensor) => tf.Tensor,
  db: (dy: tf.Tensor, a: tf.Tensor, b: tf.Tensor) => tf.Tensor,
): GradConfig => ({
  kernelName,
  inputsToSave: ['a', 'b'],
  gradFunc: (dy, [a, b]) => ({
    a: () => sumToShape(da(dy as tf.Tensor, a, b), a.shape),
    b: () => sumToShape(db(dy as tf.Tensor, a, b), b.shape),
  }),
});

/** y = f(x): dx = dy · f'(x) from the saved input. */
const unaryX = (kernelName: string, d: (dy: tf.Tensor, x: tf.Tensor) => tf.Tensor): GradConfig => ({
  kernelName,
  inputsToSave: ['x'],
  gradFunc: (dy, [x]) => ({ x: () => d(dy as tf.Tensor, x) }),
});

/** y = f(x): dx = dy · f'(x) written with the saved output y. */
const unaryY = (kernelName: string, d: (dy: tf.Tensor, y: tf.Tensor) => tf.Tensor): GradConfig => ({
  kernelName,
  outputsToSave: [true],
  gradFunc: (dy, [y]) => ({ x: () => d(dy as tf.Tensor, y) }),
});

export const elementwiseGradients: GradConfig[] = [
  binary(
    'Add',
    (dy) => dy,
    (dy) => dy,
  ),
  binary(
    'Sub',
    (dy) => dy,
    (dy) => tf.neg(dy),
  ),
  binary(
    'Multiply',
    (dy, _a, b) => tf.mul(dy, b),
    (dy, a) => tf.mul(dy, a),
  ),
  binary(
    'RealDiv',
    (dy, _a, b) => tf.div(dy, b),
    (dy, a, b) => tf.neg(tf.div(tf.mul(dy, a), tf.square(b))),
  ),
  binary(
    'SquaredDifference',
    (dy, a, b) => tf.mul(dy, tf.mul(tf.sub(a, b), 2)),
    (dy, a, b) => tf.mul(dy, tf.mul(tf.sub(b, a), 2)),
  ),
  binary(
    'Maximum',
    (dy, a, b) => tf.mul(dy, tf.cast(tf.greaterEqual(a, b), 'float32')),
    (dy, a, b) => tf.mul(dy, tf.cast(tf.less(a, b), 'float32')),
  ),
  {
    kernelName: 'AddN',
    saveAllInputs: true,
    gradFunc: (dy, saved) => Object.fromEntries(saved.map((_, i) => [i, () => (dy as tf.Tensor).clone()])),
  },
  unaryX('Square', (dy, x) => tf.mul(dy, tf.mul(x, 2))),
  unaryX('Rsqrt', (dy, x) => tf.mul(dy, tf.mul(tf.div(tf.rsqrt(x), x), -0.5))),
  unaryY('Sqrt', (dy, y) => tf.div(dy, tf.mul(y, 2))),
  unaryY('Exp', (dy, y) => tf.mul(dy, y)),
  unaryX('Log', (dy, x) => tf.div(dy, x)),
  unaryY('Sigmoid', (dy, y) => tf.mul(dy, tf.mul(y, tf.sub(1, y)))),
  unaryY('Tanh', (dy, y) => tf.mul(dy, tf.sub(1, tf.square(y)))),
  unaryX('Erf', (dy, x) => tf.mul(dy, tf.mul(tf.exp(tf.neg(tf.square(x))), 2 / Math.sqrt(Math.PI)))),
  unaryX('Relu', (dy, x) => tf.mul(dy, tf.cast(tf.greater(x, 0), 'float32'))),
  unaryX('Abs', (dy, x) => tf.mul(dy, tf.sign(x))),
  unaryX('Sin', (dy, x) => tf.mul(dy, tf.cos(x))),
  unaryX('Cos', (dy, x) => tf.neg(tf.mul(dy, tf.sin(x)))),
  { kernelName: 'Neg', gradFunc: (dy) => ({ x: () => tf.neg(dy as tf.Tensor) }) },
  {
    kernelName: 'ClipByValue',
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => {
      const { clipValueMin, clipValueMax } = attrs as unknown as { clipValueMin: number; clipValueMax: number };
      return {
        x: () =>
          tf.where(
            tf.logicalAnd(tf.greaterEqual(x, clipValueMin), tf.lessEqual(x, clipValueMax)),
            dy as tf.Tensor,
            tf.zerosLike(dy as tf.Tensor),
          ),
      };
    },
  },
  {
    kernelName: 'Cast',
    inputsToSave: ['x'],
    gradFunc: (dy, [x]) => ({ x: () => (x.dtype === 'float32' ? (dy as tf.Tensor).clone() : tf.zerosLike(x)) }),
  },
];
