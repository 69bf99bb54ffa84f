/**
 * Conv2D, FusedConv2D and the two convolution gradients (Conv2DBackpropInput/Filter) as native
 * kernels over the wasm heap. Cases the addon does not cover (NCHW, prelu, bias that is not one
 * value per output channel, non-float32, empty tensors) run the wasm kernel they replace
 * (Conv2DBackpropFilter has none on wasm: those cases are an error naming the reason).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NativeAddon } from './addon.js';
import { allFloat32, offsetOf, withOutputs, type WasmBackendLike } from './wasm-io.js';
import { weightKeyOf } from '../../backend/packed-weights.js';

export type KernelArgs = {
  inputs: { [name: string]: tf.TensorInfo | undefined };
  attrs: tf.NamedAttrMap;
  backend: unknown;
};
export type Kernel = (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[];

type ConvInfo = ReturnType<typeof tf.backend_util.computeConv2DInfo>;

/** The addon's 17-entry conv shape: [N,H,W,CI, KH,KW,CO, SH,SW, DH,DW, top,left,bottom,right, OH,OW]. */
export function convShape(c: ConvInfo): number[] {
  const p = c.padInfo;
  return [
    c.batchSize,
    c.inHeight,
    c.inWidth,
    c.inChannels,
    c.filterHeight,
    c.filterWidth,
    c.outChannels,
    c.strideHeight,
    c.strideWidth,
    c.dilationHeight,
    c.dilationWidth,
    p.top,
    p.left,
    p.bottom,
    p.right,
    c.outHeight,
    c.outWidth,
  ];
}

const nhwc = (attrs: tf.NamedAttrMap) =>
  attrs.dataFormat === undefined || attrs.dataFormat === 'NHWC' || attrs.dataFormat === 'channelsLast';
const size = (t: tf.TensorInfo | undefined) => (t ? tf.util.sizeFromShape(t.shape) : 1);
const nonEmpty = (...ts: (tf.TensorInfo | undefined)[]) => ts.every((t) => size(t) > 0);

function info(xShape: number[], filterShape: number[], attrs: tf.NamedAttrMap): ConvInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as [number, number],
    (attrs.dilations ?? 1) as [number, number],
    attrs.pad as 'same',
    attrs.dimRoundingMode as 'round' | undefined,
    false,
    'channelsLast',
  );
}

/**
 * Conv2D / FusedConv2D (bias per output channel; linear, relu, relu6, leakyrelu, sigmoid, elu).
 * A filter that is a model weight is packed into oneDNN's layout once and kept (packed-weights.ts).
 */
export function convForward(addon: NativeAddon, fallback: Kernel | undefined): Kernel {
  return (args) => {
    const { x, filter, bias, preluActivationWeights } = args.inputs;
    const act = (args.attrs.activation as string | undefined) ?? 'linear';
    const supported =
      nhwc(args.attrs) &&
      act !== 'prelu' &&
      !preluActivationWeights &&
      allFloat32(x, filter, bias) &&
      nonEmpty(x, filter) &&
      (!bias || size(bias) === filter!.shape[3]);
    if (!supported) {
      if (!fallback) throw new Error('native Conv2D: unsupported case and no wasm kernel to fall back to');
      return fallback(args);
    }
    const backend = args.backend as WasmBackendLike;
    const c = info(x!.shape, filter!.shape, args.attrs);
    return withOutputs(backend, [c.outShape], (heap, [y]) => {
      addon.conv2d(
        heap,
        [offsetOf(backend, x), offsetOf(backend, filter), offsetOf(backend, bias), y],
        convShape(c),
        act,
        (args.attrs.leakyreluAlpha as number | undefined) ?? 0.2,
        weightKeyOf(filter),
      );
    })[0];
  };
}

/** Conv2DBackpropInput: dx from dy [N,OH,OW,CO] and the filter, attrs.inputShape the shape of x. */
export function convBackpropInput(addon: NativeAddon, fallback: Kernel | undefined): Kernel {
  return (args) => {
    const { dy, filter } = args.inputs;
    if (!nhwc(args.attrs) || !allFloat32(dy, filter) || !nonEmpty(dy, filter)) {
      if (!fallback) throw new Error('native Conv2DBackpropInput: unsupported case and no wasm kernel to fall back to');
      return fallback(args);
    }
    const backend = args.backend as WasmBackendLike;
    const c = info(args.attrs.inputShape as number[], filter!.shape, args.attrs);
    return withOutputs(backend, [c.inShape], (heap, [dx]) => {
      addon.conv2dBackpropInput(heap, [offsetOf(backend, dy), offsetOf(backend, filter), dx], convShape(c));
    })[0];
  };
}

/** Conv2DBackpropFilter (wasm has none): dfilter [KH,KW,CI,CO] from x and dy. */
export function convBackpropFilter(addon: NativeAddon): Kernel {
  return (args) => {
    const { x, dy } = args.inputs;
    if (!nhwc(args.attrs)) throw new Error('native Conv2DBackpropFilter: only NHWC is supported');
    if (!allFloat32(x, dy))
      throw new Error(`native Conv2DBackpropFilter: float32 inputs required, got ${x!.dtype} and ${dy!.dtype}`);
    const backend = args.backend as WasmBackendLike;
    const fshape = args.attrs.filterShape as number[];
    const c = info(x!.shape, fshape, args.attrs);
    return withOutputs(backend, [fshape], (heap, [dw]) => {
      if (!nonEmpty(x, dy)) {
        new Float32Array(heap.buffer, heap.byteOffset + dw, tf.util.sizeFromShape(fshape)).fill(0);
        return;
      }
      addon.conv2dBackpropFilter(heap, [offsetOf(backend, x), offsetOf(backend, dy), dw], convShape(c));
    })[0];
  };
}
