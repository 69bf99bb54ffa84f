/** Learning-rate schedule: linear warm-up, then cosine decay to `minRatio`·base at `total` steps. */
export interface LrSchedule {
  base: number;
  warmup: number;
  total: number;
  /** Final rate as a fraction of `base`. Default 0.1. */
  minRatio?: number;
}

export function lrAt(step: number, s: LrSchedule): number {
  if (step < s.warmup) return (s.base * (step + 1)) / s.warmup;
  const min = s.base * (s.minRatio ?? 0.1);
  const p = Math.min(1, (step - s.warmup) / Math.max(1, s.total - s.warmup));
  return min + (s.base - min) * 0.5 * (1 + Math.cos(Math.PI * p));
}
