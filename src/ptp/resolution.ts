/**
 * Which attention layers the controllers touch, by resolution.
 *
 * The official code hard-codes two limits for 512×512 images (64×64 latents):
 *  - maps are stored only when queries ≤ 32² (the latent/2 level and below; 64×64 layers never),
 *  - self-attention is replaced only when keys ≤ 16² (the latent/4 level and the 8×8 middle).
 * We express them relative to the latent size so other image sizes keep the same set of UNet
 * levels: store when queries ≤ ⌈H/2⌉·⌈W/2⌉, replace self-attention when keys ≤ ⌈⌈H/2⌉/2⌉·⌈⌈W/2⌉/2⌉
 * (the sizes the UNet's stride-2 downsamplers produce). At 64×64 these are exactly 32² and 16².
 * (Absolute limits would drop whole levels at larger sizes — at 768×768 the 48×48 maps would not
 * be stored and the 24×24 self-attention never replaced — and LocalBlend's 16×16 maps would not exist.)
 *
 * The latent size is given to the controller, or taken from the attention context (the UNet
 * reports its input size to every layer). Until one is known the official 512×512 limits apply.
 */

export interface MapSize {
  readonly height: number;
  readonly width: number;
}

/** The official latent size (512×512 images). */
export const DEFAULT_LATENT: MapSize = { height: 64, width: 64 };

/** Size of the UNet level `level` (0 = latent) for a latent size: ⌈·/2⌉ per level. */
export function levelSize(latent: MapSize, level: number): MapSize {
  let { height, width } = latent;
  for (let i = 0; i < level; i++) {
    height = Math.ceil(height / 2);
    width = Math.ceil(width / 2);
  }
  return { height, width };
}

/** Largest number of queries of a stored map (official: 32² at 64×64 latents). */
export function storeMaxQueries(latent: MapSize): number {
  const s = levelSize(latent, 1);
  return s.height * s.width;
}

/** Largest number of keys of a replaced self-attention map (official: 16² at 64×64 latents). */
export function selfReplaceMaxKeys(latent: MapSize): number {
  const s = levelSize(latent, 2);
  return s.height * s.width;
}

/** The map size LocalBlend reads (official: the 16×16 layers at 64×64 latents). */
export function blendMapSize(latent: MapSize): MapSize {
  return levelSize(latent, 2);
}
