/**
 * Composes a backend's registered kernels inside a kernel of ours: kernels must not call tf ops
 * (those would be recorded on the gradient tape and counted as separate ops), so compositions
 * call the other kernels' functions directly and free their intermediates.
 */
import * as tf from '@tensorflow/tfjs-core';

export interface KernelRunner {
  /** `inputs` by name, or a list for kernels that take one (Concat, AddN, Pack). */
  run(
    kernelName: string,
    inputs: Record<string, tf.TensorInfo | undefined> | tf.TensorInfo[],
    attrs?: Record<string, unknown>,
  ): tf.TensorInfo;
  /** Frees an intermediate result. */
  free(...infos: tf.TensorInfo[]): void;
}

interface BackendWithDispose {
  disposeData(dataId: object, force?: boolean): boolean | void;
}

export function kernelRunner(backendName: string, backend: unknown): KernelRunner {
  const b = backend as BackendWithDispose;
  return {
    run(kernelName, inputs, attrs = {}) {
      const k = tf.getKernel(kernelName, backendName);
      if (!k) throw new Error(`kernel ${kernelName} is not registered for backend ${backendName}`);
      const clean = Array.isArray(inputs)
        ? inputs
        : Object.fromEntries(Object.entries(inputs).filter(([, v]) => v !== undefined));
      return k.kernelFunc({
        inputs: clean as tf.NamedTensorInfoMap,
        attrs: attrs as tf.NamedAttrMap,
        backend: backend as tf.KernelBackend,
      }) as tf.TensorInfo;
    },
    free(...infos) {
      for (const t of infos) b.disposeData(t.dataId);
    },
  };
}
