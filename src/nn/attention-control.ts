/**
 * The controller seam: every attention layer computes probs = softmax(QKᵀ·scale) and, when a
 * controller is set, hands them over with their context before multiplying by V. This is the
 * only thing Prompt-to-Prompt adds to Stable Diffusion.
 */
import type * as tf from '@tensorflow/tfjs-core';

export type Place = 'down' | 'mid' | 'up';

/** Where and when an attention call happens. */
export interface AttentionContext {
  /** Cross-attention (keys from the text encoder) or self-attention. */
  readonly isCross: boolean;
  readonly place: Place;
  /** Index among all controllable attention layers of the model, in forward order. */
  readonly layerIndex: number;
  /** Total number of controllable attention layers in the model. */
  readonly numLayers: number;
  /** down_blocks.i / up_blocks.i index (0 for mid). */
  readonly blockIndex: number;
  /** Module path, e.g. "down_blocks.1.attentions.0.transformer_blocks.0.attn2". */
  readonly name: string;
  /** Denoising step index (0-based); -1 outside a sampling loop. */
  readonly step: number;
  /** Query map height and width (latent resolution of this layer). */
  readonly height: number;
  readonly width: number;
  /**
   * Size of the model's input latents (the UNet sets it; a layer used alone reports its own
   * size). Controllers derive their resolution limits from it: the first attention layer is not
   * at latent resolution in every UNet.
   */
  readonly latent: { readonly height: number; readonly width: number };
  /** Number of queries (height·width) and keys. */
  readonly queries: number;
  readonly keys: number;
  readonly heads: number;
  /** Batch size; probs have batch·heads rows, row = b·heads + h. */
  readonly batch: number;
}

/** A hook on the attention probabilities of every layer. */
export interface AttentionController {
  /**
   * Whether this layer's probabilities are needed. Returning false lets the layer use a faster
   * path that never materialises them; `onAttention` is then not called for that layer.
   * Omitted = always.
   */
  wantsProbs?(ctx: AttentionContext): boolean;
  /**
   * Receives probs [batch·heads, queries, keys] (row b·heads + h) and returns the
   * probabilities to use (the same tensor or a new one of the same shape). Runs inside the
   * layer's tf.tidy: intermediate tensors are freed automatically; tensors kept beyond the
   * call must be tf.keep()-ed by the controller.
   */
  onAttention(probs: tf.Tensor3D, ctx: AttentionContext): tf.Tensor3D;
  /** After each scheduler step with the new latents (NHWC [batch, h, w, 4], as inside the pipeline); may return replacements. */
  onStepEnd?(latents: tf.Tensor4D, step: number): tf.Tensor4D;
  /**
   * Before a sampling run, with its number of denoising steps (the sampler calls it once the
   * scheduler's timesteps are set), so controllers need not be told the step count in advance.
   */
  reset?(numSteps?: number): void;
}

/** Per-call controller state handed down through the model's forward. */
export interface AttentionCall {
  readonly controller?: AttentionController;
  /** Denoising step index; -1 or omitted outside a sampling loop. */
  readonly step?: number;
  /** Size of the model's input latents (set by the UNet). */
  readonly latent?: { readonly height: number; readonly width: number };
}
