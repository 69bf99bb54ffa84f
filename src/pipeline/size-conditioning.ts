/**
 * SD-XL's micro-conditioning ("time ids", Podell et al. 2023, §2.2): the UNet is told the size the
 * training image had before resizing, where it was cropped and the size it was trained to produce.
 * diffusers 0.25 (`StableDiffusionXLPipeline._get_add_time_ids` and `__call__`):
 *   ids = [original_h, original_w, crop_top, crop_left, target_h, target_w]
 * with original = target = (height, width) of the run and crop (0, 0) by default. The negative ids
 * differ only when both `negative_original_size` and `negative_target_size` are given (the negative
 * crop defaults to (0, 0)); otherwise they are the positive ids.
 */

/** A [height, width] size or a [top, left] offset in pixels. */
export type PixelPair = readonly [number, number];

/** The micro-conditioning options of a run (diffusers' names in camelCase). */
export interface SizeConditioning {
  /** Size of the "source" image (diffusers `original_size`); default the run's [height, width]. */
  originalSize?: PixelPair;
  /** Crop offset [top, left] (diffusers `crops_coords_top_left`); default [0, 0]. */
  cropsCoordsTopLeft?: PixelPair;
  /** Size the image is generated for (diffusers `target_size`); default the run's [height, width]. */
  targetSize?: PixelPair;
  /** Unconditional branch: used only together with `negativeTargetSize` (as diffusers). */
  negativeOriginalSize?: PixelPair;
  /** Unconditional branch crop; default [0, 0]. */
  negativeCropsCoordsTopLeft?: PixelPair;
  /** Unconditional branch: used only together with `negativeOriginalSize`. */
  negativeTargetSize?: PixelPair;
}

const KEYS = [
  'originalSize',
  'cropsCoordsTopLeft',
  'targetSize',
  'negativeOriginalSize',
  'negativeCropsCoordsTopLeft',
  'negativeTargetSize',
] as const;

/** Throws (naming the option) unless every given pair is two finite non-negative numbers; `applies` false refuses any. */
export function checkSizeConditioning(c: SizeConditioning, applies: boolean): void {
  for (const k of KEYS) {
    const v = c[k];
    if (v === undefined) continue;
    if (!applies)
      throw new Error(
        `${k} is SD-XL micro-conditioning; this model's UNet has no added conditioning (addition_embed_type "text_time")`,
      );
    if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => typeof x === 'number' && Number.isFinite(x) && x >= 0)) {
      throw new Error(`${k} must be two non-negative numbers, got ${JSON.stringify(v)}`);
    }
  }
}

/** The positive and negative time ids of a run of `size` (see the module comment). */
export function sizeTimeIds(
  c: SizeConditioning,
  size: { height: number; width: number },
): { positive: number[]; negative: number[] } {
  const own: PixelPair = [size.height, size.width];
  const positive = [...(c.originalSize ?? own), ...(c.cropsCoordsTopLeft ?? [0, 0]), ...(c.targetSize ?? own)];
  const negative =
    c.negativeOriginalSize && c.negativeTargetSize
      ? [...c.negativeOriginalSize, ...(c.negativeCropsCoordsTopLeft ?? [0, 0]), ...c.negativeTargetSize]
      : positive;
  return { positive, negative };
}

/**
 * The time ids of every row of the UNet batch. Without guidance: the positive ids per prompt. With
 * guidance, diffusers 0.25 builds `cat([negative, positive]).repeat(prompts, 1)`, i.e. rows
 * [neg, pos, neg, pos, …], while the batch is [uncond₀ … uncond_{P−1}, cond₀ … cond_{P−1}]: with
 * different negative sizes and several prompts some unconditional rows get the positive ids and
 * some conditional rows the negative ones. That order is reproduced so the numbers are diffusers';
 * with the default (equal) ids it makes no difference.
 */
export function unetTimeIds(
  ids: { positive: number[]; negative: number[] },
  prompts: number,
  guided: boolean,
): number[][] {
  if (!guided) return Array.from({ length: prompts }, () => [...ids.positive]);
  return Array.from({ length: 2 * prompts }, (_, i) => [...(i % 2 === 0 ? ids.negative : ids.positive)]);
}
