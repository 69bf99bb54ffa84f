/** A tiny variant of the demo model's architecture, for training tests (32×32 images, 2× VAE). */
import { SHAPES_RECIPE, type ShapesRecipe } from '../../src/shapes/configs.js';

export const TINY_RECIPE: ShapesRecipe = {
  imageSize: 32,
  vae: {
    ...SHAPES_RECIPE.vae,
    block_out_channels: [8, 8],
    down_block_types: ['DownEncoderBlock2D', 'DownEncoderBlock2D'],
    up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D'],
    norm_num_groups: 2,
    sample_size: 32,
  },
  unet: {
    ...SHAPES_RECIPE.unet,
    block_out_channels: [8, 8, 16, 16],
    norm_num_groups: 4,
    attention_head_dim: 2,
    cross_attention_dim: 8,
    sample_size: 16,
  },
  text: {
    ...SHAPES_RECIPE.text,
    hidden_size: 8,
    intermediate_size: 16,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    projection_dim: 8,
  },
};
