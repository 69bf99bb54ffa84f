/**
 * Fixes for tfjs-backend-wasm 4.22 that matter at Stable Diffusion sizes:
 *
 * 1. Slice: the stock kernel first copies the *whole input* out of the wasm heap
 *    (`readSync`), so slicing one head out of a 1 GiB tensor costs a 1 GiB copy. The patched
 *    kernel reads the input through a heap view and copies only the output.
 * 2. Allocation guard: wasm `malloc` returns 0 when the 4 GiB heap is exhausted and the
 *    backend then silently writes the new tensor at address 0, over other tensors (and, in
 *    the threaded build, over the pthread state: the process hangs). The guard throws instead, naming the
 *    request, and also refuses any allocation that would take live tensor bytes past a
 *    configurable budget (PTP_WASM_HEAP_LIMIT_MB, default 3584 MiB).
 * 3. Conv2D / FusedConv2D with many input channels run in channel chunks (wasm-conv-split.ts).
 * 4. Identity shares its input's memory (a reference count, as Reshape does and the cpu
 *    backend's Identity) instead of copying it: tfjs clones every tensor it saves for a
 *    backward pass through Identity — about 1,700 full copies per training step of the demo
 *    model. Tensors are immutable, so the copy bought nothing.
 */
import * as tf from '@tensorflow/tfjs-core';
import { installConvSplit } from './wasm-conv-split.js';

interface WasmTensorInfo {
  dataId: object;
  shape: number[];
  dtype: tf.DataType;
}
interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): WasmTensorInfo;
  typedArrayFromHeap(t: WasmTensorInfo): Float32Array | Int32Array | Uint8Array;
  move(dataId: object, values: unknown, shape: number[], dtype: tf.DataType, refCount: number): void;
  incRef(dataId: object): void;
  wasm: { _malloc(n: number): number; HEAPU8: Uint8Array; asm?: { malloc?(n: number): number } };
}

let installed = false;
let heapLimitBytes = (Number(globalThis.process?.env?.PTP_WASM_HEAP_LIMIT_MB) || 3584) * 2 ** 20;

let peakBytes = 0;

/** Highest live tensor bytes seen by the allocation guard (since the last reset). */
export function wasmPeakBytes(): number {
  return Math.max(peakBytes, tf.memory().numBytes);
}
export function resetWasmPeakBytes(): void {
  peakBytes = 0;
}

/** Sets the byte budget the allocation guard enforces for live wasm tensors. */
export function setWasmHeapLimit(bytes: number): void {
  heapLimitBytes = bytes;
}
export function getWasmHeapLimit(): number {
  return heapLimitBytes;
}

/** The wasm heap's live-tensor budget (the allocation guard's limit) while wasm is the active backend, else undefined (other backends have no budget here). */
export function wasmHeapBudget(): { bytes: number; name: string } | undefined {
  return tf.getBackend() === 'wasm'
    ? { bytes: heapLimitBytes, name: 'wasm heap budget (PTP_WASM_HEAP_LIMIT_MB)' }
    : undefined;
}

function sliceKernel(args: {
  inputs: tf.NamedTensorInfoMap;
  attrs: tf.NamedAttrMap;
  backend: unknown;
}): WasmTensorInfo {
  const x = args.inputs.x as unknown as WasmTensorInfo;
  const backend = args.backend as WasmBackendLike;
  const [begin, size] = tf.slice_util.parseSliceParams(
    x as unknown as tf.TensorInfo,
    args.attrs.begin as number[],
    args.attrs.size as number[],
  );
  const out = backend.makeOutput(size, x.dtype);
  // Views are taken after makeOutput: allocation may grow (and detach) the heap buffer.
  const src = backend.typedArrayFromHeap(x);
  const dst = backend.typedArrayFromHeap(out);
  const rank = x.shape.length;
  const n = dst.length;
  if (n === 0) return out;
  if (tf.slice_util.isSliceContinous(x.shape, begin, size)) {
    const flat = tf.slice_util.computeFlatOffset(begin, tf.util.computeStrides(x.shape));
    dst.set(src.subarray(flat, flat + n));
    return out;
  }
  // Copy contiguous runs of the innermost dimension.
  const strides = [...tf.util.computeStrides(x.shape), 1];
  const inner = size[rank - 1];
  const idx = new Array<number>(rank - 1).fill(0);
  let o = 0;
  for (;;) {
    let off = begin[rank - 1];
    for (let d = 0; d < rank - 1; d++) off += (begin[d] + idx[d]) * strides[d];
    dst.set(src.subarray(off, off + inner), o);
    o += inner;
    let d = rank - 2;
    while (d >= 0 && ++idx[d] === size[d]) idx[d--] = 0;
    if (d < 0) break;
  }
  return out;
}

function identityKernel(fallback: tf.KernelFunc) {
  return (args: { inputs: tf.NamedTensorInfoMap; backend: unknown }): WasmTensorInfo | tf.TensorInfo => {
    const x = args.inputs.x as unknown as WasmTensorInfo;
    if (x.dtype === 'string') return fallback(args as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
    (args.backend as WasmBackendLike).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
}

function guardAllocations(backend: WasmBackendLike): void {
  const move = backend.move.bind(backend);
  backend.move = (dataId, values, shape, dtype, refCount) => {
    if (dtype !== 'string') {
      const bytes = tf.util.sizeFromShape(shape) * tf.util.bytesPerElement(dtype as 'float32');
      const live = tf.memory().numBytes;
      if (bytes > 0 && live + bytes > heapLimitBytes) {
        throw new Error(
          `wasm heap budget exceeded: allocating [${shape.join(', ')}] ${dtype} (${(bytes / 2 ** 20).toFixed(1)} MiB) with ${(live / 2 ** 20).toFixed(1)} MiB live would pass the ${(heapLimitBytes / 2 ** 20).toFixed(0)} MiB limit (PTP_WASM_HEAP_LIMIT_MB); use smaller attention slices or weight streaming`,
        );
      }
    }
    move(dataId, values, shape, dtype, refCount);
    if (dtype !== 'string')
      peakBytes = Math.max(
        peakBytes,
        tf.memory().numBytes + tf.util.sizeFromShape(shape) * tf.util.bytesPerElement(dtype as 'float32'),
      );
  };
  // Wrap the module's raw export: emscripten's `Module._malloc` is a lazy stub that replaces
  // itself with the export on its first call, which would silently drop a wrapper around it.
  const raw = backend.wasm.asm?.malloc;
  const malloc = raw ? (n: number) => raw(n) : backend.wasm._malloc.bind(backend.wasm);
  backend.wasm._malloc = (n: number) => {
    const p = malloc(n);
    if (n > 0 && p === 0) {
      throw new Error(
        `wasm heap exhausted: malloc(${n}) failed with a ${(backend.wasm.HEAPU8.length / 2 ** 20).toFixed(0)} MiB heap`,
      );
    }
    return p;
  };
}

/** Installs the patches on the active wasm backend (idempotent). */
export function installWasmKernelPatches(): void {
  if (installed || tf.getBackend() !== 'wasm') return;
  const orig = tf.getKernel('Slice', 'wasm');
  if (orig) {
    tf.unregisterKernel('Slice', 'wasm');
    tf.registerKernel({ ...orig, kernelFunc: sliceKernel as unknown as tf.KernelFunc });
  }
  const identity = tf.getKernel('Identity', 'wasm');
  if (identity) {
    tf.unregisterKernel('Identity', 'wasm');
    tf.registerKernel({ ...identity, kernelFunc: identityKernel(identity.kernelFunc) as unknown as tf.KernelFunc });
  }
  guardAllocations(tf.backend() as unknown as WasmBackendLike);
  installConvSplit();
  installed = true;
}
