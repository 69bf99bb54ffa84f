/**
 * LocalBlend (official stable notebook): after each denoising step, keep the source latents outside
 * the region the chosen words attend to, so only that region of the edited images changes.
 */
import * as tf from '@tensorflow/tfjs-core';
import { blendMapSize, type MapSize } from './resolution.js';
import type { StoredMap } from './store.js';
import { concatRows } from './rows.js';
import { requireWordTokens, type WordRef } from './tokens.js';
import type { PromptTokenizer } from '../models/clip/tokenizer.js';

export interface LocalBlendOptions {
  /** Threshold on the max-normalised mask (official default 0.3). */
  threshold?: number;
}

/** How many down and up cross-attention maps at latent/4 LocalBlend reads (official `down_cross[2:4] + up_cross[:3]`). */
export const BLEND_LAYERS = { down: 2, up: 3 } as const;

/**
 * Mask from the words' cross-attention maps: the running-sum maps of the first two down and the
 * first three up cross-attention layers at latent/4, in forward order (16×16 at 512×512: official
 * `down_cross[2:4] + up_cross[:3]`), weighted by the words' tokens, averaged over heads and layers,
 * max-pooled 3×3, upsampled (nearest) to the latent size, divided by each image's maximum and
 * thresholded. Edited image b keeps its own latents where the source's or its own mask is set and
 * takes the source's elsewhere: x_b ← x_0 + (m_0 ∨ m_b)·(x_b − x_0). (The official code is written
 * for one edited prompt; this is the same for two prompts and applies it to each edited prompt for more.)
 *
 * Layers, not modules, are counted (as the official list indices do): in SD-1/2 the five are all the
 * latent/4 layers (down_blocks.2.attentions.0/1, up_blocks.1.attentions.0/1/2); in SD-XL, whose
 * Transformer2DModels hold several layers, they are the first two layers of down_blocks.2.attentions.0
 * and the first three of up_blocks.0 (tiny-sdxl: attentions.0 layers 0, 1 and attentions.1 layer 0),
 * which is what the official indices select on tiny-sdxl at 512×512.
 */
export class LocalBlend {
  /** Per prompt, 1 at the chosen words' token positions: [prompts][tokens]. */
  readonly alphaLayers: Float32Array[];
  /** Text context length (the tokenizer's `modelMaxLength`): keys of the cross-attention maps read. */
  readonly tokens: number;
  readonly threshold: number;

  /** `words[i]`: the word(s) of prompts[i] whose attention defines the region (string or word index). */
  constructor(
    tokenizer: PromptTokenizer,
    readonly prompts: readonly string[],
    words: readonly (WordRef | readonly WordRef[])[],
    opts: LocalBlendOptions = {},
  ) {
    if (prompts.length < 2)
      throw new Error(`LocalBlend needs a source and at least one edited prompt, got ${prompts.length}`);
    if (words.length !== prompts.length) {
      throw new Error(`LocalBlend: give words for each of the ${prompts.length} prompts (got ${words.length} entries)`);
    }
    this.threshold = opts.threshold ?? 0.3;
    this.tokens = tokenizer.modelMaxLength;
    if (!Number.isFinite(this.threshold))
      throw new Error(`LocalBlend: threshold must be a number, got ${opts.threshold}`);
    this.alphaLayers = prompts.map((prompt, i) => {
      const a = new Float32Array(this.tokens);
      const list = (
        typeof words[i] === 'string' || typeof words[i] === 'number' ? [words[i]] : words[i]
      ) as readonly WordRef[];
      if (list.length === 0) throw new Error(`LocalBlend: no word given for prompt "${prompt}"`);
      for (const w of list) for (const t of requireWordTokens(tokenizer, prompt, w, 'LocalBlend')) a[t] = 1;
      return a;
    });
  }

  /**
   * Whether a layer is among those LocalBlend may read: cross-attention of down/up layers at latent/4
   * (which of them it reads is decided by their order, see `selectMaps`).
   */
  readsLayer(layer: Pick<StoredMap, 'isCross' | 'place' | 'height' | 'width'>, latent: MapSize): boolean {
    const s = blendMapSize(latent);
    return layer.isCross && layer.place !== 'mid' && layer.height === s.height && layer.width === s.width;
  }

  /** The stored maps LocalBlend reads: the first BLEND_LAYERS.down down and BLEND_LAYERS.up up ones at latent/4, down first. */
  selectMaps(maps: readonly StoredMap[], latent: MapSize): StoredMap[] {
    const candidates = maps.filter((m) => this.readsLayer(m, latent));
    return [
      ...candidates.filter((m) => m.place === 'down').slice(0, BLEND_LAYERS.down),
      ...candidates.filter((m) => m.place === 'up').slice(0, BLEND_LAYERS.up),
    ];
  }

  /**
   * The words' attention of every prompt at latent/4, [prompts, h, w, 1]: weighted by the words'
   * tokens, averaged over heads and layers, max-pooled 3×3 and divided by each image's maximum
   * (the official maps before the nearest upsampling), from running-sum maps (down maps first).
   */
  wordMaps(maps: readonly StoredMap[], latent: MapSize): tf.Tensor4D {
    const used = this.selectMaps(maps, latent);
    const s = blendMapSize(latent);
    const n = this.prompts.length;
    if (used.length === 0) {
      throw new Error(
        `LocalBlend: no stored cross-attention maps of ${s.height}×${s.width} (latent ${latent.height}×${latent.width}); is the controller storing them?`,
      );
    }
    return tf.tidy(() => {
      const per = used.map((m) => {
        const [rows, q, k] = m.probs.shape;
        if (rows !== n * m.heads || k !== this.tokens || q !== s.height * s.width) {
          throw new Error(
            `LocalBlend: map ${m.name} [${m.probs.shape}] does not hold ${n} prompts × ${m.heads} heads × ${s.height}·${s.width} queries × ${this.tokens} tokens`,
          );
        }
        return tf.reshape(m.probs, [n, m.heads, s.height, s.width, k]);
      });
      const maps5 = per.length === 1 ? per[0] : tf.concat(per, 1);
      const alpha = tf.tensor(concatRows(this.alphaLayers), [n, 1, 1, 1, this.tokens]);
      const weighted = tf.mean(tf.sum(tf.mul(maps5, alpha), -1), 1); // [n, h, w]
      const pooled = tf.maxPool(tf.reshape(weighted, [n, s.height, s.width, 1]) as tf.Tensor4D, 3, 1, 'same');
      return tf.div(pooled, tf.max(pooled, [1, 2], true)) as tf.Tensor4D;
    });
  }

  /**
   * Blend mask of the edited prompts, [prompts−1, H, W, 1] float 0/1, from running-sum maps
   * (down maps first, then up, as the official list): `wordMaps` upsampled (nearest) to the latent
   * size and thresholded, each edited prompt's mask OR the source's.
   */
  mask(maps: readonly StoredMap[], latent: MapSize): tf.Tensor4D {
    const n = this.prompts.length;
    return tf.tidy(() => {
      const up = tf.image.resizeNearestNeighbor(
        this.wordMaps(maps, latent),
        [latent.height, latent.width],
        false,
        false,
      );
      const on = tf.greater(up, this.threshold);
      const src = tf.slice(on, [0, 0, 0, 0], [1, latent.height, latent.width, 1]);
      const edits = tf.slice(on, [1, 0, 0, 0], [n - 1, latent.height, latent.width, 1]);
      return tf.cast(tf.logicalOr(src, edits), 'float32') as tf.Tensor4D;
    });
  }

  /** Blends NHWC latents [prompts, H, W, C] with the mask from `maps`; returns new latents. */
  apply(latents: tf.Tensor4D, maps: readonly StoredMap[]): tf.Tensor4D {
    const [b, h, w, c] = latents.shape;
    if (b !== this.prompts.length)
      throw new Error(`LocalBlend: latents hold ${b} images for ${this.prompts.length} prompts`);
    return tf.tidy(() => {
      const mask = this.mask(maps, { height: h, width: w });
      const x0 = tf.slice(latents, [0, 0, 0, 0], [1, h, w, c]);
      const rest = tf.slice(latents, [1, 0, 0, 0], [b - 1, h, w, c]);
      const blended = tf.add(x0, tf.mul(mask, tf.sub(rest, x0)));
      return tf.concat([x0, blended], 0) as tf.Tensor4D;
    });
  }
}
