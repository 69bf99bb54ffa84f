/** `inspect --check`: reads every tensor through the normal weight path and looks for non-finite values. */
import type { WeightSource } from '../src/io/weights.js';

export interface CheckResult {
  name: string;
  tensors: number;
  values: number;
  /** Tensors holding NaN or ±Infinity, with how many. */
  nonFinite: { key: string; count: number }[];
  min: number;
  max: number;
}

/** Reads (and decodes to float32) every tensor of `src`, one at a time. */
export async function checkWeights(name: string, src: WeightSource): Promise<CheckResult> {
  const r: CheckResult = { name, tensors: 0, values: 0, nonFinite: [], min: Infinity, max: -Infinity };
  for (const key of src.keys()) {
    const v = await src.read(key, true);
    let bad = 0;
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      if (!Number.isFinite(x)) bad++;
      else {
        if (x < lo) lo = x;
        if (x > hi) hi = x;
      }
    }
    if (bad) r.nonFinite.push({ key, count: bad });
    r.tensors++;
    r.values += v.length;
    r.min = Math.min(r.min, lo);
    r.max = Math.max(r.max, hi);
  }
  return r;
}

/** One line per checked source, plus one per tensor with non-finite values. */
export function formatCheck(results: readonly CheckResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    const range = r.values ? `values in [${r.min.toPrecision(4)}, ${r.max.toPrecision(4)}]` : 'no values';
    lines.push(
      `check ${r.name}: read ${r.tensors} tensors, ${r.nonFinite.length ? `${r.nonFinite.length} with non-finite values` : 'all finite'}, ${range}`,
    );
    for (const b of r.nonFinite) lines.push(`  non-finite: ${b.key} (${b.count} values)`);
  }
  return lines.join('\n');
}
