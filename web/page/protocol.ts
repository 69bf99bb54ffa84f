/** Messages between the page (main thread) and the model worker, and the settings they carry. */

export const BACKENDS = ['webgl', 'webgpu', 'wasm'] as const;
export type PageBackend = (typeof BACKENDS)[number];

export const MODES = ['auto', 'replace', 'refine', 'reweight'] as const;
export type PageMode = (typeof MODES)[number];

/**
 * An edit's settings as typed on the page (and kept in the URL). Text stays text here: the worker
 * checks it (one error naming the field at fault) with the library's parsers.
 */
export interface PageSettings {
  /** URL of a diffusers directory (relative to the page, or absolute with CORS). */
  model: string;
  backend: PageBackend;
  source: string;
  /** Edited prompts, one per line on the page; none = reweight the source itself. */
  targets: string[];
  mode: PageMode;
  /** `word=factor[,word=factor...]`, or empty. */
  reweight: string;
  /** Local blend words `word[,word...]`, or empty. */
  blend: string;
  /** Fraction of the steps with cross-attention replaced, or per word: `1,dog=0.2`. */
  cross: string;
  /** Fraction of the steps with self-attention replaced. */
  self: string;
  steps: string;
  guidance: string;
  seed: string;
  /** Null-text inversion of an uploaded image: Adam iterations per step at most. */
  inner: string;
}

/** An uploaded image to edit (the source prompt is its caption); `id` changes with every upload. */
export interface PageUpload {
  id: number;
  name: string;
  file: Blob;
}

export type ToWorker =
  | {
      type: 'run';
      settings: PageSettings;
      modelUrl: string;
      wasmPaths: string;
      /** Invert this image (unless the worker holds its inversion) and edit it. */
      upload?: PageUpload;
      /**
       * Int32 flag set to 1 by Cancel (cross-origin isolated pages only): the null-text optimisation
       * runs without yielding to the worker's event loop, so it polls this instead of a message.
       */
      cancelFlag?: SharedArrayBuffer;
    }
  | { type: 'cancel' }
  /** Automation: lose the WebGL context (WEBGL_lose_context) to exercise the context-lost path. */
  | { type: 'lose-gpu-context' };

/** An image for the page: a PNG made in the worker (OffscreenCanvas), or raw RGB where there is none. */
export interface PageImage {
  width: number;
  height: number;
  png?: Blob;
  rgb?: Uint8Array;
}

/** How the run went, shown on the page. */
export interface RunPerf {
  /** Backend description, e.g. "webgl (ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device ...)))". */
  backend: string;
  /** Model download + weight upload, seconds; undefined when the model was already loaded. */
  loadSeconds?: number;
  /** Text encoding and the first step (shader compilation on GPUs). */
  firstStepSeconds: number;
  /** Mean of the steps after the first (the first when there is one step). */
  secondsPerStep: number;
  decodeSeconds: number;
  totalSeconds: number;
  /** How step times are taken: the GPU is waited for without reading tensors back. */
  stepSync: string;
  /** Tensor reads from the backend to the CPU between the start of sampling and the end of its last step. */
  readbacksDuringSteps: number;
  /** Tensor reads in the whole sampling run, decoding included (> 0: the counter sees reads). */
  readbacksTotal: number;
  /** Synchronous reads of tensors (dataSync, arraySync, bufferSync) in the run (an upload's inversion included, to the attention maps): 0. */
  syncReads: number;
  /**
   * The backend's own kernels' synchronous reads in that time (tfjs-wasm's slice and gather view the
   * wasm heap: no transfer; on WebGL and WebGPU each would stall the GPU: 0 there).
   */
  kernelSyncReads: number;
  /** An uploaded image's null-text inversion (absent for generated images). */
  inversion?: InversionPerf;
}

export interface InversionPerf {
  /** Whether the inversion of an earlier run was reused (same image, caption, steps, guidance, iterations). */
  reused: boolean;
  /** DDIM inversion and null-text optimisation seconds (of the run that made it). */
  ddimSeconds: number;
  nullTextSeconds: number;
  /** Adam iterations made, and the most there could be. */
  iterations: number;
  maxIterations: number;
  /** PSNR of the reconstruction (the source image) against the input, dB. */
  psnr: number;
}

/** What a progress message counts: DDIM inversion steps, null-text steps/iterations, sampling steps. */
export type RunPhase = 'inversion' | 'null-text' | 'sampling';

export interface AttentionMaps {
  /** One label per token of the source prompt (start and end tokens included). */
  labels: string[];
  /** One map per label, normalised to its maximum. */
  maps: PageImage[];
  /** All maps in one labelled image (for download). */
  grid: PageImage;
  /** Map size, e.g. "8×8". */
  size: string;
}

export type FromWorker =
  | { type: 'phase'; text: string }
  | { type: 'note'; text: string }
  | { type: 'step'; phase: RunPhase; step: number; steps: number; itPerSec: number; secondsPerStep: number }
  /** One Adam iteration of the null-text optimisation (0-based step and iteration). */
  | { type: 'iteration'; step: number; steps: number; iteration: number; iterations: number; loss: number }
  | {
      type: 'done';
      description: string;
      prompts: string[];
      images: PageImage[];
      attention: AttentionMaps;
      perf: RunPerf;
      /** The uploaded image as the model saw it (cropped and resized), when there was one. */
      input?: PageImage;
    }
  | { type: 'cancelled'; phase: RunPhase; stepsDone: number; steps: number }
  | { type: 'error'; message: string; fatal: boolean };
