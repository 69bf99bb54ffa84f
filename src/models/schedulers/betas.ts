/**
 * Beta schedules and ᾱ (alphas_cumprod), reproducing diffusers' float32 values bit for bit: betas
 * come from `torch.linspace(..., dtype=float32)` (emulated below, including its two-sided
 * evaluation and fused multiply-adds), alphas = 1 − betas in float32, and `torch.cumprod`
 * accumulates in double and stores float32.
 */
import { f32, fma32 } from '../../util/scalar-float32.js';
import type { BetaConfig } from './config.js';

/** Lanes of the AVX2 float vector used by PyTorch's CPU linspace kernel. */
const VEC = 8;

/**
 * `torch.linspace(start, end, steps, dtype=torch.float32)` as PyTorch's x86 CPU kernel computes it:
 * step = (end − start)/(steps − 1) in float32; the first half counts up from `start`, the second half
 * down from `end`; the vectorised body fills 8 lanes as base + i·step, the tail element by element.
 */
export function torchLinspaceF32(start: number, end: number, steps: number): Float32Array {
  const out = new Float32Array(steps);
  if (steps === 0) return out;
  const s = f32(start);
  const e = f32(end);
  if (steps === 1) {
    out[0] = s;
    return out;
  }
  const step = f32(f32(e - s) / (steps - 1));
  const half = Math.floor(steps / 2);
  const at = (idx: number) => (idx < half ? fma32(idx, step, s) : fma32(-step, steps - idx - 1, e));
  const fillVector = (idx: number) => {
    const base = at(idx);
    out[idx] = base;
    for (let i = 1; i < VEC; i++) out[idx + i] = fma32(i, step, base);
  };
  let idx = 0;
  for (; idx + 2 * VEC <= steps; idx += 2 * VEC) {
    fillVector(idx);
    fillVector(idx + VEC);
  }
  for (; idx < steps; idx++) out[idx] = at(idx);
  return out;
}

/** diffusers' `betas_for_alpha_bar` with the cosine ᾱ ("squaredcos_cap_v2"), in double, stored as float32. */
function cosineBetas(n: number, maxBeta = 0.999): Float32Array {
  const alphaBar = (t: number) => {
    const c = Math.cos((((t + 0.008) / 1.008) * Math.PI) / 2);
    return c * c;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.min(1 - alphaBar((i + 1) / n) / alphaBar(i / n), maxBeta);
  return out;
}

/** float32 betas of a schedule (diffusers' scheduler constructors), rescaled to zero terminal SNR when asked. */
export function makeBetas(c: BetaConfig): Float32Array {
  const betas = scheduleBetas(c);
  return c.rescaleBetasZeroSnr ? rescaleZeroTerminalSnr(betas) : betas;
}

function scheduleBetas(c: BetaConfig): Float32Array {
  if (c.trainedBetas) return Float32Array.from(c.trainedBetas);
  switch (c.betaSchedule) {
    case 'linear':
      return torchLinspaceF32(c.betaStart, c.betaEnd, c.numTrainTimesteps);
    case 'scaled_linear': {
      const r = torchLinspaceF32(Math.sqrt(c.betaStart), Math.sqrt(c.betaEnd), c.numTrainTimesteps);
      return r.map((b) => f32(b * b));
    }
    case 'squaredcos_cap_v2':
      return cosineBetas(c.numTrainTimesteps);
  }
}

/** ᾱ_t = ∏_{s≤t} (1 − β_s): float32 factors, double accumulation, float32 results (torch.cumprod on CPU). */
export function alphasCumprod(betas: Float32Array): Float32Array {
  const out = new Float32Array(betas.length);
  let acc = 1;
  for (let i = 0; i < betas.length; i++) {
    acc *= f32(1 - betas[i]);
    out[i] = acc;
  }
  return out;
}

/**
 * diffusers' `rescale_zero_terminal_snr` (Lin et al. 2023, Algorithm 1) in its float32 tensor
 * arithmetic: shift and scale sqrt(ᾱ) so that its last value is 0 and its first unchanged, then
 * turn the rescaled ᾱ back into betas (the last beta becomes 1).
 */
export function rescaleZeroTerminalSnr(betas: Float32Array): Float32Array {
  const sqrtBar = alphasCumprod(betas).map((a) => f32(Math.sqrt(a)));
  const first = sqrtBar[0];
  const last = sqrtBar[sqrtBar.length - 1];
  const scale = f32(first / f32(first - last));
  const bar = sqrtBar.map((s) => {
    const r = f32(f32(s - last) * scale);
    return f32(r * r);
  });
  return bar.map((a, i) => f32(1 - (i === 0 ? a : f32(a / bar[i - 1]))));
}
