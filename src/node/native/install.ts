/**
 * Registers the native kernels over the wasm backend (kernels keep the name 'wasm': the rest of
 * the library, the heap guard and weight streaming see the wasm backend they know) and restores
 * the replaced wasm kernels on uninstall.
 *
 * Why over wasm rather than a backend of its own on tfjs-backend-cpu's storage: every kernel
 * without a native version (norms, elementwise ops, slicing, the attention glue) would then run
 * as plain JavaScript (44× slower than wasm on a UNet block's glue ops: bench/storage-choice.ts), and each tensor
 * handed between the two would need a copy. Over wasm there is one copy of every tensor and
 * only the hot kernels change; the price is wasm's 4 GiB heap, which the library already
 * manages (weight streaming, sliced attention, the allocation guard).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NativeAddon } from './addon.js';
import { convBackpropFilter, convBackpropInput, convForward, type Kernel } from './conv-kernels.js';
import { matMul } from './matmul-kernels.js';
import { applyAttentionProbs, attentionProbs, fusedAttention, fusedAttentionGrad } from './attention-kernels.js';
import {
  APPLY_ATTENTION_PROBS,
  ATTENTION_PROBS,
  FUSED_ATTENTION,
  FUSED_ATTENTION_GRAD,
} from '../../backend/attention-ops.js';
import {
  ACTIVATION,
  ACTIVATION_GRAD,
  GEGLU,
  GEGLU_GRAD,
  GROUP_NORM,
  LAYER_NORM,
  LAYER_NORM_GRAD,
} from '../../backend/fused-ops.js';
import { GROUP_NORM as GROUP_NORM_TRAIN, GROUP_NORM_GRAD } from '../../backend/group-norm-kernel.js';
import {
  activation,
  activationGrad,
  geglu,
  gegluGrad,
  groupNorm,
  groupNormGrad,
  layerNorm,
  layerNormGrad,
} from './norm-kernels.js';
import { installWasmGradKernels } from '../../backend/wasm-grad-kernels.js';
import { enableWeightPacking } from '../../backend/packed-weights.js';
import { setWeightUploader, type WeightUploader } from '../../backend/weight-upload.js';
import { withOutputs, type WasmBackendLike } from './wasm-io.js';
import { ADAM_UPDATE, SUM_OF_SQUARES } from '../../backend/adam-kernel.js';
import {
  adamKernel,
  binaryKernel,
  concatKernel,
  padKernel,
  reduceKernel,
  sliceKernel,
  splitKernel,
  sumOfSquaresKernel,
  transposeKernel,
  unaryKernel,
} from './elementwise-kernels.js';

const BACKEND = 'wasm';
/** Kernels replaced (or added) by install, with what was registered before (undefined: none). */
let replaced: Map<string, tf.KernelConfig | undefined> | undefined;
let installed: NativeAddon | undefined;

/**
 * Whether model weights are packed once into oneDNN's layout and kept in native memory (default;
 * PTP_NATIVE_PACK=0 reorders them on every call instead, as before: less memory, slower).
 */
export function nativeWeightPacking(): boolean {
  return process.env.PTP_NATIVE_PACK !== '0';
}

/** Turns weight packing on or off for the installed kernels (off frees every packed copy). */
export function setNativeWeightPacking(on: boolean): void {
  if (!installed) return;
  const addon = installed;
  if (!on) addon.releasePacked(-1);
  enableWeightPacking(on ? (key) => addon.releasePacked(key) : undefined);
}

/** tfjs binary and unary kernels → the addon's operation names. */
const BINARY: Record<string, string> = {
  Add: 'add',
  Sub: 'sub',
  Multiply: 'mul',
  RealDiv: 'div',
  SquaredDifference: 'sqdiff',
};
const UNARY: Record<string, string> = {
  Neg: 'neg',
  Square: 'square',
  Sqrt: 'sqrt',
  Rsqrt: 'rsqrt',
  Exp: 'exp',
  Sigmoid: 'sigmoid',
};

function nativeKernels(addon: NativeAddon, orig: (name: string) => Kernel | undefined): Record<string, Kernel> {
  return {
    Conv2D: convForward(addon, orig('Conv2D')),
    FusedConv2D: convForward(addon, orig('FusedConv2D')),
    Conv2DBackpropInput: convBackpropInput(addon, orig('Conv2DBackpropInput')),
    Conv2DBackpropFilter: convBackpropFilter(addon),
    BatchMatMul: matMul(addon, orig('BatchMatMul')),
    _FusedMatMul: matMul(addon, orig('_FusedMatMul')),
    [FUSED_ATTENTION]: fusedAttention(addon),
    [ATTENTION_PROBS]: attentionProbs(addon),
    [APPLY_ATTENTION_PROBS]: applyAttentionProbs(addon),
    [FUSED_ATTENTION_GRAD]: fusedAttentionGrad(addon),
    [GROUP_NORM]: groupNorm(addon),
    [GROUP_NORM_TRAIN]: groupNorm(addon, true),
    [GROUP_NORM_GRAD]: groupNormGrad(addon),
    [LAYER_NORM]: layerNorm(addon),
    [LAYER_NORM_GRAD]: layerNormGrad(addon),
    [ACTIVATION]: activation(addon),
    [ACTIVATION_GRAD]: activationGrad(addon),
    [GEGLU]: geglu(addon),
    [GEGLU_GRAD]: gegluGrad(addon),
    ...Object.fromEntries(
      Object.entries(BINARY).map(([name, op]) => [name, binaryKernel(addon, name, op, orig(name))]),
    ),
    ...Object.fromEntries(Object.entries(UNARY).map(([name, op]) => [name, unaryKernel(addon, name, op, orig(name))])),
    Sum: reduceKernel(addon, 'Sum', false, orig('Sum')),
    Mean: reduceKernel(addon, 'Mean', true, orig('Mean')),
    Slice: sliceKernel(addon, orig('Slice')),
    SplitV: splitKernel(addon, orig('SplitV')),
    Concat: concatKernel(addon, orig('Concat')),
    PadV2: padKernel(addon, orig('PadV2')),
    Transpose: transposeKernel(addon, orig('Transpose')),
    [ADAM_UPDATE]: adamKernel(addon),
    [SUM_OF_SQUARES]: sumOfSquaresKernel(addon),
  };
}

/** The kernel functions install registered. */
const ours = new Set<unknown>();

/** Whether `kernelName` currently runs a native kernel on the wasm backend. */
export function nativeKernelActive(kernelName: string): boolean {
  return ours.has(tf.getKernel(kernelName, BACKEND)?.kernelFunc);
}

/** Weight uploads (streamed weights, on every use) on all threads, float16 upcast natively. */
function nativeUploader(addon: NativeAddon): WeightUploader {
  return (values, shape) => {
    if (tf.getBackend() !== BACKEND || values.length === 0) return undefined;
    const backend = tf.backend() as unknown as WasmBackendLike;
    const [info] = withOutputs(backend, [shape], (heap, [offset]) => addon.upload(heap, offset, values));
    return tf.engine().makeTensorFromTensorInfo(info);
  };
}

/** Registers the native kernels for the wasm backend (idempotent). */
export function installNativeKernels(addon: NativeAddon): void {
  if (replaced) return;
  // The wasm backward kernels first (a later call is then a no-op): the native ones replace them,
  // falling back to them for the cases they do not cover.
  installWasmGradKernels();
  const before = new Map<string, tf.KernelConfig | undefined>();
  const orig = (name: string) => tf.getKernel(name, BACKEND)?.kernelFunc as unknown as Kernel | undefined;
  for (const [kernelName, fn] of Object.entries(nativeKernels(addon, orig))) {
    const prev = tf.getKernel(kernelName, BACKEND);
    before.set(kernelName, prev);
    if (prev) tf.unregisterKernel(kernelName, BACKEND);
    tf.registerKernel({ kernelName, backendName: BACKEND, kernelFunc: fn as unknown as tf.KernelFunc });
    ours.add(fn);
  }
  replaced = before;
  installed = addon;
  setNativeWeightPacking(nativeWeightPacking());
  setWeightUploader(nativeUploader(addon));
}

/** Restores the wasm kernels that install replaced (idempotent). */
export function uninstallNativeKernels(): void {
  if (!replaced) return;
  setNativeWeightPacking(false);
  setWeightUploader(undefined);
  installed = undefined;
  for (const [kernelName, prev] of replaced) {
    tf.unregisterKernel(kernelName, BACKEND);
    if (prev) tf.registerKernel(prev);
  }
  ours.clear();
  replaced = undefined;
}
