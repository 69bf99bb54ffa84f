/**
 * Backward kernels for tfjs-backend-wasm (training and null-text inversion run through them):
 *  - Conv2DBackpropFilter (missing from the backend) and Conv2DBackpropInput (a scalar loop
 *    there) as compositions of its XNNPACK forward convolution (conv-backprop.ts);
 *  - BatchMatMul with a transposed operand or a batch: the stock kernel runs those as a scalar
 *    loop (~1–2 GFLOP/s) and only the plain 2-D product through XNNPACK, so operands are
 *    transposed explicitly and batches run item by item.
 */
import * as tf from '@tensorflow/tfjs-core';
import { kernelRunner, type KernelRunner } from './kernel-runner.js';
import { conv2dBackpropFilter, conv2dBackpropInput } from './conv-backprop.js';

type Args = { inputs: { [name: string]: tf.TensorInfo }; attrs: tf.NamedAttrMap; backend: unknown };

let installed = false;
let plainMatMul: tf.KernelFunc | undefined;

/** op(a)·op(b) for rank-3 a, b (batch 1 or equal batches; 1 broadcasts). */
function batchMatMul(
  r: KernelRunner,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  ta: boolean,
  tb: boolean,
  backend: unknown,
): tf.TensorInfo {
  const swapLast = [0, 2, 1];
  const at = ta ? r.run('Transpose', { x: a }, { perm: swapLast }) : a;
  const bt = tb ? r.run('Transpose', { x: b }, { perm: swapLast }) : b;
  const plain = (x: tf.TensorInfo, y: tf.TensorInfo) =>
    plainMatMul!({
      inputs: { a: x, b: y },
      attrs: { transposeA: false, transposeB: false },
      backend,
    } as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
  const batch = Math.max(at.shape[0], bt.shape[0]);
  let out: tf.TensorInfo;
  if (batch === 1) {
    out = plain(at, bt);
  } else {
    const item = (x: tf.TensorInfo, i: number) =>
      x.shape[0] === 1 ? x : r.run('Slice', { x }, { begin: [i, 0, 0], size: [1, x.shape[1], x.shape[2]] });
    const parts: tf.TensorInfo[] = [];
    for (let i = 0; i < batch; i++) {
      const x = item(at, i);
      const y = item(bt, i);
      parts.push(plain(x, y));
      if (x !== at) r.free(x);
      if (y !== bt) r.free(y);
    }
    out = r.run('Concat', parts, { axis: 0 });
    r.free(...parts);
  }
  if (at !== a) r.free(at);
  if (bt !== b) r.free(bt);
  return out;
}

const batchSize = (s: readonly number[]) => s.slice(0, -2).reduce((n, d) => n * d, 1);

function matMulKernel({ inputs, attrs, backend }: Args): tf.TensorInfo {
  const { a, b } = inputs;
  const ta = !!attrs.transposeA;
  const tb = !!attrs.transposeB;
  const [ba, bb] = [batchSize(a.shape), batchSize(b.shape)];
  if ((!ta && !tb && ba === 1 && bb === 1) || (ba !== bb && ba !== 1 && bb !== 1)) {
    return plainMatMul!({ inputs, attrs, backend } as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
  }
  // Inputs of any rank ≥ 2 (leading dims broadcast): run as rank 3, reshape the result.
  const r = kernelRunner('wasm', backend);
  const as3 = (x: tf.TensorInfo, n: number) => r.run('Reshape', { x }, { shape: [n, ...x.shape.slice(-2)] });
  const a3 = as3(a, ba);
  const b3 = as3(b, bb);
  const y = batchMatMul(r, a3, b3, ta, tb, backend);
  r.free(a3, b3);
  const lead = tf.backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const out = r.run('Reshape', { x: y }, { shape: [...lead, y.shape[1], y.shape[2]] });
  r.free(y);
  return out;
}

/** Registers the kernels on the wasm backend (idempotent; call after it is active). */
export function installWasmGradKernels(): void {
  if (installed || !tf.findBackend('wasm')) return;
  const register = (kernelName: string, kernelFunc: (args: Args) => tf.TensorInfo) => {
    if (tf.getKernel(kernelName, 'wasm')) tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: kernelFunc as unknown as tf.KernelFunc });
  };
  register('Conv2DBackpropInput', ({ inputs, attrs, backend }) =>
    conv2dBackpropInput(
      kernelRunner('wasm', backend),
      inputs.dy,
      inputs.filter,
      attrs as unknown as Parameters<typeof conv2dBackpropInput>[3],
    ),
  );
  register('Conv2DBackpropFilter', ({ inputs, attrs, backend }) =>
    conv2dBackpropFilter(
      kernelRunner('wasm', backend),
      inputs.x,
      inputs.dy,
      attrs as unknown as Parameters<typeof conv2dBackpropFilter>[3],
    ),
  );
  const mm = tf.getKernel('BatchMatMul', 'wasm');
  if (mm) {
    plainMatMul = mm.kernelFunc;
    register('BatchMatMul', matMulKernel);
  }
  installed = true;
}
