/**
 * Per-layer-type breakdown of one run from tf.profile: time and FLOPs of convolutions,
 * matmuls (Linear layers, 1×1 convs), attention (the fused kernels, or softmax/batched matmul
 * of the tfjs paths) and everything else (norms, activations, copies), plus peak backend bytes.
 */
import * as tf from '@tensorflow/tfjs-core';
import { nativeKernelActive } from '../src/node/native/install.js';

export type LayerType = 'conv' | 'matmul' | 'attention' | 'other';

export interface TypeStats {
  ms: number;
  flop: number;
  calls: number;
}

export interface Breakdown {
  types: Record<LayerType, TypeStats>;
  /** The slowest kernels of type 'other' by total time, and where they ran. */
  otherTop: { name: string; ms: number; calls: number; where: Where }[];
  /** Time (ms) of the 'other' kernels that ran as wasm kernels (single-threaded ones among them), not native. */
  otherWasmMs: number;
  /** Those kernels, slowest first. */
  otherNotNative: { name: string; ms: number; calls: number; where: Where }[];
  /** Peak engine bytes during the run (tf.profile's peakBytes). */
  peakBytes: number;
  /** Sum of kernel times (ms). */
  kernelMs: number;
  /** Wall time of the profiled run (ms); what the kernels leave of it is engine, JS and uploads. */
  wallMs: number;
}

/** Where a kernel runs: the native addon, wasm, or JS (kernels of ours written in JS). */
export type Where = 'native' | 'wasm' | 'js';

/** Where kernel `name` runs on the current backend (the attention kernels of ours are wasm). */
export const whereOf = (name: string): Where =>
  nativeKernelActive(name) ? 'native' : /^Ptp/.test(name) && !/Attention/.test(name) ? 'js' : 'wasm';

type ProfileInfo = Awaited<ReturnType<typeof tf.profile>>;

/**
 * The kernel records of a tf.profile run, leaves only: a record that is not a registered kernel of
 * `backend` is a scope (an op such as "fusedMatMul__op", or a custom gradient's "unnamed scope")
 * whose time is that of kernels recorded on their own, so counting it would count them twice.
 */
export function kernelRecords(info: ProfileInfo, backend = tf.getBackend()): ProfileInfo['kernels'] {
  return info.kernels.filter((k) => tf.getKernel(k.name, backend) !== undefined);
}

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

function classify(name: string, inputs: number[][], outputs: number[][]): { type: LayerType; flop: number } {
  switch (name) {
    case 'Conv2D':
    case 'FusedConv2D': {
      const [kh, kw, cin] = inputs[1];
      return { type: 'conv', flop: 2 * size(outputs[0]) * kh * kw * cin };
    }
    case 'BatchMatMul':
    case '_FusedMatMul': {
      // Both layouts: size(a) = batch·M·K, out = batch·M·N → 2·size(a)·N.
      const out = outputs[0];
      return { type: 'matmul', flop: 2 * size(inputs[0]) * out[out.length - 1] };
    }
    case 'PtpFusedAttention': {
      const [b, n, c] = inputs[0];
      return { type: 'attention', flop: 4 * b * n * inputs[1][1] * c };
    }
    case 'PtpAttentionProbs': {
      const [b, n, c] = inputs[0];
      return { type: 'attention', flop: 2 * b * n * inputs[1][1] * c };
    }
    case 'PtpApplyAttentionProbs': {
      const [, n, m] = inputs[0];
      const [b, , c] = inputs[1];
      return { type: 'attention', flop: 2 * b * n * m * c };
    }
    case 'Softmax':
      return { type: 'attention', flop: 0 };
    default:
      return { type: 'other', flop: 0 };
  }
}

/** Profiles one call of `f` (its result is disposed). */
export async function profileBreakdown(f: () => tf.Tensor | tf.Tensor[]): Promise<Breakdown> {
  const t0 = performance.now();
  const info = await tf.profile(() => f() as tf.TensorContainer);
  const wallMs = performance.now() - t0;
  tf.dispose(info.result as tf.Tensor | tf.Tensor[]);
  const types: Record<LayerType, TypeStats> = {
    conv: { ms: 0, flop: 0, calls: 0 },
    matmul: { ms: 0, flop: 0, calls: 0 },
    attention: { ms: 0, flop: 0, calls: 0 },
    other: { ms: 0, flop: 0, calls: 0 },
  };
  const other = new Map<string, { ms: number; calls: number; where: Where }>();
  let kernelMs = 0;
  for (const k of kernelRecords(info)) {
    const ms = Number(k.kernelTimeMs) || 0;
    kernelMs += ms;
    const { type, flop } = classify(k.name, k.inputShapes as number[][], k.outputShapes as number[][]);
    const t = types[type];
    t.ms += ms;
    t.flop += flop;
    t.calls++;
    if (type === 'other') {
      const o = other.get(k.name) ?? { ms: 0, calls: 0, where: whereOf(k.name) };
      o.ms += ms;
      o.calls++;
      other.set(k.name, o);
    }
  }
  const all = [...other.entries()].map(([name, o]) => ({ name, ...o })).sort((a, b) => b.ms - a.ms);
  const otherNotNative = all.filter((o) => o.where !== 'native');
  const otherWasmMs = otherNotNative.reduce((a, o) => a + o.ms, 0);
  return { types, otherTop: all.slice(0, 6), otherWasmMs, otherNotNative, peakBytes: info.peakBytes, kernelMs, wallMs };
}
