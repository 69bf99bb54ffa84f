/**
 * Per-layer-type breakdown of one run from tf.profile: time and FLOPs of convolutions,
 * matmuls (Linear layers, 1×1 convs), attention (the fused kernels, or softmax/batched matmul
 * of the tfjs paths) and everything else (norms, activations, copies), plus peak backend bytes.
 */
import * as tf from '@tensorflow/tfjs-core';

export type LayerType = 'conv' | 'matmul' | 'attention' | 'other';

export interface TypeStats {
  ms: number;
  flop: number;
  calls: number;
}

export interface Breakdown {
  types: Record<LayerType, TypeStats>;
  /** The slowest kernels of type 'other' by total time. */
  otherTop: { name: string; ms: number; calls: number }[];
  /** Peak engine bytes during the run (tf.profile's peakBytes). */
  peakBytes: number;
  /** Sum of kernel times (ms). */
  kernelMs: number;
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
  const info = await tf.profile(() => f() as tf.TensorContainer);
  tf.dispose(info.result as tf.Tensor | tf.Tensor[]);
  const types: Record<LayerType, TypeStats> = {
    conv: { ms: 0, flop: 0, calls: 0 },
    matmul: { ms: 0, flop: 0, calls: 0 },
    attention: { ms: 0, flop: 0, calls: 0 },
    other: { ms: 0, flop: 0, calls: 0 },
  };
  const other = new Map<string, { ms: number; calls: number }>();
  let kernelMs = 0;
  for (const k of info.kernels) {
    // Op scopes (e.g. "fusedMatMul__op") are recorded around their kernels: skip them.
    if (k.name.endsWith('__op')) continue;
    const ms = Number(k.kernelTimeMs) || 0;
    kernelMs += ms;
    const { type, flop } = classify(k.name, k.inputShapes as number[][], k.outputShapes as number[][]);
    const t = types[type];
    t.ms += ms;
    t.flop += flop;
    t.calls++;
    if (type === 'other') {
      const o = other.get(k.name) ?? { ms: 0, calls: 0 };
      o.ms += ms;
      o.calls++;
      other.set(k.name, o);
    }
  }
  const otherTop = [...other.entries()]
    .map(([name, o]) => ({ name, ...o }))
    .sort((a, b) => b.ms - a.ms)
    .slice(0, 6);
  return { types, otherTop, peakBytes: info.peakBytes, kernelMs };
}
