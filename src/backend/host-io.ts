/**
 * Float32 views of kernel inputs and outputs for kernels written in JS/wasm of ours that run
 * on the wasm backend (views into its heap, no copy) or the cpu backend (its arrays).
 */
import * as tf from '@tensorflow/tfjs-core';

/** Backends whose memory `withHostIO` can see. */
export const HOST_BACKENDS = ['wasm', 'cpu'] as const;

interface WasmBackendIO {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): tf.TypedArray;
}
interface CpuBackendIO {
  readSync(dataId: object): tf.TypedArray;
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: tf.TypedArray): tf.TensorInfo;
}

/**
 * Allocates the outputs, then hands float32 views of the inputs and outputs to `compute`
 * (wasm: views taken after every allocation, since one may grow the heap and detach older ones).
 * `what` names the kernel in errors.
 */
export function withHostIO(
  what: string,
  backendName: string,
  backend: unknown,
  inputs: (tf.TensorInfo | undefined)[],
  outShapes: number[][],
  compute: (ins: (Float32Array | undefined)[], outs: Float32Array[]) => void,
): tf.TensorInfo[] {
  for (const t of inputs) {
    if (t && t.dtype !== 'float32') throw new Error(`${what}: inputs must be float32, got ${t.dtype}`);
  }
  if (backendName === 'wasm') {
    const b = backend as WasmBackendIO;
    const outs = outShapes.map((s) => b.makeOutput(s, 'float32'));
    const view = (t: tf.TensorInfo) => b.typedArrayFromHeap(t) as Float32Array;
    compute(
      inputs.map((t) => (t ? view(t) : undefined)),
      outs.map(view),
    );
    return outs;
  }
  const b = backend as CpuBackendIO;
  const ins = inputs.map((t) => (t ? (b.readSync(t.dataId) as Float32Array) : undefined));
  const outs = outShapes.map((s) => new Float32Array(tf.util.sizeFromShape(s)));
  compute(ins, outs);
  return outs.map((o, i) => b.makeTensorInfo(outShapes[i], 'float32', o));
}
