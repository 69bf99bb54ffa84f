/**
 * Attention benchmarks at SD-1.5 sizes: the fused kernel against the tfjs per-head path,
 * back to back in one process (A/B), with and without a controller asking for the
 * probabilities, plus the copy cost of moving q/k/v/out in and out of the kernel.
 */
import * as tf from '@tensorflow/tfjs-core';
import { attend, setAttentionStrategy, type AttentionStrategy } from '../src/nn/attention-core.js';
import type { AttentionContext, AttentionController } from '../src/nn/attention-control.js';
import { gflops, timeIt } from './timing.js';

export interface AttentionCase {
  name: string;
  batch: number;
  queries: number;
  keys: number;
  heads: number;
  dim: number;
  /** Run with a controller that wants the probabilities (P2P layers). */
  probs?: boolean;
}

export const attentionCases: AttentionCase[] = [
  { name: 'SD self 64² (8×40, CFG batch 2)', batch: 2, queries: 4096, keys: 4096, heads: 8, dim: 40 },
  { name: 'SD cross 64² ×77 (8×40)', batch: 2, queries: 4096, keys: 77, heads: 8, dim: 40 },
  { name: 'SD self 32² (8×80)', batch: 2, queries: 1024, keys: 1024, heads: 8, dim: 80 },
  { name: 'SD cross 64² ×77 with probs (P2P)', batch: 2, queries: 4096, keys: 77, heads: 8, dim: 40, probs: true },
  { name: 'SD self 32² with probs (P2P)', batch: 2, queries: 1024, keys: 1024, heads: 8, dim: 80, probs: true },
  { name: 'VAE mid 64² (1×512)', batch: 1, queries: 4096, keys: 4096, heads: 1, dim: 512 },
  { name: 'tiny self 64² (8×4, batch 4)', batch: 4, queries: 4096, keys: 4096, heads: 8, dim: 4 },
];

/** Passes the probabilities through unchanged (what a recording controller costs at least). */
class PassThrough implements AttentionController {
  onAttention(probs: tf.Tensor3D): tf.Tensor3D {
    return probs;
  }
}

export interface AttentionResult {
  case: AttentionCase;
  flop: number;
  seconds: Partial<Record<AttentionStrategy, number>>;
}

export async function benchAttention(
  cases: AttentionCase[],
  strategies: AttentionStrategy[],
  reps: number,
  log = console.log,
): Promise<AttentionResult[]> {
  const results: AttentionResult[] = [];
  for (const c of cases) {
    const inner = c.heads * c.dim;
    const q = tf.randomNormal([c.batch, c.queries, inner]) as tf.Tensor3D;
    const k = tf.randomNormal([c.batch, c.keys, inner]) as tf.Tensor3D;
    const v = tf.randomNormal([c.batch, c.keys, inner]) as tf.Tensor3D;
    const ctx: AttentionContext = {
      isCross: c.keys !== c.queries,
      place: 'down',
      layerIndex: 0,
      numLayers: 1,
      blockIndex: 0,
      name: c.name,
      step: 0,
      height: Math.sqrt(c.queries),
      width: Math.sqrt(c.queries),
      latent: { height: Math.sqrt(c.queries), width: Math.sqrt(c.queries) },
      queries: c.queries,
      keys: c.keys,
      heads: c.heads,
      batch: c.batch,
    };
    const opts = c.probs ? { heads: c.heads, controller: new PassThrough(), ctx } : { heads: c.heads };
    const flop = 4 * c.batch * c.heads * c.queries * c.keys * c.dim;
    const r: AttentionResult = { case: c, flop, seconds: {} };
    for (const s of strategies) {
      setAttentionStrategy(s);
      try {
        r.seconds[s] = (await timeIt(() => attend(q, k, v, opts), reps)).median;
      } finally {
        setAttentionStrategy(undefined);
      }
    }
    const parts = strategies.map(
      (s) => `${s} ${(r.seconds[s]! * 1000).toFixed(1)} ms (${gflops(flop, r.seconds[s]!).toFixed(1)} GFLOP/s)`,
    );
    const base = r.seconds['per-head'];
    const fused = r.seconds.fused;
    log(
      `  ${c.name.padEnd(36)} ${parts.join(' | ')}${base && fused ? ` | per-head/fused ×${(base / fused).toFixed(2)}` : ''}`,
    );
    results.push(r);
    tf.dispose([q, k, v]);
  }
  return results;
}
