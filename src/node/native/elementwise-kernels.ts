/**
 * The element-wise kernels of the wasm backend that training and the models' glue run most, as
 * native kernels over the wasm heap on all cores: binary arithmetic with broadcasting (Add, Sub,
 * Multiply, RealDiv, SquaredDifference), unary maps (Neg, Square, Sqrt, Rsqrt, Exp, Sigmoid),
 * reductions (Sum, Mean over any axes), data movement (Slice, SplitV, Concat, PadV2, Transpose)
 * and the optimiser's kernels (PtpAdamUpdate, PtpSumOfSquares). tfjs-backend-wasm runs these on
 * one thread, several of them (broadcasts, reductions over outer axes) as scalar loops.
 * Anything else (int32 arithmetic, bool data, empty tensors) runs the wasm kernel replaced.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NativeAddon } from './addon.js';
import type { Kernel, KernelArgs } from './conv-kernels.js';
import { allFloat32, offsetOf, withOutputs, type WasmBackendLike } from './wasm-io.js';

const size = (s: readonly number[]) => tf.util.sizeFromShape(s as number[]);
/** Row-major strides (elements) of `shape`. */
const stridesOf = (shape: readonly number[]) => shape.map((_, i) => size(shape.slice(i + 1)));
/** dtypes stored as 4-byte elements in the wasm heap (the copy kernels move them as floats). */
const fourBytes = (...ts: (tf.TensorInfo | undefined)[]) =>
  ts.every((t) => !t || t.dtype === 'float32' || t.dtype === 'int32');

function orFallback(fallback: Kernel | undefined, name: string, args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  if (!fallback) throw new Error(`native ${name}: unsupported case and no wasm kernel to fall back to`);
  return fallback(args);
}

/** Add, Sub, Multiply, RealDiv, SquaredDifference on float32 with numpy broadcasting. */
export function binaryKernel(addon: NativeAddon, name: string, op: string, fallback: Kernel | undefined): Kernel {
  return (args) => {
    const { a, b } = args.inputs;
    let out: number[] | undefined;
    try {
      out = tf.backend_util.assertAndGetBroadcastShape(a!.shape, b!.shape);
    } catch {
      out = undefined; // the wasm kernel reports it
    }
    if (!out || !allFloat32(a, b) || size(out) === 0) return orFallback(fallback, name, args);
    const backend = args.backend as WasmBackendLike;
    return withOutputs(backend, [out], (heap, [y]) =>
      addon.binary(heap, [offsetOf(backend, a), offsetOf(backend, b), y], a!.shape, b!.shape, op),
    )[0];
  };
}

/** Neg, Square, Sqrt, Rsqrt, Exp, Sigmoid on float32. */
export function unaryKernel(addon: NativeAddon, name: string, op: string, fallback: Kernel | undefined): Kernel {
  return (args) => {
    const { x } = args.inputs;
    if (!allFloat32(x) || size(x!.shape) === 0) return orFallback(fallback, name, args);
    const backend = args.backend as WasmBackendLike;
    return withOutputs(backend, [x!.shape], (heap, [y]) =>
      addon.unary(heap, [offsetOf(backend, x), y], size(x!.shape), op),
    )[0];
  };
}

/** Sum and Mean of float32 over `axis` (keepDims honoured). */
export function reduceKernel(addon: NativeAddon, name: string, mean: boolean, fallback: Kernel | undefined): Kernel {
  return (args) => {
    const { x } = args.inputs;
    if (!allFloat32(x)) return orFallback(fallback, name, args);
    const axes = tf.util.parseAxisParam(args.attrs.axis as number | number[], x!.shape);
    const [outShape] = tf.backend_util.computeOutAndReduceShapes(x!.shape, axes);
    const shape = args.attrs.keepDims ? tf.backend_util.expandShapeToKeepDim(outShape, axes) : outShape;
    const backend = args.backend as WasmBackendLike;
    return withOutputs(backend, [shape], (heap, [y]) =>
      addon.reduce(heap, [offsetOf(backend, x), y], x!.shape, axes, mean ? 1 : 0),
    )[0];
  };
}

/** Copies the box `dims` from `src` (starting `srcStart` elements in) into `dst` at `dstStart`. */
function copyBox(
  addon: NativeAddon,
  heap: Uint8Array,
  src: number,
  srcShape: readonly number[],
  srcStart: number,
  srcStrides: number[],
  dst: number,
  dstShape: readonly number[],
  dstStart: number,
  dstStrides: number[],
  dims: readonly number[],
): void {
  addon.copy(
    heap,
    [src + 4 * srcStart, dst + 4 * dstStart],
    dims as number[],
    srcStrides,
    dstStrides,
    size(srcShape) - srcStart,
    size(dstShape) - dstStart,
  );
}

export function sliceKernel(addon: NativeAddon, fallback: Kernel | undefined): Kernel {
  return (args) => {
    const { x } = args.inputs;
    const [begin, sz] = tf.slice_util.parseSliceParams(
      x as unknown as tf.Tensor,
      args.attrs.begin as number[],
      args.attrs.size as number[],
    );
    if (!fourBytes(x) || size(sz) === 0) return orFallback(fallback, 'Slice', args);
    const backend = args.backend as WasmBackendLike;
    const st = stridesOf(x!.shape);
    const start = begin.reduce((a, b, i) => a + b * st[i], 0);
    return withOutputs(
      backend,
      [sz],
      (heap, [y]) => copyBox(addon, heap, offsetOf(backend, x), x!.shape, start, st, y, sz, 0, stridesOf(sz), sz),
      x!.dtype,
    )[0];
  };
}

export function splitKernel(addon: NativeAddon, fallback: Kernel | undefined): Kernel {
  return (args) => {
    const { x } = args.inputs;
    const axis = tf.util.parseAxisParam(args.attrs.axis as number, x!.shape)[0];
    const sizes = tf.backend_util.prepareSplitSize(
      x as unknown as tf.Tensor,
      args.attrs.numOrSizeSplits as number[] | number,
      axis,
    );
    if (!fourBytes(x) || sizes.some((s) => s <= 0) || size(x!.shape) === 0) return orFallback(fallback, 'SplitV', args);
    const backend = args.backend as WasmBackendLike;
    const st = stridesOf(x!.shape);
    const shapes = sizes.map((s) => x!.shape.map((d, i) => (i === axis ? s : d)));
    return withOutputs(
      backend,
      shapes,
      (heap, outs) => {
        let at = 0;
        outs.forEach((y, i) => {
          copyBox(
            addon,
            heap,
            offsetOf(backend, x),
            x!.shape,
            at * st[axis],
            st,
            y,
            shapes[i],
            0,
            stridesOf(shapes[i]),
            shapes[i],
          );
          at += sizes[i];
        });
      },
      x!.dtype,
    );
  };
}

export function concatKernel(addon: NativeAddon, fallback: Kernel | undefined): Kernel {
  return (args) => {
    const list = Object.values(args.inputs) as tf.TensorInfo[];
    const axis = tf.util.parseAxisParam(args.attrs.axis as number, list[0].shape)[0];
    const parts = list.filter((t) => size(t.shape) > 0);
    if (!parts.length || !fourBytes(...parts) || parts.some((t) => t.dtype !== parts[0].dtype))
      return orFallback(fallback, 'Concat', args);
    const out = tf.backend_util.computeOutShape(
      parts.map((t) => t.shape),
      axis,
    );
    const backend = args.backend as WasmBackendLike;
    const ost = stridesOf(out);
    return withOutputs(
      backend,
      [out],
      (heap, [y]) => {
        let at = 0;
        for (const t of parts) {
          copyBox(
            addon,
            heap,
            offsetOf(backend, t),
            t.shape,
            0,
            stridesOf(t.shape),
            y,
            out,
            at * ost[axis],
            ost,
            t.shape,
          );
          at += t.shape[axis];
        }
      },
      parts[0].dtype,
    )[0];
  };
}

export function padKernel(addon: NativeAddon, fallback: Kernel | undefined): Kernel {
  return (args) => {
    const { x } = args.inputs;
    const pads = args.attrs.paddings as [number, number][];
    if (!allFloat32(x) || size(x!.shape) === 0) return orFallback(fallback, 'PadV2', args);
    const out = x!.shape.map((d, i) => d + pads[i][0] + pads[i][1]);
    const backend = args.backend as WasmBackendLike;
    const ost = stridesOf(out);
    return withOutputs(backend, [out], (heap, [y]) => {
      addon.fill(heap, [y], size(out), (args.attrs.constantValue as number | undefined) ?? 0);
      const start = pads.reduce((a, p, i) => a + p[0] * ost[i], 0);
      copyBox(addon, heap, offsetOf(backend, x), x!.shape, 0, stridesOf(x!.shape), y, out, start, ost, x!.shape);
    })[0];
  };
}

export function transposeKernel(addon: NativeAddon, fallback: Kernel | undefined): Kernel {
  return (args) => {
    const { x } = args.inputs;
    const perm = args.attrs.perm as number[];
    if (!fourBytes(x) || size(x!.shape) === 0) return orFallback(fallback, 'Transpose', args);
    const out = perm.map((p) => x!.shape[p]);
    const st = stridesOf(x!.shape);
    const backend = args.backend as WasmBackendLike;
    return withOutputs(
      backend,
      [out],
      (heap, [y]) =>
        copyBox(
          addon,
          heap,
          offsetOf(backend, x),
          x!.shape,
          0,
          perm.map((p) => st[p]),
          y,
          out,
          0,
          stridesOf(out),
          out,
        ),
      x!.dtype,
    )[0];
  };
}

/** PtpAdamUpdate (src/backend/adam-kernel.ts): the same float32 operations, on all cores. */
export function adamKernel(addon: NativeAddon): Kernel {
  return ({ inputs, attrs, backend }) => {
    const { p, m, v, g } = inputs;
    for (const t of [m, v, g]) {
      if (t!.shape.length !== p!.shape.length || t!.shape.some((d, i) => d !== p!.shape[i]))
        throw new Error(`Adam: shapes [${p!.shape}] and [${t!.shape}] differ`);
    }
    if (!allFloat32(p, m, v, g)) throw new Error('Adam: inputs must be float32');
    const f = Math.fround;
    const c = attrs as unknown as {
      beta1: number;
      beta2: number;
      stepSize: number;
      bc2Sqrt: number;
      eps: number;
      decay: number;
    };
    const coeffs = [
      f(c.beta1),
      f(c.beta2),
      f(1 - c.beta1),
      f(1 - c.beta2),
      f(c.stepSize),
      f(c.bc2Sqrt),
      f(c.eps),
      f(c.decay),
    ];
    const b = backend as WasmBackendLike;
    return withOutputs(b, [p!.shape, p!.shape, p!.shape], (heap, outs) =>
      addon.adamUpdate(
        heap,
        [offsetOf(b, p), offsetOf(b, m), offsetOf(b, v), offsetOf(b, g), ...outs],
        size(p!.shape),
        coeffs,
      ),
    );
  };
}

/** PtpSumOfSquares: Σx² in double, a scalar. */
export function sumOfSquaresKernel(addon: NativeAddon): Kernel {
  return ({ inputs, backend }) => {
    const { x } = inputs;
    if (!allFloat32(x)) throw new Error('sum of squares: input must be float32');
    const b = backend as WasmBackendLike;
    return withOutputs(b, [[]], (heap, [y]) => addon.sumOfSquares(heap, [offsetOf(b, x), y], size(x!.shape)))[0];
  };
}
