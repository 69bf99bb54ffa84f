/**
 * Inference timestep selection ("timestep_spacing" leading / linspace / trailing) with numpy's
 * arithmetic (`np.linspace`, float `np.arange`, round-half-to-even), so the sequences equal
 * diffusers' exactly.
 */
import type { TimestepSpacing } from './config.js';

/** `np.linspace(start, stop, num)` (endpoint included) in double. */
export function npLinspace(start: number, stop: number, num: number): number[] {
  if (num === 1) return [start];
  const step = (stop - start) / (num - 1);
  const out = Array.from({ length: num }, (_, i) => i * step + start);
  out[num - 1] = stop;
  return out;
}

/** `np.arange(start, stop, step)` for float steps: length ceil((stop − start)/step), values start + i·δ. */
export function npArange(start: number, stop: number, step: number): number[] {
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const delta = start + step - start;
  return Array.from({ length: n }, (_, i) => start + i * delta);
}

/** `np.round` / `np.rint`: round half to even. */
export function roundHalfEven(x: number): number {
  const fl = Math.floor(x);
  const d = x - fl;
  if (d < 0.5) return fl;
  if (d > 0.5) return fl + 1;
  return fl % 2 === 0 ? fl : fl + 1;
}

/**
 * Descending timesteps as DDIM/PNDM/Euler/LMS compute them (before their dtype cast):
 * - linspace: linspace(0, T−1, n), reversed (rounded half-to-even when `roundLinspace`);
 * - leading: (0..n−1)·(T div n), reversed, + steps_offset;
 * - trailing: round(arange(T, 0, −T/n)) − 1.
 */
export function spacedTimesteps(spacing: TimestepSpacing, numTrain: number, n: number, stepsOffset: number, roundLinspace: boolean): number[] {
  switch (spacing) {
    case 'linspace': {
      const t = npLinspace(0, numTrain - 1, n);
      return (roundLinspace ? t.map(roundHalfEven) : t).reverse();
    }
    case 'leading': {
      const ratio = Math.floor(numTrain / n);
      return Array.from({ length: n }, (_, i) => (n - 1 - i) * ratio + stepsOffset);
    }
    case 'trailing':
      return npArange(numTrain, 0, -numTrain / n).map((t) => roundHalfEven(t) - 1);
  }
}

/** Throws unless 1 ≤ n ≤ numTrain (diffusers refuses more inference steps than training steps). */
export function checkStepCount(where: string, n: number, numTrain: number): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`${where}: number of inference steps must be a positive integer, got ${n}`);
  if (n > numTrain) throw new Error(`${where}: ${n} inference steps exceed num_train_timesteps (${numTrain})`);
}
