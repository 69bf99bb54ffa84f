/**
 * Linear multistep coefficients of LMSDiscreteScheduler: ∫_{σ_i}^{σ_{i+1}} ℓ_j(τ) dτ, with ℓ_j the
 * Lagrange basis polynomial through σ_i, σ_{i−1}, …, σ_{i−order+1} that is 1 at σ_{i−j}. diffusers
 * integrates numerically (scipy quad); the integrand is a polynomial of degree < 4, so it is
 * integrated exactly here (expanded around σ_i to limit cancellation).
 */

/** Coefficient for the derivative `current` steps back, in double. */
export function lmsCoefficient(sigmas: ArrayLike<number>, order: number, i: number, current: number): number {
  const a = sigmas[i];
  const h = sigmas[i + 1] - a;
  // Polynomial in u = τ − σ_i, coefficients by ascending power.
  let poly = [1];
  for (let k = 0; k < order; k++) {
    if (k === current) continue;
    const root = sigmas[i - k] - a;
    const scale = 1 / (sigmas[i - current] - sigmas[i - k]);
    const next = new Array<number>(poly.length + 1).fill(0);
    for (let p = 0; p < poly.length; p++) {
      next[p + 1] += poly[p] * scale;
      next[p] -= poly[p] * root * scale;
    }
    poly = next;
  }
  let sum = 0;
  let hp = h;
  for (let p = 0; p < poly.length; p++) {
    sum += (poly[p] * hp) / (p + 1);
    hp *= h;
  }
  return sum;
}
