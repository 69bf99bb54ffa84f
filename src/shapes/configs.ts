/**
 * The shipped demo model: Stable Diffusion 1.x's architecture with small channels, as the
 * diffusers configuration files of its model directory (diffusers/transformers load them as they
 * are). 128×128 images, a 4× VAE (32×32×4 latents), a UNet with cross-attention at 16×16 and
 * 8×8 (and 4×4 in the middle), and a 3-layer CLIP text encoder of width 64 on the real CLIP
 * tokenizer.
 */

export const SHAPES_IMAGE_SIZE = 128;

export const shapesUnetConfig = {
  _class_name: 'UNet2DConditionModel',
  _diffusers_version: '0.25.0',
  act_fn: 'silu',
  attention_head_dim: 4,
  block_out_channels: [32, 64, 128, 128],
  center_input_sample: false,
  cross_attention_dim: 64,
  down_block_types: ['DownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  downsample_padding: 1,
  flip_sin_to_cos: true,
  freq_shift: 0,
  in_channels: 4,
  layers_per_block: 1,
  mid_block_scale_factor: 1,
  norm_eps: 1e-5,
  norm_num_groups: 8,
  out_channels: 4,
  sample_size: 32,
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'UpBlock2D'],
};

/**
 * `scaling_factor` is set from the trained encoder's latents (1 / their standard deviation).
 * Four channels per group at least: a group norm over a flat colour region keeps only the
 * direction of each group's channel vector, and with two channels per group (SD's 32 groups on
 * these small widths) the colour of a uniform background could not get through at all.
 */
export const shapesVaeConfig = {
  _class_name: 'AutoencoderKL',
  _diffusers_version: '0.25.0',
  act_fn: 'silu',
  block_out_channels: [16, 32, 64],
  down_block_types: ['DownEncoderBlock2D', 'DownEncoderBlock2D', 'DownEncoderBlock2D'],
  in_channels: 3,
  latent_channels: 4,
  layers_per_block: 1,
  norm_num_groups: 4,
  out_channels: 3,
  sample_size: SHAPES_IMAGE_SIZE,
  scaling_factor: 1,
  up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D', 'UpDecoderBlock2D'],
};

/**
 * The text context: the longest caption of the grammar ("a big white star and a small red square
 * on a purple background") is 13 words = 15 tokens with BOS and EOS, so 16 positions hold every
 * caption with one padding token at least, where 77 would leave ~65 padding tokens taking most of the
 * cross-attention mass.
 */
export const SHAPES_TEXT_TOKENS = 16;

export const shapesTextConfig = {
  architectures: ['CLIPTextModel'],
  attention_dropout: 0,
  bos_token_id: 0,
  dropout: 0,
  eos_token_id: 2,
  hidden_act: 'quick_gelu',
  hidden_size: 64,
  initializer_factor: 1,
  initializer_range: 0.02,
  intermediate_size: 256,
  layer_norm_eps: 1e-5,
  max_position_embeddings: SHAPES_TEXT_TOKENS,
  model_type: 'clip_text_model',
  num_attention_heads: 4,
  num_hidden_layers: 3,
  pad_token_id: 1,
  projection_dim: 64,
  torch_dtype: 'float16',
  transformers_version: '4.36.0.dev0',
  vocab_size: 49408,
};

/**
 * DDIM over SD's scaled-linear betas rescaled to zero terminal SNR, v-prediction, trailing spacing
 * (Lin et al. 2023, as SD-2.x's zero-SNR variants): training reaches pure noise at t = 999 and
 * sampling starts there, so no trace of the image's mean colour survives in the starting noise and
 * the background has to come from the caption. (SD's own schedule ends at SNR ≈ 0.005 and its
 * `leading` sampling starts at t = 951, where the per-channel mean of x_t still names a flat
 * background 93 % of the time.) `set_alpha_to_one`: the last step lands on x₀ itself.
 */
export const shapesSchedulerConfig = {
  _class_name: 'DDIMScheduler',
  _diffusers_version: '0.25.0',
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  beta_start: 0.00085,
  clip_sample: false,
  num_train_timesteps: 1000,
  prediction_type: 'v_prediction',
  rescale_betas_zero_snr: true,
  set_alpha_to_one: true,
  steps_offset: 0,
  timestep_spacing: 'trailing',
  trained_betas: null,
};

export const shapesModelIndex = {
  _class_name: 'StableDiffusionPipeline',
  _diffusers_version: '0.25.0',
  feature_extractor: [null, null],
  requires_safety_checker: false,
  safety_checker: [null, null],
  scheduler: ['diffusers', 'DDIMScheduler'],
  text_encoder: ['transformers', 'CLIPTextModel'],
  tokenizer: ['transformers', 'CLIPTokenizer'],
  unet: ['diffusers', 'UNet2DConditionModel'],
  vae: ['diffusers', 'AutoencoderKL'],
};

/** Everything that defines the demo model (tests train tiny variants). */
export interface ShapesRecipe {
  imageSize: number;
  vae: Record<string, unknown>;
  unet: Record<string, unknown>;
  text: Record<string, unknown>;
  /** The noise schedule trained and sampled with (a diffusers scheduler config; default shapesSchedulerConfig). */
  scheduler?: Record<string, unknown>;
  /** UNet training timesteps: density ∝ (t + 1)^power (see sampleTimestep); default 0 = uniform. */
  timestepPower?: number;
  /** min-SNR γ of the loss weights (see minSnrWeights); default 5. */
  minSnrGamma?: number;
  /** Scenes rendered and encoded once at the start of the UNet stage, then drawn from (default 32768). */
  latentPool?: number;
}

export const SHAPES_RECIPE: ShapesRecipe = {
  imageSize: SHAPES_IMAGE_SIZE,
  vae: shapesVaeConfig,
  unet: shapesUnetConfig,
  text: shapesTextConfig,
  scheduler: shapesSchedulerConfig,
  timestepPower: 0,
  minSnrGamma: 5,
  latentPool: 32768,
};
