/** Op-level reference rates on the active backend: matMul and conv2d at SD-like sizes. */
import * as tf from '@tensorflow/tfjs-core';
import { gflops, timeIt } from './timing.js';

export interface OpResult {
  name: string;
  seconds: number;
  gflops: number;
}

async function op(
  name: string,
  flop: number,
  make: () => tf.Tensor[],
  run: (xs: tf.Tensor[]) => tf.Tensor,
  reps: number,
): Promise<OpResult> {
  const xs = make();
  try {
    const t = await timeIt(() => run(xs), reps, 2);
    return { name, seconds: t.median, gflops: gflops(flop, t.median) };
  } finally {
    tf.dispose(xs);
  }
}

/** matMul 1024³ (the reference peak), a UNet-sized Linear, and the 64×64×320 3×3 conv. */
export async function benchOps(reps: number): Promise<OpResult[]> {
  return [
    await op(
      'matMul 1024×1024×1024',
      2 * 1024 ** 3,
      () => [tf.randomNormal([1024, 1024]), tf.randomNormal([1024, 1024])],
      ([a, b]) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
      reps,
    ),
    await op(
      'Linear [8192, 320]×[320, 1280]',
      2 * 8192 * 320 * 1280,
      () => [tf.randomNormal([8192, 320]), tf.randomNormal([320, 1280])],
      ([a, b]) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
      reps,
    ),
    await op(
      'conv2d [2,64,64,320] 3×3 320→320',
      2 * 2 * 64 * 64 * 320 * 320 * 9,
      () => [tf.randomNormal([2, 64, 64, 320]), tf.randomNormal([3, 3, 320, 320], 0, 0.05)],
      ([x, w]) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'),
      reps,
    ),
  ];
}
