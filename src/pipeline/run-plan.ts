/**
 * A check of a sampling run that needs only the model's configs, so it runs before any weight is
 * loaded and before any step (with the image size, src/pipeline/image-size.ts): whether the activations
 * fit in the backend's memory budget (the wasm heap: a 4096×4096 image cannot be decoded in it).
 *
 * The memory estimate scales live tensor bytes measured with the allocation guard on the SD-1
 * architecture (tiny-sd on wasm; both grow linearly with the pixel count):
 *   UNet call   ≈ 58 · B·h·w·C₀ · 4 bytes   (latents h×w, batch B incl. the CFG copy, C₀ = first block width)
 *   VAE decode  ≈  4 · H·W·max(C₀, C₁) · 4  (one image of H×W pixels, C₀/C₁ = first two block widths)
 * It leaves out what a controller stores, so it is a lower estimate: only sizes that cannot fit
 * are refused.
 */

/** Estimated peak live tensor bytes of a run's stages (see the module comment). */
export interface RunMemory {
  /** One UNet call on the whole batch. */
  unetBytes: number;
  /** One VAE decode (images are decoded one at a time). */
  vaeBytes: number;
}

/** Widths of the UNet and VAE (their configs' block_out_channels) and the run's size and batch. */
export function estimateRunMemory(
  widths: { unet: readonly number[]; vae: readonly number[] },
  run: { height: number; width: number; vaeFactor: number; batch: number },
): RunMemory {
  const latentPixels = (run.height / run.vaeFactor) * (run.width / run.vaeFactor);
  const vaeWidth = Math.max(widths.vae[0], widths.vae[1] ?? 0);
  return {
    unetBytes: 58 * run.batch * latentPixels * widths.unet[0] * 4,
    vaeBytes: 4 * run.height * run.width * vaeWidth * 4,
  };
}

const gib = (b: number) => `${(b / 2 ** 30).toFixed(b < 2 ** 30 ? 2 : 1)} GiB`;

/**
 * Throws a one-line error when `liveBytes` (already on the backend, e.g. resident weights) plus
 * the larger stage does not fit `budget` (bytes; undefined = no known limit).
 */
export function checkRunMemory(mem: RunMemory, liveBytes: number, budget: { bytes: number; name: string } | undefined, size: { height: number; width: number }): void {
  if (!budget) return;
  const need = liveBytes + Math.max(mem.unetBytes, mem.vaeBytes);
  if (need <= budget.bytes) return;
  throw new Error(
    `${size.width}×${size.height} does not fit: it needs about ${gib(need)} of backend memory ` +
      `(UNet call ${gib(mem.unetBytes)}, VAE decode ${gib(mem.vaeBytes)}, ${gib(liveBytes)} in use) but the ${budget.name} is ${gib(budget.bytes)}; choose a smaller size`,
  );
}
