/**
 * tfjs-prompt-to-prompt: Stable Diffusion 1.x/2.x on TensorFlow.js with Prompt-to-Prompt attention
 * control. This entry point is platform-neutral (Node and browsers): models, the pipeline,
 * schedulers, attention controllers, and model directories read through a `FileStore`. Node's
 * files, PNG and backends are in `tfjs-prompt-to-prompt/node`; the browser's backends in
 * `tfjs-prompt-to-prompt/browser`.
 *
 * ```ts
 * import { AttentionReplace, LocalBlend, HttpFileStore, loadPipeline } from 'tfjs-prompt-to-prompt';
 *
 * const pipe = await loadPipeline(new HttpFileStore('https://example.org/sd15/'));
 * const prompts = ['a cat riding a bicycle', 'a dog riding a bicycle'];
 * const controller = new AttentionReplace({
 *   tokenizer: pipe.tokenizer, prompts, crossReplaceSteps: 0.8, selfReplaceSteps: 0.4,
 *   localBlend: new LocalBlend(pipe.tokenizer, prompts, ['cat', 'dog']),
 * });
 * const { images } = await pipe.edit({ prompts, steps: 50, seed: 8888, scheduler: 'ddim', controller });
 * ```
 * @packageDocumentation
 */

// Images and logging
export {
  imageToUint8,
  psnr,
  sideBySide,
  signedBatchToRgbImages,
  toFloatImage,
  toRgbImage,
  type FloatImage,
  type RgbImage,
} from './util/image.js';
export { cropImage, fitImage, resizeBicubic, type CropOffsets } from './util/resize.js';
export { getLogLevel, setLogLevel, type LogLevel } from './util/log.js';

// Drawing: a bitmap font, lines, labelled grids, plots
export { blankImage, drawLine, setPixel, type Colour } from './draw/canvas.js';
export { drawText, textWidth } from './draw/font.js';
export { imageGrid, mapGrid, type GridOptions, type MapCell } from './draw/grid.js';
export { plotSeries, runningMean, type Series } from './draw/plot.js';

// Files, safetensors, model directories, configs
export { MemoryByteSink, MemoryByteSource, type ByteSink, type ByteSource } from './io/byte-source.js';
export { checkRelative, joinPath, MemoryFileStore, type FileStore } from './io/file-store.js';
export { HttpByteSource, HttpFileStore, type HttpRetryOptions } from './io/http-file-store.js';
export {
  floatTensor,
  SafetensorsError,
  SafetensorsFile,
  writeSafetensors,
  type TensorInfo,
  type TensorToWrite,
} from './io/safetensors.js';
export type { HostValues, StDtype } from './io/dtypes.js';
export { PrefixedWeightSource, SafetensorsWeightSource, type WeightInfo, type WeightSource } from './io/weights.js';
export { type WeightFiles } from './io/weight-files.js';
export {
  CONFIG_FILES,
  MODEL_COMPONENTS,
  ModelDir,
  ModelDirError,
  openModelDir,
  SDXL_COMPONENTS,
  type ConfigComponent,
  type ModelComponent,
  type ModelDirOptions,
  type TokenizerFiles,
  type WeightComponent,
} from './io/model-dir.js';
export { ConfigReader, type JsonObject } from './io/config.js';

// Backends (selection is platform-neutral; the candidates come from ./node or ./browser)
export { currentBackend, selectBackend, type BackendCandidate, type SelectedBackend } from './backend/select.js';
export { countReads, type ReadCounter, type ReadCounts } from './backend/read-count.js';
export { backendTensorBytesLimit, setTensorBytesLimit, tensorBytesLimit } from './backend/gpu-limits.js';

// Layers, weights, the attention seam
export { Module } from './nn/module.js';
export { SegmentTape, type SegmentFn } from './nn/segment-tape.js';
export { Param, type Layout, type Residency } from './nn/param.js';
export { loadWeights, type CheckpointAdapter, type LoadWeightsOptions } from './nn/load-weights.js';
export { Attention, setAttentionSlice, type AttentionOptions, type AttentionPlacement } from './nn/attention.js';
export {
  attentionStrategy,
  setAttentionStrategy,
  type AttentionStrategy,
  type SliceableAttention,
} from './nn/attention-core.js';
export type { AttentionCall, AttentionContext, AttentionController, Place } from './nn/attention-control.js';
export { Linear } from './nn/linear.js';
export { Conv2d } from './nn/conv2d.js';
export { GroupNorm, LayerNorm } from './nn/norm.js';
export { activation, gelu, silu, type ActivationName } from './nn/activations.js';
export { Timesteps, TimestepEmbedding, timestepEmbedding, type SinusoidalOptions } from './nn/embeddings.js';
export { ResnetBlock2D, type ResnetBlock2DOptions } from './nn/resnet.js';
export { Downsample2D, Upsample2D } from './nn/sampling.js';
export { FeedForward, GEGLU } from './nn/feed-forward.js';
export { BasicTransformerBlock, type BasicTransformerBlockOptions } from './nn/transformer-block.js';
export { Transformer2DModel, type Transformer2DOptions } from './nn/transformer.js';

// Models
export {
  ClipTokenizer,
  DEFAULT_MODEL_MAX_LENGTH,
  type ClipTokenizerOptions,
  type PromptTokenizer,
  type TruncationHandler,
  type TruncationInfo,
  type ClipCallOptions,
  type ClipEncoding,
} from './models/clip/tokenizer.js';
export {
  ClipTextModel,
  ClipTextModelWithProjection,
  ClipTextTransformer,
  type ClipTextForwardOptions,
  type ClipTextOutput,
  type ClipTextProjectionOutput,
} from './models/clip/text-model.js';
export { DualClipPromptEncoder, type PooledPromptEmbeddings } from './models/clip/dual-prompt-encoder.js';
export { ClipAttention, ClipEncoderLayer, ClipMlp } from './models/clip/text-layers.js';
export { ClipTextEmbeddings, Embedding } from './models/clip/text-embeddings.js';
export { parseClipTextConfig, type ClipTextConfig } from './models/clip/config.js';
export {
  checkContextLength,
  ClipPromptEncoder,
  type ContextLengthSources,
  type PromptEncodeOptions,
} from './models/clip/prompt-encoder.js';
export { tokenizerOptionsFromFiles } from './models/clip/tokenizer-config.js';
export {
  UNet2DConditionModel,
  type AddedConditioning,
  type TimestepInput,
  type UNetForwardOptions,
  type UNetForwardResult,
} from './models/unet/unet.js';
export {
  parseUNetConfig,
  type DownBlockType,
  type MidBlockType,
  type UNetConfig,
  type UpBlockType,
} from './models/unet/config.js';
export {
  CrossAttnDownBlock2D,
  CrossAttnUpBlock2D,
  DownBlock2D,
  UNetDownBlock,
  UNetMidBlock2DCrossAttn,
  UNetUpBlock,
  UpBlock2D,
  type BlockInputs,
  type CrossAttnSettings,
  type DownBlockOptions,
  type MidBlockOptions,
  type ResnetSettings,
  type UpBlockOptions,
} from './models/unet/blocks.js';
export {
  AutoencoderKL,
  DiagonalGaussian,
  type AutoencoderKLOptions,
  type NoiseSource,
} from './models/vae/autoencoder-kl.js';
export { DEFAULT_VAE_SCALING_FACTOR, parseVaeConfig, type VaeConfig } from './models/vae/config.js';
export {
  DownEncoderBlock2D,
  UpDecoderBlock2D,
  VaeDecoder,
  VaeEncoder,
  VaeMidBlock,
  type DownEncoderBlockOptions,
  type UpDecoderBlockOptions,
  type VaeMidBlockOptions,
} from './models/vae/blocks.js';
export { TorchGenerator } from './models/random.js';
export {
  createScheduler,
  DDIMScheduler,
  DPMSolverMultistepScheduler,
  EulerDiscreteScheduler,
  LMSDiscreteScheduler,
  PNDMScheduler,
  SCHEDULER_CLASSES,
  SCHEDULER_NAMES,
  type Scheduler,
  type SchedulerConfigJson,
  type SchedulerName,
} from './models/schedulers/index.js';
export { BaseScheduler } from './models/schedulers/common.js';
export {
  SchedulerConfigReader,
  type BetaConfig,
  type BetaSchedule,
  type PredictionType,
  type TimestepSpacing,
} from './models/schedulers/config.js';
export type { DpmAlgorithm, DpmSolverType } from './models/schedulers/dpmpp.js';

// Prompt-to-Prompt
export { AttentionStore, STORE_KEYS, type AttentionStoreOptions, type StoredMap, type StoreKey } from './ptp/store.js';
export { AttentionEdit, type AttentionEditOptions } from './ptp/edit.js';
export { AttentionReplace } from './ptp/replace.js';
export { AttentionRefine } from './ptp/refine.js';
export type { RefinementMap } from './ptp/align.js';
export { AttentionReweight, type ReweightOptions } from './ptp/reweight.js';
export { getEqualizer, type EqualizerOptions } from './ptp/equalizer.js';
export { LocalBlend, type LocalBlendOptions } from './ptp/local-blend.js';
export { TimeWordAlpha, type CrossReplaceSteps, type StepBounds } from './ptp/schedule.js';
export { requireWordTokens, splitWords, wordTokenIndices, type WordRef } from './ptp/tokens.js';
export { blendMapSize, type MapSize } from './ptp/resolution.js';
export {
  buildEdit,
  EditSpecError,
  PLAIN_OPTION_NAMES,
  type BuildEditOptions,
  type BuiltEdit,
  type EditMode,
  type EditOptionNames,
  type EditSpec,
  type WordFactor,
} from './ptp/edit-spec.js';
export { parseCross, parseFraction, parseWordFactors, parseWords } from './ptp/edit-args.js';
export { crossAttentionGrid, selfAttentionComponents, tokenLabels, type MapStack } from './ptp/render.js';

// Pipeline
export {
  StableDiffusionPipeline,
  type EditOptions,
  type GenerateOptions,
  type GenerateResult,
  type InversionResult,
  type InvertOptions,
  type PipelineComponents,
  type PromptConditioning,
  type PromptEncoder,
  type NullTextInversionResult,
  type NullTextInvertOptions,
} from './pipeline/pipeline.js';
export {
  nullTextOptimize,
  nullTextSettings,
  type NullTextOptions,
  type NullTextProgress,
  type NullTextResult,
  type NullTextSettings,
} from './pipeline/null-text.js';
export { loadPipeline, modelContextLength, type LoadPipelineOptions } from './pipeline/load.js';
export { checkImageDimension, defaultImageSize, imageSizeRuleOf, type ImageSizeRule } from './pipeline/image-size.js';
export {
  checkRunMemory,
  estimateRunMemory,
  modelRunPlan,
  RUN_DEFAULTS,
  RunMemoryError,
  type ModelRunPlan,
  type RunMemory,
} from './pipeline/run-plan.js';
export {
  checkSizeConditioning,
  sizeTimeIds,
  unetTimeIds,
  type PixelPair,
  type SizeConditioning,
} from './pipeline/size-conditioning.js';
export { wasmHeapBudget } from './backend/wasm-patches.js';
export { nchwToNhwc, nhwcToNchwHost, readHost, type HostTensor } from './pipeline/host-tensor.js';
export type { StepInfo } from './pipeline/sampler.js';
