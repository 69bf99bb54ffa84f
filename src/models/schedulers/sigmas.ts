/**
 * k-diffusion noise levels σ_t = sqrt((1 − ᾱ_t)/ᾱ_t) (float32, as diffusers computes them from its
 * float32 alphas_cumprod) and numpy's linear interpolation between training timesteps.
 */
import { f32, sqrt32 } from '../../util/scalar-float32.js';

/** Per-training-timestep σ in float32 (`((1 - ac) / ac) ** 0.5` on a float32 tensor). */
export function trainSigmas(alphasCumprod: Float32Array): Float32Array {
  return alphasCumprod.map((a) => sqrt32(f32(f32(1 - a) / a)));
}

/** `np.interp(x, arange(len(fp)), fp)` in double (values outside clamp to the end points). */
export function interpOnIndexGrid(x: number, fp: ArrayLike<number>): number {
  const last = fp.length - 1;
  if (Number.isNaN(x)) return NaN;
  if (x <= 0) return fp[0];
  if (x >= last) return fp[last];
  const j = Math.floor(x);
  if (j === x) return fp[j];
  const slope = fp[j + 1] - fp[j]; // divided by xp[j+1] − xp[j] = 1
  return slope * (x - j) + fp[j];
}
