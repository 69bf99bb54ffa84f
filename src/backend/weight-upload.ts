/**
 * How a weight's host values (float32, or float16 bits) become a float32 backend tensor. By
 * default `tf.tensor` on the JS thread (float16 upcast value by value first); a backend that
 * can do better (the native backend: all threads, F16C) installs its own uploader. Streamed
 * weights are uploaded on every use, so this is part of every step of a streamed model.
 */
import * as tf from '@tensorflow/tfjs-core';
import { f16ToF32, type HostValues } from '../io/dtypes.js';

/** Uploads `values` as a float32 tensor of `shape`, or returns undefined to leave it to the default. */
export type WeightUploader = (values: HostValues, shape: number[]) => tf.Tensor | undefined;

let uploader: WeightUploader | undefined;

/** Installs (or, with undefined, removes) the backend's uploader. */
export function setWeightUploader(u: WeightUploader | undefined): void {
  uploader = u;
}

/** `values` (float32, or float16 bits) as a new float32 tensor of `shape` on the current backend. */
export function uploadWeight(values: HostValues, shape: number[]): tf.Tensor {
  const size = tf.util.sizeFromShape(shape);
  if (values.length !== size)
    throw new Error(`uploadWeight: ${values.length} values do not fill shape [${shape}] (${size} values)`);
  return (
    uploader?.(values, shape) ?? tf.tensor(values instanceof Float32Array ? values : f16ToF32(values), shape, 'float32')
  );
}

/** Whether a backend's uploader is installed (else `tf.tensor` on the JS thread). */
export function weightUploaderInstalled(): boolean {
  return uploader !== undefined;
}
